"""The sample's test campaigns in form 2 (a user table), to try
``tools/expand.py --users`` without the raw competition files.

    python tools/sample_user_table.py --set cold --out DIR

Writes DIR/users (the user table: every candidate row of the set's stage 2
file as a user, uid = its row, and every seed row of stage 1, uid =
100000 + its row), DIR/ads.csv (each campaign's ad fields) and
DIR/seeds.csv (aid,uid,label). Every campaign then ranks the same users
(all the set's candidates), so their audiences can overlap.
"""
import os

try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETS = {"hot": "test/test", "cold": "test_cold/test_cold"}
SEED_UID = 100000


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", choices=sorted(SETS), default="cold")
    p.add_argument("--data", default=os.path.join(ROOT, "data"))
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    runtime.require_environment(("numpy", "pandas", "yaml"))
    import numpy as np
    from dataio import schema
    from dataio.stage_files import read_stage
    from dataio.user_table import write_user_table
    from dataio.vocabulary import read_max_idxs_file
    from dataio.atomic import write_text
    maxima = schema.IdMaxima.from_config(read_max_idxs_file(
        os.path.join(args.data, "max_idxs.yaml")))
    stem = os.path.join(args.data, SETS[args.set])
    seeds, cands = (read_stage(stem + "_stage%d.pkl" % i, maxima,
                               use_cache=False) for i in (1, 2))
    seed_uid = SEED_UID + np.arange(len(seeds.aid))
    users = [np.concatenate(s.inputs()[:3], axis=1) for s in (cands, seeds)]
    write_user_table(os.path.join(args.out, "users"),
                     np.concatenate([np.arange(len(cands.aid)), seed_uid]),
                     np.concatenate(users))
    ad = seeds.inputs()[3]
    aids, first = np.unique(seeds.aid, return_index=True)
    write_text(os.path.join(args.out, "ads.csv"), "aid,%s\n" % ",".join(
        schema.AD_FIELDS) + "".join("%d,%s\n" % (a, ",".join(map(str, ad[i])))
                                    for a, i in zip(aids, first)))
    write_text(os.path.join(args.out, "seeds.csv"), "aid,uid,label\n" + "".join(
        "%d,%d,%d\n" % t for t in zip(seeds.aid, seed_uid, seeds.labels())))
    print("%d users (%d candidates, %d seeds), %d campaigns -> %s" % (
        len(cands.aid) + len(seed_uid), len(cands.aid), len(seed_uid),
        len(aids), args.out))


if __name__ == "__main__":
    main()
