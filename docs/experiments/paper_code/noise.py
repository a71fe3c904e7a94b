"""Spread of the cold (and hot) P@5% mean between runs.
project venv: noise.py --a run1.npz run2.npz ... --b run1.npz ...
Per arm: each run's GAUC and P@5% (runkit/metrics.py); mean, sd over runs;
Welch t of the arms; the permutation p of the runs' labels (exact up to
200,000 splits, else over that many random ones); the
per-campaign paired bootstrap of two runs (--pairs). --null: every run
pooled, how often two disjoint sets of 3 runs differ by the gap.
--figures A1,A2,.. B1,B2,..: the same tests on per-run figures.
Project venv: noise.py --a RUN.npz ... --b RUN.npz ..."""
import itertools
import math
import sys

import numpy as np
from scipy import stats

from runkit.metrics import campaign_metrics
from compare import load

MONTE_CARLO = 200000


def per_campaign(path, s):
    d = load(path)[s]
    out = {}
    for aid in sorted(d):
        m = campaign_metrics(d[aid]["label"], d[aid]["score"])
        if m["auc"] is not None:
            out[aid] = (m["auc"], m["precision"])
    return out


def tests(a, b, label):
    a, b = np.asarray(a), np.asarray(b)
    t = stats.ttest_ind(a, b, equal_var=False)
    # permutation test of the difference of means: exact while the splits
    # are few, else over MONTE_CARLO random splits (seeded: the same p twice)
    pooled = np.concatenate([a, b])
    obs = abs(a.mean() - b.mean())
    if math.comb(len(pooled), len(a)) <= MONTE_CARLO:
        splits = itertools.combinations(range(len(pooled)), len(a))
    else:
        rng = np.random.default_rng(0)
        splits = (rng.permutation(len(pooled))[:len(a)] for _ in range(MONTE_CARLO))
    count = total = 0
    for idx in splits:
        mask = np.zeros(len(pooled), bool)
        mask[list(idx)] = True
        total += 1
        count += abs(pooled[mask].mean() - pooled[~mask].mean()) >= obs - 1e-12
    print("%s: A %.4f +- %.4f (n %d)  B %.4f +- %.4f (n %d)  diff %.4f  Welch t %.2f p %.3f  "
          "permutation p %.3f (%d/%d)" % (label, a.mean(), a.std(ddof=1), len(a), b.mean(),
                                          b.std(ddof=1), len(b), a.mean() - b.mean(),
                                          t.statistic, t.pvalue, count / total, count, total))


def bootstrap(pa, pb, reps=20000, seed=0):
    """Paired bootstrap over campaigns of mean(P_a - P_b)."""
    aids = sorted(set(pa) & set(pb))
    d = np.array([pa[x][1] - pb[x][1] for x in aids])
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), (reps, len(d)))].mean(1)
    return d.mean(), np.percentile(boots, [2.5, 97.5]), d.std(ddof=1) / np.sqrt(len(d))


def main():
    if "--null" in sys.argv:
        null_splits(sys.argv[sys.argv.index("--null") + 1:])
        null_splits(sys.argv[sys.argv.index("--null") + 1:], s="hot", gap=0.010)
        return
    if "--figures" in sys.argv:
        # per-run figures given by hand (runs whose scores were not kept)
        i = sys.argv.index("--figures")
        a, b = (np.array(x.split(","), float) for x in sys.argv[i + 1:i + 3])
        tests(a, b, "figures (A, B)")
        return
    ia, ib = sys.argv.index("--a"), sys.argv.index("--b")
    A = sys.argv[ia + 1:ib]
    B = sys.argv[ib + 1:]
    for s in ("cold", "hot"):
        ca = [per_campaign(f, s) for f in A]
        cb = [per_campaign(f, s) for f in B]
        pa = [np.mean([v[1] for v in c.values()]) for c in ca]
        pb = [np.mean([v[1] for v in c.values()]) for c in cb]
        ga = [np.mean([v[0] for v in c.values()]) for c in ca]
        gb = [np.mean([v[0] for v in c.values()]) for c in cb]
        print("%s per run P@5%%: A %s | B %s" % (s, " ".join("%.4f" % x for x in pa),
                                                " ".join("%.4f" % x for x in pb)))
        print("%s per run GAUC:  A %s | B %s" % (s, " ".join("%.4f" % x for x in ga),
                                                " ".join("%.4f" % x for x in gb)))
        tests(pa, pb, "%s P@5%%" % s)
        tests(ga, gb, "%s GAUC" % s)
        allruns = ca + cb
        names = A + B
        diffs = []
        for i, j in itertools.combinations(range(len(allruns)), 2):
            m, ci, se = bootstrap(allruns[i], allruns[j])
            diffs.append(m)
            same = (i < len(A)) == (j < len(A))
            if "--pairs" in sys.argv:
                print("  %s P@5%% %s - %s: %+.4f  95%% paired-bootstrap CI [%+.4f, %+.4f]  se %.4f %s" % (
                    s, names[i].split("/")[-1], names[j].split("/")[-1], m, ci[0], ci[1], se,
                    "(same arm)" if same else ""))
        print("  %s: |run-to-run difference of P@5%% mean| over %d pairs: median %.4f max %.4f" % (
            s, len(diffs), np.median(np.abs(diffs)), np.max(np.abs(diffs))))


def null_splits(paths, gap=0.034, s="cold", seed=0, reps=200000):
    """All runs pooled (the two codes are one computation): the single-run
    sd of the P@5% mean, and how often two disjoint sets of 3 runs differ
    by at least ``gap`` (random disjoint splits)."""
    p = np.array([np.mean([v[1] for v in per_campaign(f, s).values()]) for f in paths])
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        idx = rng.permutation(len(p))[:6]
        hits += abs(p[idx[:3]].mean() - p[idx[3:]].mean()) >= gap - 1e-12
    sd = p.std(ddof=1)
    z = gap / (sd * np.sqrt(2 / 3))
    print("%s: %d runs pooled, P@5%% mean %.4f, single-run sd %.4f; 3-vs-3 gap >= %.3f in %.4f of "
          "random splits; normal approx z %.2f two-sided p %.4f" % (
              s, len(p), p.mean(), sd, gap, hits / reps, z, 2 * stats.norm.sf(z)))


if __name__ == "__main__":
    main()
