"""Generated data sets on disk: the stage files of one spec and seed, in
the folders the configs read, for the sample data, tests and benchmarks.

A folder holds ``train/train_stage1.pkl``, ``<hot>/<hot>_stage{1,2}.pkl``
(hot campaigns; ``<hot>`` is ``test`` for the sample data under data/,
which config.yaml reads, and ``test_hot`` for the benchmarks' data), ``test_cold/test_cold_stage{1,2}.pkl`` and the
``max_idxs.yaml`` that ``max_idxs: auto`` reads.
"""
import dataclasses
import json
import os
import shutil
import time

import numpy as np

from dataio.frames import arrays_to_frame, write_pickle
from dataio.vocabulary import MAX_IDXS_FILE, yaml_text
from dataio.atomic import write_text
from synthetic import generator

MARKER = "spec.json"


def layout(hot="test"):
    """Each stage's file, relative to the data set's folder."""
    return {"train_stage1": "train/train_stage1.pkl",
            "test_hot_stage1": "%s/%s_stage1.pkl" % (hot, hot),
            "test_hot_stage2": "%s/%s_stage2.pkl" % (hot, hot),
            "test_cold_stage1": "test_cold/test_cold_stage1.pkl",
            "test_cold_stage2": "test_cold/test_cold_stage2.pkl"}


def write_stages(stages, out, spec, hot="test", list_cells=True):
    """Write ``stages`` (``generator.generate``'s arrays) under ``out`` and
    the spec's ``max_idxs.yaml``; each stage's path. ``list_cells``: see
    ``dataio.frames.arrays_to_frame`` (False: int64 arrays, as the
    released files)."""
    paths = {}
    for name, arrays in stages.items():
        path = os.path.join(out, layout(hot)[name])
        write_pickle(arrays_to_frame(pad_ids=generator.pad_ids(spec),
                                     list_cells=list_cells, **arrays), path)
        paths[name] = path
    write_text(os.path.join(out, MAX_IDXS_FILE), yaml_text(spec.max_idxs()))
    return paths


def make_data(folder, spec, seed, list_cells=True, hot="test_hot"):
    """The stage files of ``spec`` and ``seed`` under ``folder``, reused
    when its ``spec.json`` says they are these. Returns ``(stats,
    reused)``: the oracle GAUC of the test sets, the generation's seconds
    and each stage's :func:`describe`.

    Only a folder this function wrote (one with ``spec.json``) is replaced:
    any other non-empty folder is refused with SystemExit."""
    marker = os.path.join(folder, MARKER)
    wanted = {"spec": dataclasses.asdict(spec), "seed": seed}
    wanted = json.loads(json.dumps(wanted))  # tuples -> lists
    if os.path.exists(marker):
        with open(marker) as f:
            found = json.load(f)
        if found.get("generated") == wanted:
            return found["stats"], True
    elif os.path.isdir(folder) and os.listdir(folder):
        raise SystemExit("%s is not empty and holds no benchmark data "
                         "(no spec.json): choose another --data or --out" %
                         folder)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    start = time.perf_counter()
    stages = generator.generate(spec, seed, probabilities=True)
    oracle = {name: oracle_gauc(stages[name]) for name in
              ("test_hot_stage2", "test_cold_stage2") if name in stages}
    for arrays in stages.values():
        del arrays["p"]
    write_stages(stages, folder, spec, hot, list_cells)
    stats = {"oracle_gauc": oracle,
             "generate_s": round(time.perf_counter() - start, 1)}
    stats.update({name: describe(arrays) for name, arrays in stages.items()})
    write_text(marker, json.dumps({"generated": wanted, "stats": stats},
                                  indent=1))
    return stats, False


def describe(arrays):
    """Rows, campaigns, positive rate, and min/median/max rows and
    positives per campaign of one stage."""
    aids, rows = np.unique(arrays["aid"], return_counts=True)
    pos = np.array([arrays["label"][arrays["aid"] == a].sum() for a in aids])
    return {"rows": int(len(arrays["label"])),
            "campaigns": int(len(aids)),
            "positive_rate": round(float(arrays["label"].mean()), 4),
            "rows_per_campaign": [int(rows.min()), int(np.median(rows)),
                                  int(rows.max())],
            "positives_per_campaign": [int(pos.min()), int(np.median(pos)),
                                       int(pos.max())]}


def oracle_gauc(arrays):
    """GAUC of the generator's own probabilities: the ceiling of any model."""
    from runkit.metrics import campaign_metrics
    aucs = [campaign_metrics(arrays["label"][arrays["aid"] == a],
                             arrays["p"][arrays["aid"] == a])["auc"]
            for a in np.unique(arrays["aid"])]
    aucs = [a for a in aucs if a is not None]
    return round(float(np.mean(aucs)), 4) if aucs else None


# The speed and scaling benchmarks' data: the released format at a chosen
# size, with the vocabularies given (the full data's, so that the tables
# have their real sizes), or tiny ones for a smoke run.
SMOKE_MAX_IDXS = [[8, 2, 40, 5, 7, 2, 1], [40, 30, 12, 4000, 2000, 500, 500],
                  [78, 137, 14, 39, 32, 3]]


def sized_spec(rows, campaigns, hot, max_idxs, smoke=False):
    """A spec of about ``rows`` training rows over ``campaigns`` campaigns
    and ``hot`` hot test campaigns (no cold ones)."""
    maxima = SMOKE_MAX_IDXS if smoke else max_idxs
    median = max(rows // campaigns // 2, 8)
    return generator.SynthSpec(
        static_max=tuple(maxima[0]), dynamic_max=tuple(maxima[1]),
        ad_max=tuple(maxima[2]), n_users=min(max(rows, 2000), 1000000),
        n_categories=8, n_train=campaigns,
        train_rows_median=median, train_rows_total=rows,
        train_rows_range=(max(median // 8, 4), median * 12),
        n_hot=hot, hot_seeds=(2000, 8000) if not smoke else (100, 300),
        n_cold=0, candidates=3000 if not smoke else 200)


def make_sized_data(folder, rows, campaigns, hot, max_idxs, smoke=False,
                    seed=7):
    """:func:`make_data` of a :func:`sized_spec`, pickled as the released
    files are (the speed and scaling benchmarks time their loading); the
    spec. Says when it generated them."""
    spec = sized_spec(rows, campaigns, hot, max_idxs, smoke)
    stats, reused = make_data(folder, spec, seed, list_cells=False)
    if not reused:
        print("generated %s in %.0f s" % (folder, stats["generate_s"]),
              flush=True)
    return spec
