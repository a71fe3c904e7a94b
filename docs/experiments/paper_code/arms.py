"""Two arms of project runs from their meta-test results (the
``infer_result.json`` that tools/infer_meta.py writes into each run
folder): every run's hot and cold GAUC and P@5%, each arm's mean and
spread, the unpaired tests of noise.py, and with --paired the per-seed
differences (B minus A, runs matched by runner.seed), e.g. the project's
own start against the paper's start on the same draws. An argument that
ends in .npz is a run of the paper's code instead (the scores that
paper_metatest.py --out writes, named ..._SEED.npz), its figures computed
as noise.py computes them.
Project venv: arms.py --a RUN ... --b RUN ... [--paired]"""
import json
import os
import re
import sys

import numpy as np
from scipy import stats

from noise import per_campaign, tests

FIGURES = (("cold", "precision_at_5pct", "cold P@5%"),
           ("cold", "gauc", "cold GAUC"),
           ("hot", "precision_at_5pct", "hot P@5%"),
           ("hot", "gauc", "hot GAUC"))


def figures(run):
    if run.endswith(".npz"):
        return npz_figures(run)
    with open(os.path.join(run, "infer_result.json")) as f:
        doc = json.load(f)
    last = doc["epochs"][max(doc["epochs"], key=int)]
    row = {label: last[s]["summary"][key] for s, key, label in FIGURES}
    row["seed"] = doc["config"]["runner.seed"]
    return row


def npz_figures(path):
    row = {}
    for s, key, label in FIGURES:
        at = 1 if key == "precision_at_5pct" else 0
        row[label] = float(np.mean([v[at] for v in per_campaign(path, s).values()]))
    row["seed"] = int(re.findall(r"(\d+)\.npz$", path)[0])
    return row


def main(argv):
    ia, ib = argv.index("--a"), argv.index("--b")
    a = [figures(d) for d in argv[ia + 1:ib] if not d.startswith("--")]
    b = [figures(d) for d in argv[ib + 1:] if not d.startswith("--")]
    for name, arm in (("A", a), ("B", b)):
        for r in arm:
            print("%s seed %d  " % (name, r["seed"]) + "  ".join(
                "%s %.4f" % (label, r[label]) for _, _, label in FIGURES))
    for _, _, label in FIGURES:
        tests([r[label] for r in a], [r[label] for r in b], label)
    if "--paired" not in argv:
        return
    by_seed = {r["seed"]: r for r in a}
    pairs = [(by_seed[r["seed"]], r) for r in b if r["seed"] in by_seed]
    for _, _, label in FIGURES:
        d = np.array([y[label] - x[label] for x, y in pairs])
        t = stats.ttest_1samp(d, 0.0) if len(d) > 1 else None
        print("paired %s, B - A over %d seeds: %s | mean %+.4f sd %.4f, "
              "B higher on %d, paired t p %s" % (
                  label, len(d), " ".join("%+.3f" % x for x in d), d.mean(),
                  d.std(ddof=1) if len(d) > 1 else 0.0, int((d > 0).sum()),
                  "%.3f" % t.pvalue if t else "-"))


if __name__ == "__main__":
    main(sys.argv[1:])
