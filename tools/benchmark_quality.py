"""Does meta-learning pay? MetaHeac against its baselines, hot and cold.

    python tools/benchmark_quality.py [--out output/quality]
        [--specs benchmark sparse sparse_large] [--seeds 2021 2022 2023]
        [--data-seed 2021] [--data DIR] [--methods ...] [-o key=value ...]
        [--smoke]

Every method is a list of ``-o`` overrides on ``config.yaml``, trained by
``tools.trainer.train`` and meta-tested by ``tools.infer_meta.infer`` (the
project's own code paths, no training code here):

- ``scratch``: no meta-training (``method=scratch``: the checkpoint holds the
  seeded random init); meta-test fine-tunes it on each campaign's seeds only;
- ``pooled``: plain supervised training on the same sampled rows, same number
  of gradient steps (``method=pooled``), then the same fine-tuning;
- ``maml_dnn``: MAML with one expert and one critic (second order);
- ``metaheac_1st`` / ``metaheac_2nd``: MetaHeac, first / second order;
- ``metaheac_2nd_paper_lr``: an ablation, MetaHeac second order with the
  paper's inner step (local_lr 0.0002) instead of the benchmark's 0.3.

The answer printed last: cold GAUC of ``metaheac_2nd`` minus the best of the
baselines (scratch, pooled, MAML-DNN), as a difference of means and as the
mean ± std of the per-seed differences.

The benchmark data (``synthetic.generator.BENCHMARK``, see docs/quality.md for
what it plants) are generated once, with ``--data-seed``, under
``<out>/data`` and reused while the spec and seed are unchanged. The seeds of
``--seeds`` vary ``runner.seed`` only: model initialisation, task and row
sampling, and the fine-tuning shuffles; the data stay the same.

The data-size axis: ``--specs sparse sparse_large`` runs the sparse spec at
its size (about 15k training rows) and at 10 times that
(``synthetic.generator.SPARSE_LARGE``: 150k rows, 600k users, the same test
campaigns' shape) with the same settings, and adds a table of every
method's GAUC on both; sparse_large is not run by default
(``DEFAULT_SPECS``). To keep its run within an hour on 2 cores it runs every
method but the two ablations of MetaHeac itself (``metaheac_1st``,
``metaheac_paper``; ``SPEC_METHODS``), which ``--methods`` can add back.
The methods, specs and tables are defined in baselines/comparison.py, the
data made by synthetic/datasets.py.

Writes ``<out>/results.json`` (every run, and mean and std over the seeds),
``<out>/table.md`` (the Markdown table) and per-run logs under
``<out>/runs/<method>/seed<seed>/``. The std is the sample standard deviation
(ddof 1) over the seeds. ``--smoke``: tiny data and network, a grid of two settings for
meta-validation, two seeds (CI); it checks that every method runs and the
table is well formed, nothing about quality.
"""
import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402

from dataio.atomic import write_text  # noqa: E402
from baselines.comparison import (  # noqa: E402
    DEFAULT_SPECS, LR_C, METHOD_KEYS, METHODS, SETS, SHARED, SMOKE_SHARED,
    SMOKE_SPECS, SPEC_SHARED, SPECS, answer, answer_text, fewer_methods_note,
    markdown_table, method_overrides, set_figures, size_table, size_text,
    spec_methods, summaries, summarize)
from synthetic import datasets  # noqa: E402

CONFIG = os.path.join(ROOT, "config.yaml")


def yaml_list(value):
    return json.dumps(value).replace(" ", "")


def make_data(folder, spec, seed):
    """The benchmark data under ``folder`` (synthetic.datasets), and their
    statistics."""
    stats, reused = datasets.make_data(folder, spec, seed)
    if reused:
        print("data: reusing %s" % folder, flush=True)
    else:
        print("data: generated %s (seed %d) in %.1f s" % (
            folder, seed, stats["generate_s"]), flush=True)
    return stats


def data_overrides(folder, spec):
    return [
        "runner.train_data_dir=%s" % os.path.join(folder, "train"),
        "runner.test_data_dir=%s" % os.path.join(folder, "test_hot"),
        "runner.test_cold_data_dir=%s" % os.path.join(folder, "test_cold"),
        "hyper_parameters.max_idxs=%s" % yaml_list(spec.max_idxs()),
    ]


def run_overrides(run_dir, seed, epochs):
    return [
        "runner.seed=%d" % seed,
        "runner.model_save_path=%s" % run_dir,
        "runner.infer_load_path=%s" % run_dir,
        "runner.infer_result_path=%s" % os.path.join(run_dir,
                                                     "infer_result.json"),
        # meta-test the last checkpoint only
        "runner.infer_start_epoch=%d" % (epochs - 1),
        "runner.infer_end_epoch=%d" % epochs,
        "runner.print_interval=50",
    ]


class RunLog:
    """Send the tools' logging of one run to its own file."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        root = logging.getLogger()
        self.saved = (root.handlers[:], root.level)
        self.handler = logging.FileHandler(self.path, mode="w")
        self.handler.setFormatter(logging.Formatter(
            "%(asctime)s - %(levelname)s - %(message)s"))
        root.handlers = [self.handler]
        root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        root = logging.getLogger()
        self.handler.close()
        root.handlers, level = self.saved
        root.setLevel(level)




def run_one(config_overrides, run_dir, train=True):
    """Meta-train (unless ``train`` is False: the overrides then point
    runner.infer_load_path at another run) and meta-test one method and
    seed; times and summaries."""
    from tools.infer_meta import infer
    from tools.trainer import train as train_model
    from runkit.config import load_config
    if os.path.isdir(run_dir):
        shutil.rmtree(run_dir)
    os.makedirs(run_dir)
    config = load_config(CONFIG, config_overrides)
    train_s = 0.0
    with RunLog(os.path.join(run_dir, "log.txt")):
        if train:
            start = time.perf_counter()
            train_model(config)
            train_s = time.perf_counter() - start
        start = time.perf_counter()
        results = infer(config)
        test_s = time.perf_counter() - start
    out = {"train_s": round(train_s, 2), "test_s": round(test_s, 2)}
    out.update(summaries(results, str(config["runner.infer_end_epoch"] - 1)))
    return out


def run_logistic(kind, config_overrides, c):
    """A logistic-regression baseline on the test sets
    (baselines/logistic.py), scored as the meta-test scores."""
    from baselines import logistic
    from runkit.config import load_config
    config = load_config(CONFIG, config_overrides)
    start = time.perf_counter()
    evaluations, train_s = logistic.evaluate(config, c,
                                             pooled=kind == "lr_pooled")
    test_s = time.perf_counter() - start - train_s
    out = {name: set_figures(e["summary"] if e else {})
           for name, e in evaluations.items()}
    out.update(train_s=round(train_s, 2), test_s=round(test_s, 2))
    return out


def run_method(method, spec_name, base, shared, run_dir, seed, epochs,
               out_dir, lr_c):
    kind = method["kind"]
    if kind in ("lr_campaign", "lr_pooled"):
        return run_logistic(kind, base + shared, lr_c[method["key"]])
    overrides = base + method_overrides(method, shared) + \
        run_overrides(run_dir, seed, epochs)
    if kind == "retest":
        source = os.path.join(out_dir, "runs", method["source"],
                              "seed%d" % seed)
        overrides.append("runner.infer_load_path=%s" % source)
        return run_one(overrides, run_dir, train=False)
    return run_one(overrides, run_dir)


def spec_shared(spec_name, args):
    """The overrides every method gets on one spec: the benchmark's scale,
    the spec's own settings (not in smoke runs), then the user's -o."""
    if args.smoke:
        return SMOKE_SHARED + list(args.opt)
    return SHARED + SPEC_SHARED[spec_name] + list(args.opt)


def run_spec(spec_name, spec, args, shared, chosen, out, epochs):
    """Every chosen method and seed on one benchmark spec; ``shared`` are
    the spec's shared overrides (see ``spec_shared``)."""
    out_dir = os.path.join(out, spec_name)
    data_dir = os.path.abspath(os.path.join(args.data, spec_name)
                               if args.data else os.path.join(out_dir, "data"))
    stats = make_data(data_dir, spec, args.data_seed)
    print("[%s] oracle GAUC hot %s, cold %s (the generator's own "
          "probabilities)" % (spec_name, stats["oracle_gauc"]["test_hot_stage2"],
                              stats["oracle_gauc"]["test_cold_stage2"]))
    for name, st in stats.items():
        if not isinstance(st, dict) or "rows" not in st:
            continue
        print("  %-17s %6d rows, %3d campaigns, positive rate %.3f, rows per "
              "campaign min/median/max %s, positives %s" %
              (name, st["rows"], st["campaigns"], st["positive_rate"],
               st["rows_per_campaign"], st["positives_per_campaign"]))
    base = data_overrides(data_dir, spec)
    lr_c = dict(LR_C[spec_name])
    if args.lr_c is not None:
        lr_c = {k: args.lr_c for k in lr_c}
    methods = {m["key"]: {"label": m["label"], "kind": m["kind"],
                          "overrides": (method_overrides(m, shared)
                                        if m["kind"] in ("train", "retest")
                                        else shared),
                          "runs": []}
               for m in chosen}
    for m in chosen:
        if m["kind"].startswith("lr_"):
            methods[m["key"]]["C"] = lr_c[m["key"]]
    results = {"spec_name": spec_name, "smoke": args.smoke,
               "data_seed": args.data_seed,
               "spec": dataclasses.asdict(spec), "data": stats,
               "seeds": args.seeds, "shared_overrides": shared,
               "std": "sample standard deviation over seeds (ddof 1)",
               "methods": methods}
    start, cpu_start = time.perf_counter(), time.process_time()
    for seed in args.seeds:
        for m in chosen:
            key = m["key"]
            if m["kind"].startswith("lr_") and methods[key]["runs"]:
                # deterministic and seed-free: the first seed's result
                run = dict(methods[key]["runs"][0])
            else:
                run_dir = os.path.join(out_dir, "runs", key, "seed%d" % seed)
                cpu = time.process_time()
                run = run_method(m, spec_name, base, shared, run_dir, seed,
                                 epochs, out_dir, lr_c)
                # the CPU seconds of every thread: on a machine others
                # share, wall times grow with their load, these do not
                run["cpu_s"] = round(time.process_time() - cpu, 1)
            run["seed"] = seed
            methods[key]["runs"].append(run)
            print("[%s] seed %d %-28s train %6.1f s, meta-test %6.1f s, CPU "
                  "%6.1f s | hot GAUC %.4f | cold GAUC %.4f AUC %.4f P@5%% "
                  "%.4f" %
                  (spec_name, seed, m["label"], run["train_s"], run["test_s"],
                   run["cpu_s"],
                   nan(run["hot"]["gauc"]), nan(run["cold"]["gauc"]),
                   nan(run["cold"]["auc"]),
                   nan(run["cold"]["precision_at_5pct"])), flush=True)
            methods[key]["summary"] = summarize(methods[key]["runs"])
            results["total_s"] = round(time.perf_counter() - start, 1)
            results["total_cpu_s"] = round(time.process_time() - cpu_start, 1)
            write(out_dir, results)  # partial results survive an interruption
    results["answer"] = answer(methods, args.seeds)
    results["total_s"] = round(time.perf_counter() - start, 1)
    results["total_cpu_s"] = round(time.process_time() - cpu_start, 1)
    print("[%s] %.1f s, CPU %.1f s (load average %s)" % (
        spec_name, results["total_s"], results["total_cpu_s"],
        load_average()), flush=True)
    table = write(out_dir, results)
    return results, table


def load_average():
    """The machine's 1-minute load: wall times are only comparable at
    similar loads."""
    try:
        return "%.1f" % os.getloadavg()[0]
    except OSError:
        return "unknown"




def nan(value):
    return float("nan") if value is None else value


def main(argv=None):
    parser = cli.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None,
                        help="output folder (default output/quality, "
                        "output/quality_smoke with --smoke)")
    parser.add_argument("--specs", nargs="+", default=DEFAULT_SPECS,
                        choices=list(SPECS),
                        help="default: %s; sparse_large is the sparse spec "
                        "at 10x its training rows" % " ".join(DEFAULT_SPECS))
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="default 2021 2022 2023 (--smoke: 2021 2022)")
    parser.add_argument("--data-seed", type=int, default=2021)
    parser.add_argument("--data", default=None,
                        help="data folder (default <out>/<spec>/data); "
                        "<data>/<spec> is generated unless it holds this spec "
                        "and data seed")
    parser.add_argument("--methods", nargs="+", default=None,
                        choices=METHOD_KEYS)
    parser.add_argument("--lr-c", type=float, default=None,
                        help="logistic regression's C for both LR baselines "
                        "(default: the value chosen on the development draw)")
    parser.add_argument("-o", "--opt", nargs="*", default=[],
                        help="overrides for every method (after the shared "
                        "ones, before the method's own)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny data and network: checks that it runs")
    args = parser.parse_args(argv)
    if args.seeds is None:
        # two seeds still give the smoke a spread to compute
        args.seeds = [2021, 2022] if args.smoke else [2021, 2022, 2023]
    out = os.path.abspath(args.out or os.path.join(
        ROOT, "output", "quality_smoke" if args.smoke else "quality"))
    specs = SMOKE_SPECS if args.smoke else SPECS
    chosen = {name: spec_methods(name, args.methods) for name in args.specs}
    if args.methods:
        for m in chosen[args.specs[0]]:
            if m["kind"] == "retest" and m["source"] not in args.methods:
                parser.error("%s re-tests %s's checkpoints: add %s to "
                             "--methods" % (m["key"], m["source"],
                                            m["source"]))
    from runkit.config import load_config
    for spec_name in args.specs:   # fail early on a bad override
        for m in chosen[spec_name]:
            if m["kind"] in ("train", "retest"):
                load_config(CONFIG, method_overrides(
                    m, spec_shared(spec_name, args)) +
                    ["runner.train_data_dir=x"])
    epochs = load_config(CONFIG, spec_shared(args.specs[0], args))[
        "runner.epochs"]

    runtime.import_paddle()   # without its start-up noise
    smoke_note = ("SMOKE RUN: tiny data and network, to check that the tool "
                  "runs; these numbers say nothing about quality\n\n"
                  if args.smoke else "")
    if smoke_note:
        print(smoke_note.strip(), flush=True)
    total_start = time.perf_counter()
    tables, every = [], {}
    for spec_name in args.specs:
        note = fewer_methods_note(spec_name, args.methods)
        if note:
            print("[%s] %s" % (spec_name, note), flush=True)
        results, table = run_spec(spec_name, specs[spec_name], args,
                                  spec_shared(spec_name, args),
                                  chosen[spec_name], out, epochs)
        every[spec_name] = results
        text = answer_text(results["answer"], results["methods"])
        title = "%s (%s)" % (spec_name, size_text(results))
        tables.append("## %s\n\n%s%s\n```\n%s\n```\n" % (
            title, note + "\n\n" if note else "", table, text))
        print()
        print("[%s]%s" % (title, " (smoke run)" if args.smoke else ""))
        print(table)
        print(text)
    if len(every) > 1:
        sizes = size_table(every)
        tables.append("## GAUC by spec\n\n%s" % sizes)
        print()
        print("[GAUC by spec]")
        print(sizes)
    write_text(os.path.join(out, "tables.md"), smoke_note + "\n".join(tables))
    print("total %.1f s; wrote %s" % (time.perf_counter() - total_start,
                                      os.path.join(out, "tables.md")))
    return 0


def write(out, results):
    table = markdown_table(results["methods"])
    write_text(os.path.join(out, "results.json"),
               json.dumps(results, indent=1))
    write_text(os.path.join(out, "table.md"), table)
    return table


if __name__ == "__main__":
    sys.exit(main())
