"""Re-measure the readme's figures in one sitting and print them as the
readme shows them, with the CPU they were measured on.

    python tools/readme_figures.py [--out DIR] [--smoke]

Runs, in this order: the demo (tools/trainer.py and tools/infer_meta.py on
config.yaml, into DIR), the audience expansion of the sample's hot and cold
test campaigns with the candidates' labels held back (tools/expand.py),
and tools/benchmark_speed.py. Prints the readme's "Results"
table (GAUC first, as the readme shows it), the lift of the top 5 % (in
docs/expand.md) and the speed table (docs/speed.md). The quality and
preprocessing tables come from tools/benchmark_quality.py and
tools/benchmark_preprocess.py, which print their own (they take 10-45
minutes). ``--smoke`` runs the speed benchmark in its smoke mode (tiny
data: checks the path, measures nothing).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402


SETS = (("hot", "test/test"), ("cold", "test_cold/test_cold"))
# the readme's column order: GAUC is the headline, the pooled AUC last
METRICS = ("gauc", "weighted_gauc", "precision_at_5pct", "recall_at_5pct",
           "auc")


def tool(script, *args):
    command = [sys.executable, os.path.join(ROOT, "tools", script)] + list(args)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError("%s failed:\n%s" % (" ".join(command),
                                                (done.stdout + done.stderr)[-3000:]))
    return done.stdout


def demo(out):
    model = os.path.join(out, "model")
    paths = ["runner.model_save_path=%s" % model,
             "runner.infer_load_path=%s" % model,
             "runner.infer_result_path=%s" % os.path.join(out, "result.json"),
             "runner.overwrite=True",
             # the readme's table is make demo on 2 cores; figures move
             # with the thread count (float sums), so every machine uses 2
             "runner.num_threads=2"]
    start = time.time()
    tool("trainer.py", "-m", "config.yaml", "-o", *paths)
    trained = time.time() - start
    tool("infer_meta.py", "-m", "config.yaml", "-o", *paths)
    with open(os.path.join(out, "result.json")) as f:
        result = json.load(f)["epochs"]["0"]
    return model, result, time.time() - start, trained


def lifts(out, model):
    """Positive rate of the top 5 % over the base rate, per test set, with
    the candidates' labels removed from the file the tool gets."""
    import numpy as np
    import pandas as pd
    from dataio.safe_pickle import read_pickle_safely
    rows = {}
    for name, stem in SETS:
        truth = read_pickle_safely(os.path.join(ROOT, "data", stem + "_stage2.pkl"))
        blind = os.path.join(out, name + "_candidates.pkl")
        truth.drop(columns="label").to_pickle(blind)
        audiences = os.path.join(out, "audience_" + name)
        tool("expand.py", "-m", "config.yaml", "--seeds",
             os.path.join(ROOT, "data", stem + "_stage1.pkl"), "--candidates",
             blind, "--out", audiences, "--overwrite",
             "-o", "expand.checkpoint=%s" % os.path.join(model, "0"))
        label = truth.label.to_numpy()
        lift, top, base = [], [], []
        for aid, group in truth.groupby("aid"):
            chosen = pd.read_csv(os.path.join(audiences, str(aid), "audience.csv"))
            top.append(label[chosen.uid.to_numpy()].mean())
            base.append(group.label.mean())
            lift.append(top[-1] / base[-1])
        rows[name] = (float(np.mean(top)), float(np.mean(base)),
                      float(np.mean(lift)), float(min(lift)), float(max(lift)))
    return rows


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="work folder (default: a "
                        "new temporary one)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="readme-figures-")
    os.makedirs(out, exist_ok=True)
    print("measured on %s, %d core(s), %s" % (
        runtime.cpu_model(), runtime.available_cores(),
        time.strftime("%Y-%m-%d %H:%M")), flush=True)

    model, result, seconds, trained = demo(out)
    print("\n## Results: the sample data (make demo: %.0f s, training %.0f s)"
          "\n" % (seconds, trained))
    print("| test set | campaigns | GAUC | weighted GAUC | P@5% | R@5% | pooled AUC |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, _ in SETS:
        s = result[name]["summary"]
        print("| %s | %d | %s |" % (name, s["campaigns"], " | ".join(
            "%.4f" % s[m] for m in METRICS)))

    print("\n## docs/expand.md: the top 5 % against held-back labels\n")
    for name, (top, base, lift, low, high) in lifts(out, model).items():
        print("%s: positive rate %.3f against a base rate of %.3f, lift %.2f "
              "(%.2f-%.2f across campaigns)" % (name, top, base, lift, low, high))

    print("\n## docs/speed.md (tools/benchmark_speed.py%s)\n" %
          (" --smoke: measures nothing" if args.smoke else ""), flush=True)
    speed = tool("benchmark_speed.py", "--out", os.path.join(
        out if args.smoke else ROOT, "bench_data"),
        *(["--smoke"] if args.smoke else []))
    print("\n".join(line for line in speed.splitlines()
                    if line.startswith("|") or "GFLOP/s" in line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
