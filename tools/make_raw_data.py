"""Write synthetic raw Tencent Look-alike competition files.

    python -m tools.make_raw_data --out DIR [--users N] [--train-rows N]
        [--test-rows N] [--campaigns N] [--seed S]

Defaults are the full competition size (11 M users, 8.8 M seed rows,
2.3 M candidate rows, 173 campaigns).
"""
import time

try:
    from runkit import runtime  # noqa: F401
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402

from synthetic.raw_format import FULL_SIZE, RawSize, write_raw  # noqa: E402


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory to write into")
    p.add_argument("--users", type=int, default=FULL_SIZE.users)
    p.add_argument("--train-rows", type=int, default=FULL_SIZE.train_rows)
    p.add_argument("--test-rows", type=int, default=FULL_SIZE.test_rows)
    p.add_argument("--campaigns", type=int, default=FULL_SIZE.campaigns)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("users", "train_rows", "test_rows", "campaigns"):
        if getattr(args, name) < 1:
            p.error("--%s must be at least 1" % name.replace("_", "-"))
    size = RawSize(args.users, args.train_rows, args.test_rows, args.campaigns)
    start = time.perf_counter()
    write_raw(args.out, size, args.seed)
    print("wrote %s (%s) in %.1fs" % (args.out, size,
                                      time.perf_counter() - start))


if __name__ == "__main__":
    main()
