"""Turn the raw Tencent 2018 Look-alike files into MetaHeac's released format.

    python tools/preprocess.py --raw DIR --out DIR [--cold-threshold 2000]
        [--seed 2021] [--force] [--workers N] [--verify]
        [--keep-seed-candidates]

Reads ``adFeature.csv``, ``userFeature.data``, ``train.csv`` (seed sets) and
``test1_truth.csv`` (candidates, no header) from ``--raw`` and writes

    train_data/train_stage1.pkl        seed rows of the train campaigns
    test_hot_data/test_hot_stage{1,2}.pkl    seeds / candidates of hot test
    test_cold_data/test_cold_stage{1,2}.pkl  campaigns, and of cold ones
    max_idxs.yaml                      hyper_parameters.max_idxs (last)
    users/, ads.csv                    with --user-table: every user's
                                       fields and the ads' (tools/expand.py)

Campaigns (aid of train.csv) are split with ``--seed``: floor(n/2) train,
the rest test; a test campaign with at most ``--cold-threshold`` positive
seed rows is cold, the others hot. Stage 1 holds a campaign's train.csv
rows, stage 2 its test1_truth.csv rows, in file order. Labels -1 become 0.
A test1_truth.csv row whose (aid, uid) pair is also a train.csv row is
counted in a warning and left out of stage 2 (the user is one of the
campaign's seeds, so scoring it would test on training data);
``--keep-seed-candidates`` keeps such rows.

Id convention (every categorical field, user and ad): raw values are
re-indexed densely in ascending raw order to 1..K; index 0 means "missing"
for static and ad fields and is the pad of the dynamic lists, whose
``<field>_length`` counts the real leading ids (0 for a user without the
field). The inclusive maximum of a field is K, so every id, pad included,
lies in [0, K]. User ids are dense over the users of the written rows
(dynamic fields over their kept first 10 or 5 ids), ad ids over
adFeature.csv. ``aid`` stays the raw campaign id. A static field's extra
values and a field's repeats on a line are ignored (the first wins).

The work is done by the ``rawdata`` package (``rawdata/pipeline.py``); the
user file is parsed in byte chunks with numpy in ``--workers`` processes
(``rawdata/user_parser.py``). ``--verify`` reads every output back through
the project's checked reader. Exit status: 0 done, 1 bad input, 2 an
output exists and ``--force`` was not given.
"""
import sys
import time

try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

if __name__ == "__main__":   # one line, not a traceback, without them
    runtime.require_environment(("numpy", "pandas", "yaml"))
from rawdata.files import USERS_FILE  # noqa: E402
from rawdata.pipeline import preprocess  # noqa: E402
from runkit import cli  # noqa: E402


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--raw", required=True, help="directory of the raw files")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--cold-threshold", type=int, default=2000,
                   help="test campaigns with at most this many positive "
                   "seed rows are cold (default 2000)")
    p.add_argument("--seed", type=int, default=2021,
                   help="seed of the train/test campaign split")
    p.add_argument("--force", action="store_true",
                   help="overwrite existing output files")
    p.add_argument("--workers", type=int, default=None,
                   help="processes parsing %s (default: min(4, cores))"
                   % USERS_FILE)
    p.add_argument("--user-table", action="store_true",
                   help="keep every user and also write users/ (a user "
                   "table) and ads.csv, for tools/expand.py --users")
    p.add_argument("--verify", action="store_true",
                   help="read every output back through the project's "
                   "checked reader")
    p.add_argument("--keep-seed-candidates", action="store_true",
                   help="keep candidate rows whose user is also a seed of "
                   "the campaign (default: counted and dropped)")
    args = p.parse_args(argv)
    runtime.setup_logging(sys.stderr)  # stdout: the max_idxs line
    start = time.perf_counter()

    def job():
        max_idxs = preprocess(args.raw, args.out, args.cold_threshold,
                              args.seed, args.force, args.verify,
                              args.workers, user_table=args.user_table,
                              keep_seed_candidates=args.keep_seed_candidates)
        runtime.logger.info("done in %.1fs", time.perf_counter() - start)
        print("max_idxs: %s" % (max_idxs, ))
    return cli.guarded(job)


if __name__ == "__main__":
    sys.exit(main())
