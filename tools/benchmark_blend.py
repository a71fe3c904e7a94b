"""Can the seed blend score one user? The rank blend against blends whose
score is a function of the user alone, on the benchmark's data.

    python tools/benchmark_blend.py [--specs sparse sparse_large]
        [--seeds 2021 2022 2023] [--out output/blend] [--data DIR]
        [--smoke]

For each spec and seed, MetaHeac is meta-trained with the project's
settings (``tools/benchmark_quality.py``'s "metaheac" run: its data, its
overrides) and meta-tested once. During that meta-test every campaign is
fine-tuned once and its candidates and seeds are scored by the network and
by the seeds' logistic regression; every blend below is computed from
those same scores, so the differences between blends are paired:

- ``rank``: the blend the project used before,
  ``(1 - w) rank_net / n + w rank_lr / n`` (w =
  ``runner.infer_seed_blend``'s resolved value); needs every candidate;
- ``z_candidates``: ``(1 - w) z_net + w z_lr`` of the two logits, each
  standardised by its mean and standard deviation over the campaign's
  candidates at fitting time (constants, so a served model scores one
  user);
- ``z_seeds``: the same with the constants from the training set (the
  seeds, and negatives drawn for positives-only seeds): the project's
  blend (adaptation/blend.py);
- ``network`` and ``regression``: each alone.

Writes ``<out>/results.json`` and prints, per spec, GAUC and P@5% of each
blend on hot and cold (mean over seeds) and the paired difference from
``rank`` (mean +- sample std over seeds).
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402

import numpy as np  # noqa: E402

BLENDS = ("rank", "z_candidates", "z_seeds", "network", "regression")
EPS = 1e-7


def logit(p):
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def standardised(values, reference):
    sd = float(np.std(reference))
    if not np.isfinite(sd) or sd <= 0:
        return np.zeros(len(values))
    return (values - float(np.mean(reference))) / sd


def rank_blend(net_scores, seed_scores, w):
    """The rank blend the project used before a served model could score
    one user: ``(1 - w) rank_net / n + w rank_lr / n``, ties at their mean
    rank."""
    from scipy.stats import rankdata
    n = float(len(net_scores))
    return ((1.0 - w) * rankdata(net_scores) / n +
            w * rankdata(seed_scores) / n).astype(np.float32)


def blends(record, w):
    """Every blend's candidate scores of one recorded campaign."""
    net_c, net_s = record["net_cand"], record["net_seed"]
    lr_c, lr_s = record["lr_cand"], record["lr_seed"]
    if lr_c is None or w <= 0:   # seeds of one class: the network alone
        return {name: net_c for name in BLENDS}
    out = {"network": net_c, "regression": lr_c,
           "rank": rank_blend(net_c, lr_c, w)}
    ln_c, ln_s, ll_c, ll_s = (logit(a) for a in (net_c, net_s, lr_c, lr_s))
    out["z_candidates"] = (1 - w) * standardised(ln_c, ln_c) + \
        w * standardised(ll_c, ll_c)
    out["z_seeds"] = (1 - w) * standardised(ln_c, ln_s) + \
        w * standardised(ll_c, ll_s)
    return out


class Recorder:
    """Stands in for ``campaign_model.campaign_scores`` during the
    meta-test: fits the campaign model as it does, records the parts and
    returns the scores the meta-test would."""

    def __init__(self):
        self.records = []

    def __call__(self, model_class, model, init_state, campaign, config,
                 rng):
        from adaptation import campaign_model
        fitted, net = campaign_model.fit(
            model_class, model, init_state, campaign.seed_x, campaign.seed_y,
            campaign.cand_x, config, rng)
        lr = fitted.regression
        self.records.append(dict(
            aid=campaign.aid, y=np.asarray(campaign.cand_y),
            seeds=campaign.seeds,
            w=float(config.get("runner.infer_seed_blend")),
            net_cand=net, net_seed=fitted.train_net_scores,
            lr_cand=None if lr is None else lr.scores(campaign.cand_x),
            lr_seed=None if lr is None else lr.scores(campaign.seed_x)))
        return fitted.score(net, campaign.cand_x), fitted.tuned


def evaluate(records):
    from runkit.evaluation import evaluate as evaluate_set
    out = {}
    for name in BLENDS:
        rows = ((r["aid"], r["y"], np.asarray(blends(r, r["w"])[name]), {})
                for r in records)
        summary = evaluate_set(rows)["summary"]
        out[name] = {"gauc": summary["gauc"],
                     "p5": summary["precision_at_5pct"]}
    return out


def run_seed(spec_name, spec, seed, args):
    from adaptation import campaign_model
    from baselines.comparison import METHODS
    from tools import benchmark_quality as bq
    data_dir = os.path.abspath(os.path.join(args.data, spec_name) if args.data
                               else os.path.join(args.out, spec_name, "data"))
    bq.make_data(data_dir, spec, args.data_seed)
    method = next(m for m in METHODS if m["key"] == "metaheac")
    shared = (bq.SMOKE_SHARED if args.smoke else
              bq.SHARED + bq.SPEC_SHARED[spec_name])
    run_dir = os.path.join(args.out, spec_name, "runs", "seed%d" % seed)
    overrides = bq.data_overrides(data_dir, spec) + \
        bq.method_overrides(method, shared) + \
        bq.run_overrides(run_dir, seed, 1)
    recorders = []
    original = campaign_model.campaign_scores

    def recording(*a):
        return recorders[-1](*a)
    from runkit.evaluation import TEST_SETS
    found = {}
    campaign_model.campaign_scores = recording
    try:
        # one recorder per test set: the meta-test runs them in order
        import tools.infer_meta as infer_meta
        real = infer_meta.run_test_set

        def per_set(name, *a, **k):
            recorders.append(Recorder())
            result = real(name, *a, **k)
            found[name] = recorders[-1].records
            return result
        infer_meta.run_test_set = per_set
        try:
            figures = bq.run_one(overrides, run_dir)
        finally:
            infer_meta.run_test_set = real
    finally:
        campaign_model.campaign_scores = original
    out = {name: evaluate(found[name]) for name, _ in TEST_SETS
           if name in found}
    # the project's own blend (z_seeds) is what the meta-test scored
    for name in out:
        out[name]["meta_test_gauc"] = figures[name]["gauc"]
    return out


def table(spec_name, runs):
    lines = ["%s: mean over %d seed(s); diff = paired difference from rank "
             "(mean +- std over seeds)" % (spec_name, len(runs)),
             "| blend | hot GAUC | diff | cold GAUC | diff | hot P@5% | "
             "cold P@5% |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in BLENDS:
        cells = [name]
        for s in ("hot", "cold"):
            g = np.array([r[s][name]["gauc"] for r in runs])
            d = g - np.array([r[s]["rank"]["gauc"] for r in runs])
            cells += ["%.4f" % g.mean(), "%+.4f +- %.4f" % (
                d.mean(), d.std(ddof=1) if len(d) > 1 else 0.0)]
        for s in ("hot", "cold"):
            cells.append("%.4f" % np.mean([r[s][name]["p5"] for r in runs]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    from baselines.comparison import SMOKE_SPECS, SPECS
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--specs", nargs="+", default=["sparse"],
                   choices=["sparse", "sparse_large"])
    p.add_argument("--seeds", nargs="+", type=int, default=[2021, 2022, 2023])
    p.add_argument("--data-seed", type=int, default=2021)
    p.add_argument("--out", default="output/blend")
    p.add_argument("--data", default=None,
                   help="a folder of generated data to reuse "
                        "(<data>/<spec>), as benchmark_quality.py's")
    p.add_argument("--smoke", action="store_true",
                   help="tiny data and network: checks the script runs")
    args = p.parse_args(argv)
    runtime.setup_logging()
    print("CPU: %s" % runtime.cpu_model(), flush=True)
    specs = SMOKE_SPECS if args.smoke else SPECS
    results = {}
    for spec_name in args.specs:
        runs = []
        for seed in args.seeds:
            start = time.time()
            runs.append(run_seed(spec_name, specs[spec_name], seed, args))
            print("[%s seed %d] %.0f s: %s" % (
                spec_name, seed, time.time() - start, json.dumps(runs[-1])),
                flush=True)
        results[spec_name] = runs
        print(table(spec_name, runs), flush=True)
    from dataio.atomic import write_text
    write_text(os.path.join(args.out, "results.json"),
               json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
