"""The evaluation of one test set: from each campaign's candidates' labels
and scores to the per-campaign metrics and the set's summary, as the
meta-test reports them (tools/infer_meta.py) and the baselines are scored
(baselines/logistic.py)."""
import time

import numpy as np

from runkit.metrics import campaign_metrics, summarize

# the meta-test's test sets and the config keys naming their folders
TEST_SETS = (("hot", "runner.test_data_dir"),
             ("cold", "runner.test_cold_data_dir"))


def evaluate(campaigns, started=None):
    """``campaigns``: ``(aid, labels, scores, fields)`` per campaign, in
    report order; ``fields`` (a dict) go into the campaign's row between
    its aid and its metrics. Returns ``{"summary": ..., "campaigns":
    rows}`` (runkit.metrics.campaign_metrics per row, summarize over the
    set); with ``started`` (a time.time() value) the summary also holds
    the seconds since then."""
    rows, labels, scores = [], [], []
    for aid, y, pred, fields in campaigns:
        row = {"aid": int(aid)}
        row.update(fields)
        row.update(campaign_metrics(y, pred))
        rows.append(row)
        labels.append(y)
        scores.append(np.asarray(pred))
    summary = summarize(rows, labels, scores)
    if started is not None:
        summary["seconds"] = round(time.time() - started, 3)
    return {"summary": summary, "campaigns": rows}
