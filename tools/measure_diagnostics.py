"""Does the seed diagnostics' expected AUC track the realised one? Expand
labelled test campaigns (form 1: stage-1 seeds with labels, stage-2
candidates with labels) with ``expand.diagnose`` on, and compare each
campaign's cross-validated AUC with the AUC its audience realised on the
candidates' labels; time the same expansion with diagnostics off.

    python tools/measure_diagnostics.py -m config.yaml \\
        -o expand.checkpoint=MODEL/0 --sets data/test data/test_cold \\
        [--unlabelled-seeds] [--json out.json]

``--unlabelled-seeds`` drops the seeds' labels and keeps their positives
only, so the CV's negatives are the drawn ones (the converter-list case).
Prints per campaign: seeds, expected AUC [interval], realised AUC, seconds
with and without; then the mean absolute difference, Spearman's rank
correlation across campaigns and how many realised AUCs fall inside the
interval.
"""
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runkit import cli  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--sets", nargs="+", required=True,
                        help="folders each holding *stage1.pkl and "
                        "*stage2.pkl (labelled)")
    parser.add_argument("--unlabelled-seeds", action="store_true",
                        help="keep the positive seeds only, without labels")
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


def expand_timed(config, items, model, diagnose):
    from audience.expansion import expand
    config = dict(config)
    config["expand.diagnose"] = diagnose
    start = time.perf_counter()
    results, skipped = expand(config, items, 0.05, *model)
    return results, skipped, time.perf_counter() - start


def run(config, args):
    import numpy as np
    from scipy.stats import spearmanr
    from audience.expansion import load_model
    model = load_model(config)
    rows = []
    for folder in args.sets:
        seeds_path, cands_path = stage_files(folder)
        items = campaigns(seeds_path, cands_path, config,
                          args.unlabelled_seeds)
        with_d, _, t_with = expand_timed(config, items, model, True)
        without, _, t_without = expand_timed(config, items, model, False)
        plain = {e.aid: e for e in without}
        for e in with_d:
            d = e.summary["diagnostics"]
            same = np.array_equal(e.score, plain[e.aid].score)
            rows.append({
                "set": os.path.basename(os.path.normpath(folder)),
                "aid": e.aid, "seeds": e.summary["seeds"],
                "seed_positives": e.summary["seed_positives"],
                "expected_auc": d["auc"], "interval": d["auc_interval"],
                "realised_auc": e.summary.get("auc"),
                "expected_p5": (d["precision_at"] or {}).get("5"),
                "realised_p5": next((r["precision"] for r in
                                     e.summary.get("reach", ())
                                     if r["top"] == 0.05), None),
                "warning": d.get("warning"),
                "seconds_with": e.summary["seconds"],
                "seconds_without": plain[e.aid].summary["seconds"],
                "scores_unchanged": bool(same)})
        print("%s: %d campaigns, %.2f s with diagnostics, %.2f s without"
              % (folder, len(with_d), t_with, t_without), flush=True)
    print("%-10s %5s %6s %6s  %-15s %8s %6s %6s %7s %7s" % (
        "set", "aid", "seeds", "pos", "expected [95%]", "realised",
        "eP@5", "rP@5", "s with", "s w/o"))
    for r in rows:
        print("%-10s %5d %6d %6d  %.3f [%.2f,%.2f] %8s %6s %6s %7.3f %7.3f%s"
              % (r["set"], r["aid"], r["seeds"], r["seed_positives"],
                 r["expected_auc"] if r["expected_auc"] is not None
                 else float("nan"),
                 *(r["interval"] or (float("nan"), float("nan"))),
                 "%.3f" % r["realised_auc"] if r["realised_auc"] is not None
                 else "n/a",
                 "%.3f" % r["expected_p5"] if r["expected_p5"] is not None
                 else "n/a",
                 "%.3f" % r["realised_p5"] if r["realised_p5"] is not None
                 else "n/a",
                 r["seconds_with"], r["seconds_without"],
                 "" if r["scores_unchanged"] else "  SCORES DIFFER"))
    pairs = [(r["expected_auc"], r["realised_auc"]) for r in rows
             if r["expected_auc"] is not None and r["realised_auc"] is not None]
    summary = {"campaigns": len(rows), "compared": len(pairs)}
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
            seconds_with=float(np.mean([r["seconds_with"] for r in rows])),
            seconds_without=float(np.mean([r["seconds_without"]
                                           for r in rows])))
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "summary": summary}, f, indent=1)


def main(argv=None):
    return cli.run("seed diagnostics against realised AUC", run, argv,
                   add_arguments)


if __name__ == "__main__":
    sys.exit(main())
