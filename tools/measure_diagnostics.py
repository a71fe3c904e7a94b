"""Does the seed diagnostics' expected AUC track the realised one? Expand
labelled test campaigns (form 1: stage-1 seeds with labels, stage-2
candidates with labels) with ``expand.diagnose`` on, and compare each
campaign's cross-validated AUC with the AUC its audience realised on the
candidates' labels; time the same expansion with diagnostics off.

    python tools/measure_diagnostics.py -m config.yaml \\
        -o expand.checkpoint=MODEL/0 --sets data/test data/test_cold \\
        [--unlabelled-seeds] [--json out.json]
    python tools/measure_diagnostics.py --null 60 150
    python tools/measure_diagnostics.py -m config_big.yaml --cost 500 2000

``--null N ...``: how often the interval leaves 0.5 out when the seeds'
labels are independent of their features (200 draws of N seeds, the
seeds' logistic regression alone on the diagnostics' folds), for the
plain t interval over folds and the corrected one the diagnostics use.
``--cost N ...``: seconds of one campaign's fine-tuning and scoring of
50 000 candidates, and of its diagnostics, at the config's model size
(random weights and ids), for N positive seeds and
``expand.negative_ratio`` drawn negatives each.

``-m`` defaults to the project's config.yaml.

``--unlabelled-seeds`` drops the seeds' labels and keeps their positives
only, so the CV's negatives are the drawn ones (the converter-list case).
Prints per campaign: seeds, expected AUC [interval], the verdict
(``distinctive``: yes, no, or ? for too few seeds to judge), realised AUC,
seconds with and without; then the mean absolute difference, how many
campaigns got each verdict, how many whose audience realised an AUC of at
least 0.7 were called not distinctive (``good_called_not``: the goal is
none), Spearman's rank
correlation across campaigns and how many realised AUCs fall inside the
interval. The realised AUC is itself a sample (a few hundred candidates,
a few dozen positives): ``noise_floor`` is the mean absolute difference
that its sampling error alone would give (sqrt(2/pi) times its
Hanley-McNeil standard error), the least any expected AUC could reach.
"""
import glob
import json
import os
import sys
import time

try:
    from runkit import runtime  # noqa: F401
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--null", nargs="+", type=int, default=[],
                        help="seed counts of the null-coverage check")
    parser.add_argument("--cost", nargs="+", type=int, default=[],
                        help="positive seed counts of the cost check")
    parser.add_argument("--sets", nargs="+", default=[],
                        help="folders each holding *stage1.pkl and "
                        "*stage2.pkl (labelled)")
    parser.add_argument("--unlabelled-seeds", action="store_true",
                        help="keep the positive seeds only, without labels")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip the expansion without diagnostics (its "
                        "seconds and the same-scores check): about a fifth "
                        "less time")
    parser.add_argument("--json", help="write the rows here")


def stage_files(folder):
    found = [sorted(glob.glob(os.path.join(folder, "*stage%d.pkl" % i)))
             for i in (1, 2)]
    if not all(len(f) == 1 for f in found):
        raise ValueError("%s must hold one *stage1.pkl and one *stage2.pkl"
                         % folder)
    return found[0][0], found[1][0]


def campaigns(seeds_path, cands_path, config, unlabelled):
    from audience import sources
    seeds = sources.read_frame(seeds_path)
    if unlabelled:
        seeds = seeds[seeds["label"] == 1].drop(columns="label")
    return list(sources.frame_campaigns(
        seeds, sources.read_frame(cands_path), config,
        (seeds_path, cands_path)))


def auc_se(auc, positives, negatives):
    """Hanley and McNeil's (1982) standard error of an AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    return ((auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) +
             (negatives - 1) * (q2 - auc * auc)) /
            float(positives * negatives)) ** 0.5


def expand_timed(config, items, model, diagnose):
    from audience.expansion import expand
    config = config.with_overrides({"expand.diagnose": diagnose})
    start = time.perf_counter()
    results, skipped = expand(config, items, 0.05, *model)
    return results, skipped, time.perf_counter() - start


def null_coverage(config, sizes, draws=200):
    import numpy as np
    from scipy.stats import t as student_t
    from audience import diagnostics
    from adaptation import campaign_model
    from adaptation.seed_regression import SeedRegression
    from dataio.schema import IdMaxima
    from synthetic.inputs import SMALL_MAX_IDXS, random_inputs
    from sklearn.metrics import roc_auc_score
    from dataio.holdout import stratified_folds
    maxima = IdMaxima.from_config(SMALL_MAX_IDXS)
    k = config.get("expand.diagnose_folds")
    c = config.get("runner.infer_seed_c")
    for n in sizes:
        plain = corrected = 0
        for draw in range(draws):
            rng = np.random.default_rng(draw)
            x = random_inputs(rng, n)
            y = (rng.random(n) < 0.3).astype(np.float32)
            aucs = []
            for fold in stratified_folds(rng, y, k):
                rest = np.setdiff1d(np.arange(n), fold)
                aucs.append(roc_auc_score(y[fold], SeedRegression.fit(
                    maxima, [a[rest] for a in x], y[rest], c).logits(
                        [a[fold] for a in x])))
            mean, (lo, hi) = diagnostics.t_interval(aucs)
            half = student_t.ppf(0.975, k - 1) * np.std(aucs, ddof=1) / \
                np.sqrt(k)
            plain += abs(mean - 0.5) > half
            corrected += not lo <= 0.5 <= hi
        print("%d seeds, %d draws of independent labels: 0.5 left out by "
              "the plain t interval %.1f %%, by the corrected one %.1f %%"
              % (n, draws, 100.0 * plain / draws, 100.0 * corrected / draws),
              flush=True)


def cost(config, counts, candidates=50000):
    import numpy as np
    from audience import diagnostics
    from adaptation import campaign_model
    from adaptation.seed_regression import SeedRegression
    from dataio.campaign import Campaign
    from dygraph_model import DygraphModel
    from synthetic.inputs import random_inputs
    from tuning import choice
    config, _ = choice.resolved(config, None, announce=False)
    maxima = config.get("hyper_parameters.max_idxs")
    model_class = DygraphModel()
    model = model_class.create_model(config)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    cand = random_inputs(rng, candidates, maxima, min_length=1)
    ratio = config.get("expand.negative_ratio")
    for seeds in counts:
        n = seeds + int(round(ratio * seeds))
        x = random_inputs(rng, n, maxima, min_length=1)
        y = np.zeros(n, np.float32)
        y[:seeds] = 1
        start = time.perf_counter()
        campaign_model.campaign_scores(model_class, model, init, Campaign(
            1, x, np.arange(n), y, cand, np.arange(len(cand[0]))), config,
            np.random.default_rng(1))
        expand_s = time.perf_counter() - start
        start = time.perf_counter()
        diagnostics.diagnose(model_class, model, init, 1, x, y, config,
                             drawn=True)
        print("%d seeds + %d drawn negatives: fine-tune and score %d "
              "candidates %.1f s, diagnostics %.1f s" % (
                  seeds, n - seeds, candidates, expand_s,
                  time.perf_counter() - start), flush=True)


def run(config, args):
    import numpy as np
    if args.null or args.cost:
        if args.null:
            null_coverage(config, args.null)
        if args.cost:
            cost(config, args.cost)
        if not args.sets:
            return
    from scipy.stats import spearmanr
    from audience.expansion import load_model
    config, *model = load_model(config)
    rows = []
    for folder in args.sets:
        seeds_path, cands_path = stage_files(folder)
        items = campaigns(seeds_path, cands_path, config,
                          args.unlabelled_seeds)
        with_d, _, t_with = expand_timed(config, items, model, True)
        without, _, t_without = ([], None, float("nan")) if \
            args.no_timing else expand_timed(config, items, model, False)
        plain = {e.aid: e for e in without}
        for e in with_d:
            d = e.summary["diagnostics"]
            same = None if args.no_timing else \
                bool(np.array_equal(e.score, plain[e.aid].score))
            rows.append({
                "set": os.path.basename(os.path.normpath(folder)),
                "aid": e.aid, "seeds": e.summary["seeds"],
                "seed_positives": e.summary["seed_positives"],
                "expected_auc": d["auc"], "interval": d["auc_interval"],
                "realised_auc": e.summary.get("auc"),
                "expected_p5": (d["precision_at"] or {}).get("5"),
                "realised_p5": next((r["precision"] for r in
                                     e.summary.get("reach", ())
                                     if r["top_fraction"] == 0.05), None),
                "warning": d.get("warning"),
                "distinctive": d.get("distinctive"),
                "realised_se": None if e.summary.get("auc") is None else
                auc_se(e.summary["auc"], int(e.label.sum()),
                       int(len(e.label) - e.label.sum())),
                "seconds_with": e.summary["seconds"],
                "seconds_without": plain[e.aid].summary["seconds"]
                if e.aid in plain else float("nan"),
                "scores_unchanged": same})
        print("%s: %d campaigns, %.2f s with diagnostics, %.2f s without"
              % (folder, len(with_d), t_with, t_without), flush=True)
    print("%-10s %5s %6s %6s  %-15s %3s %8s %6s %6s %7s %7s" % (
        "set", "aid", "seeds", "pos", "expected [95%]", "ok?", "realised",
        "eP@5", "rP@5", "s with", "s w/o"))
    for r in rows:
        print("%-10s %5d %6d %6d  %.3f [%.2f,%.2f] %3s %8s %6s %6s %7.3f "
              "%7.3f%s"
              % (r["set"], r["aid"], r["seeds"], r["seed_positives"],
                 r["expected_auc"] if r["expected_auc"] is not None
                 else float("nan"),
                 *(r["interval"] or (float("nan"), float("nan"))),
                 {True: "yes", False: "no"}.get(r["distinctive"], "?"),
                 "%.3f" % r["realised_auc"] if r["realised_auc"] is not None
                 else "n/a",
                 "%.3f" % r["expected_p5"] if r["expected_p5"] is not None
                 else "n/a",
                 "%.3f" % r["realised_p5"] if r["realised_p5"] is not None
                 else "n/a",
                 r["seconds_with"], r["seconds_without"],
                 "" if r["scores_unchanged"] is not False
                 else "  SCORES DIFFER"))
    pairs = [(r["expected_auc"], r["realised_auc"]) for r in rows
             if r["expected_auc"] is not None and r["realised_auc"] is not None]
    summary = {"campaigns": len(rows), "compared": len(pairs),
               "distinctive": sum(r["distinctive"] is True for r in rows),
               "not_distinctive": sum(r["distinctive"] is False
                                      for r in rows),
               "too_few_to_judge": sum(r["distinctive"] is None
                                       for r in rows),
               "realised_at_least_0.7": sum(
                   (r["realised_auc"] or 0) >= 0.7 for r in rows),
               "good_called_not": sum(
                   (r["realised_auc"] or 0) >= 0.7 and
                   r["distinctive"] is False for r in rows)}
    if pairs:
        e, a = np.array(pairs).T
        inside = sum(lo <= r["realised_auc"] <= hi for r in rows
                     if r["interval"] and r["realised_auc"] is not None
                     for lo, hi in [r["interval"]])
        summary.update(
            mean_abs_diff=float(np.mean(np.abs(e - a))),
            max_abs_diff=float(np.max(np.abs(e - a))),
            mean_diff=float(np.mean(e - a)),
            spearman=float(spearmanr(e, a).correlation)
            if len(pairs) > 2 else None,
            inside_interval=int(inside),
            noise_floor=float(np.sqrt(2 / np.pi) * np.mean(
                [r["realised_se"] for r in rows
                 if r["expected_auc"] is not None and
                 r["realised_auc"] is not None])),
            seconds_with=float(np.mean([r["seconds_with"] for r in rows])),
            seconds_without=float(np.mean([r["seconds_without"]
                                           for r in rows])))
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "summary": summary}, f, indent=1)


DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              os.pardir, "config.yaml")


def with_config(argv):
    """``argv`` with ``-m`` the project's config.yaml when it names none:
    the measurements need no other."""
    if any(a in ("-m", "--config_yaml") or a.startswith("--config_yaml=")
           for a in argv):
        return list(argv)
    return ["-m", os.path.normpath(DEFAULT_CONFIG)] + list(argv)


def main(argv=None):
    argv = with_config(sys.argv[1:] if argv is None else argv)
    return cli.run("seed diagnostics against realised AUC", run, argv,
                   add_arguments)


if __name__ == "__main__":
    sys.exit(main())
