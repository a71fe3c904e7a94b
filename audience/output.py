"""The files of an expansion run, each written atomically:

    DIR/<aid>/audience.csv   uid,score,rank,percentile: the top slice, best first
    DIR/<aid>/scores.csv     every candidate scored (uid,score[,label])
    DIR/summary.json         per campaign: sizes, score quantiles, seconds,
                             and with labelled candidates AUC, base rate and
                             the reach curve

``percentile`` is the share of the campaign's candidates scored at least as
high, in percent (1.0: within the best 1 %).
"""
import json
import logging
import os
import shutil

import numpy as np

from runkit.atomic import temporary_folder, write_text
from runkit.cli import Refused

logger = logging.getLogger("metaheac")


def csv_text(columns, rows):
    lines = [",".join(columns)]
    lines += [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


def audience_csv(expansion):
    top = expansion.order[:expansion.audience_size]
    n = len(expansion.score)
    rows = ((str(expansion.uid[i]), "%.6f" % expansion.score[i], str(rank),
             "%.4f" % (100.0 * rank / n)) for rank, i in enumerate(top, 1))
    return csv_text(("uid", "score", "rank", "percentile"), rows)


def scores_csv(uid, score, label=None):
    columns = ("uid", "score") + (("label", ) if label is not None else ())
    rows = ((str(u), "%.6f" % s) + ((str(int(label[i])), ) if label is not None
                                    else ())
            for i, (u, s) in enumerate(zip(uid, score)))
    return csv_text(columns, rows)


class OutputDir:
    """An output folder filled under a temporary name and renamed into place
    at the end, so a killed run never leaves a partial DIR, and an existing
    DIR is refused (nothing touched) unless ``overwrite``, in which case
    the old one is replaced only once the new one is complete."""

    def __init__(self, path, overwrite=False):
        self.path = os.path.abspath(path)
        if os.path.exists(self.path) and not overwrite:
            raise Refused("%s exists: choose another --out, or pass "
                          "--overwrite to replace it" % self.path)
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)
        prefix = ".%s.tmp-" % os.path.basename(self.path)
        for name in os.listdir(parent):   # left by an earlier killed run
            if name.startswith(prefix):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
                logger.info("removed %s, left by an interrupted run",
                            os.path.join(parent, name))
        self.tmp = temporary_folder(parent, prefix)

    def write(self, relative, text):
        write_text(os.path.join(self.tmp, relative), text)

    def write_expansion(self, expansion, all_scores=True):
        folder = str(expansion.aid)
        self.write(os.path.join(folder, "audience.csv"), audience_csv(expansion))
        if all_scores:
            self.write(os.path.join(folder, "scores.csv"),
                       scores_csv(expansion.uid, expansion.score,
                                  expansion.label))

    def commit(self, summary, name="summary.json"):
        """Write the summary document and put the folder in place."""
        self.write(name, json.dumps(summary, indent=1))
        old = None
        if os.path.exists(self.path):
            old = self.tmp + ".old"
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        if old:
            shutil.rmtree(old)
        return self.path

    def abandon(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def summary_document(config, expansions, skipped, top, extra=None):
    doc = {"top": top, "min_seeds": config.get("expand.min_seeds"),
           "negative_ratio": config.get("expand.negative_ratio"),
           "campaigns": [e.summary for e in expansions], "skipped": skipped}
    lifts = [r["lift"] for e in expansions for r in e.summary.get("reach", ())
             if r["top"] == 0.05 and r["lift"] is not None]
    if lifts:
        doc["mean_lift_top_5pct"] = float(np.mean(lifts))
    doc.update(extra or {})
    return doc
