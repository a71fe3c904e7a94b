"""Time tools/preprocess.py on generated raw data at several scales.

    python tools/benchmark_preprocess.py --scales 1/64 1/16 1/4
        [--work DIR] [--keep] [--reuse] [--workers N] [--seed S]

For each scale (a fraction of the full competition size: 11 M users,
8.8 M seed rows, 2.3 M candidate rows) it writes raw files with
tools/make_raw_data.py, runs tools/preprocess.py on them with the cold
threshold scaled alike (2000 x scale, so hot and cold campaigns both
exist), and prints wall time, CPU time and peak memory of both steps.

Peak memory is given twice: the largest single process (``wait4``'s
ru_maxrss, which folds in waited-for children) and the sampled sum over
the process tree (preprocess forks parser workers).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    from runkit import runtime  # noqa: F401
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402

from synthetic.raw_format import FULL_SIZE  # noqa: E402

GIB = 2.0**30


def _tree_rss(pid):
    """Summed RSS in bytes of pid and its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open("/proc/%d/statm" % p) as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, task)) as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return total


def run(cmd, log_path):
    """Run cmd; (wall s, cpu s, max single-process RSS, sampled tree RSS)."""
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT)
        peak, done = [0], threading.Event()

        def sample():
            while not done.wait(0.2):
                peak[0] = max(peak[0], _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        with open(log_path) as f:
            sys.stderr.write(f.read()[-3000:])
        raise SystemExit("%s failed (exit %d); log: %s" %
                         (" ".join(cmd), proc.returncode, log_path))
    return (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024.0,
            peak[0])


def _dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(path) for f in files)


def bench(scale, work, seed, workers, reuse):
    size = FULL_SIZE.scaled(float(scale))
    tag = str(scale).replace("/", "_")
    raw, out = os.path.join(work, tag, "raw"), os.path.join(work, tag, "out")
    os.makedirs(os.path.join(work, tag), exist_ok=True)
    py = sys.executable
    if reuse and os.path.isfile(os.path.join(raw, "test1_truth.csv")):
        gen = (float("nan"), ) * 4
    else:
        gen = run([py, "tools/make_raw_data.py", "--out", raw,
                   "--users", str(size.users),
                   "--train-rows", str(size.train_rows),
                   "--test-rows", str(size.test_rows),
                   "--campaigns", str(size.campaigns), "--seed", str(seed)],
                  os.path.join(work, tag, "generate.log"))
    threshold = max(1, round(2000 * float(scale)))
    cmd = [py, "tools/preprocess.py", "--raw", raw, "--out", out,
           "--cold-threshold", str(threshold), "--force"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    pre = run(cmd, os.path.join(work, tag, "preprocess.log"))
    with open(os.path.join(work, tag, "preprocess.log")) as f:
        phases = [line.split(" INFO ", 1)[1].rstrip() for line in f
                  if " INFO " in line and "s  (peak" in line]
    return size, threshold, _dir_bytes(raw), _dir_bytes(out), gen, pre, \
        phases


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", nargs="+", default=["1/64", "1/16", "1/4"],
                   help="fractions of the full size, e.g. 1/64 0.25 1")
    p.add_argument("--work", help="directory for the data (default: a "
                   "temporary one, removed afterwards unless --keep)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--reuse", action="store_true",
                   help="skip generating a scale whose raw files --work "
                   "already holds (same scale and seed assumed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None,
                   help="passed to preprocess --workers")
    args = p.parse_args(argv)
    scales = [Fraction(s).limit_denominator(1 << 20) for s in args.scales]
    work = args.work or tempfile.mkdtemp(prefix="bench_preprocess_")
    os.makedirs(work, exist_ok=True)
    print("work dir %s, %d cores, load average %s" % (
        work, os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))
    header = ("scale", "users", "seed rows", "raw GiB", "gen s", "gen GiB",
              "prep wall s", "prep cpu s", "prep max-proc GiB",
              "prep tree GiB", "out GiB")
    rows = []
    try:
        for scale in scales:
            size, threshold, raw_b, out_b, gen, pre, phases = bench(
                scale, work, args.seed, args.workers, args.reuse)
            rows.append((str(scale), size.users, size.train_rows,
                         raw_b / GIB, gen[0], gen[2] / GIB, pre[0], pre[1],
                         pre[2] / GIB, pre[3] / GIB, out_b / GIB))
            print("scale %s (cold threshold %d): preprocess %.1fs wall, "
                  "%.1fs cpu, peak %.2f GiB (tree %.2f GiB)" % (
                      scale, threshold, pre[0], pre[1], pre[2] / GIB,
                      pre[3] / GIB), flush=True)
            for line in phases:
                print("    " + line)
            if not args.keep and not args.work:
                shutil.rmtree(os.path.join(work, str(scale).replace("/", "_")))
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(x if isinstance(x, str) else
                         ("%d" % x if isinstance(x, int) else "%.2f" % x)
                         for x in r))
    if len(rows) > 1:
        # linear growth: wall time per scale unit should stay ~constant
        print("preprocess wall s per full-size unit: " + ", ".join(
            "%s: %.0f" % (r[0], r[6] / float(Fraction(r[0]))) for r in rows))
    print("load average at the end %s" %
          " ".join("%.2f" % x for x in os.getloadavg()))


if __name__ == "__main__":
    main()
