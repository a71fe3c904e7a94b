"""Speed-up of meta-training with several processes on one machine.

    python tools/benchmark_scaling.py [--steps 16] [--tasks 5] [--batch 1024]
        [--out bench_scaling] [--smoke]

Trains the same global meta-batch (2 x ``--tasks`` campaigns of ``--batch``
support and query rows, second order, the full data's vocabularies) twice
with ``tools/trainer.py``: one process using every core, and two processes
of ``--tasks`` each under ``python -m paddle.distributed.launch
--nproc_per_node 2`` (gloo, one core each). Both runs train the same
campaigns, so the step times compare like for like. Prints the CPU model,
seconds per meta-batch (the mean ``avg_batch_cost`` of the trainer's log
intervals after the first), the speed-up, and what it implies for one epoch
of the full data (``FULL_META_BATCHES`` meta-batches).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402


# one epoch of the full data: ~4.4M training rows / batch_size 1024
FULL_META_BATCHES = 4300
BATCH_COST = re.compile(r"avg_batch_cost: ([0-9.]+) sec")


def trainer_overrides(data, save, tasks, batch, steps, smoke, max_idxs):
    out = ["runner.train_data_dir=%s" % os.path.join(data, "train"),
           "runner.model_save_path=%s" % save, "runner.overwrite=True",
           "runner.use_gpu=False", "runner.epochs=1",
           "runner.print_interval=%d" % max(steps // 4, 1),
           "hyper_parameters.task_count=%d" % tasks,
           "hyper_parameters.batch_size=%d" % batch,
           "hyper_parameters.max_idxs=%s" % str(max_idxs).replace(" ", "")]
    if smoke:
        out += ["hyper_parameters.embed_dim=8", "hyper_parameters.mlp_dims=[16]"]
    return out


def batch_costs(text):
    """Seconds per meta-batch of each log interval but the first (warm-up)."""
    costs = [float(c) for c in BATCH_COST.findall(text)]
    return costs[1:] or costs


def run_single(overrides):
    command = [sys.executable, os.path.join(ROOT, "tools", "trainer.py"), "-m",
               os.path.join(ROOT, "config_big.yaml"), "-o"] + overrides
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit("single-process run failed:\n" +
                         (proc.stdout + proc.stderr)[-3000:])
    return batch_costs(proc.stderr + proc.stdout)


def run_launched(overrides, log_dir):
    shutil.rmtree(log_dir, ignore_errors=True)
    command = [sys.executable, "-m", "paddle.distributed.launch",
               "--nproc_per_node", "2", "--log_dir", log_dir,
               os.path.join(ROOT, "tools", "trainer.py"), "-m",
               os.path.join(ROOT, "config_big.yaml"), "-o"] + overrides + [
                   "runner.use_fleet=True"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    with open(os.path.join(log_dir, "workerlog.0"), errors="replace") as f:
        text = f.read()
    if proc.returncode:
        raise SystemExit("2-process run failed:\n" + text[-3000:])
    return batch_costs(text)


def mean(values):
    return sum(values) / len(values)


def main(argv=None):
    parser = cli.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=16,
                        help="meta-batches per run (the epoch length)")
    parser.add_argument("--tasks", type=int, default=5,
                        help="campaigns per process and meta-batch")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench_scaling"))
    parser.add_argument("--smoke", action="store_true",
                        help="tiny data and network: checks that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.batch = min(args.steps, 8), min(args.batch, 32)
    rows = args.steps * args.batch     # an epoch is rows / batch meta-batches
    data = os.path.join(args.out, "data")
    from runkit.config import load_config
    from synthetic import datasets
    full = load_config(os.path.join(ROOT, "config_big.yaml"))[
        "hyper_parameters.max_idxs"]
    max_idxs = datasets.make_sized_data(data, rows, 60, 0, full,
                                        args.smoke).max_idxs()
    start = time.time()
    one = run_single(trainer_overrides(
        data, os.path.join(args.out, "m1"), 2 * args.tasks, args.batch,
        args.steps, args.smoke, max_idxs))
    two = run_launched(trainer_overrides(
        data, os.path.join(args.out, "m2"), args.tasks, args.batch, args.steps,
        args.smoke, max_idxs), os.path.join(args.out, "log"))
    print("CPU: %s, %d cores" % (runtime.cpu_model(), runtime.available_cores()))
    print("meta-batch: %d campaigns x (%d support + %d query rows), second "
          "order, %d meta-batches per run" % (2 * args.tasks, args.batch,
                                              args.batch, args.steps))
    print("1 process  (%d tasks, every core):       %.3f s per meta-batch" %
          (2 * args.tasks, mean(one)))
    print("2 processes (%d tasks each, gloo):        %.3f s per meta-batch" %
          (args.tasks, mean(two)))
    speedup = mean(one) / mean(two)
    print("speed-up %.2fx; a full-data epoch (%d meta-batches of %d "
          "campaigns): %.1f h with 1 process, %.1f h with 2" % (
              speedup, FULL_META_BATCHES, 2 * args.tasks,
              FULL_META_BATCHES * mean(one) / 3600,
              FULL_META_BATCHES * mean(two) / 3600))
    print("(%.0f s in all)" % (time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
