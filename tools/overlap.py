"""How far the audiences of earlier expansion runs overlap.

    python tools/overlap.py DIR [DIR ...] --out overlap.csv [--overwrite]

Each DIR is an ``--out`` folder of tools/expand.py; every
``DIR/<aid>/audience.csv`` in it is an audience (as delivered: with
--tiers, the largest tier). Writes, atomically, one row per pair:
``aid_a,aid_b,size_a,size_b,overlap,share_of_a,share_of_b`` (what
``expand.py --overlap`` writes for one run). Audiences are named by aid,
or by folder/aid when an aid occurs in more than one DIR (the folder's last
part, or its path when two share that). An existing FILE is refused
(exit 2) unless --overwrite.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runkit import cli, runtime  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", metavar="DIR",
                   help="output folders of tools/expand.py")
    p.add_argument("--out", required=True, help="the CSV to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out file")
    args = p.parse_args(argv)
    runtime.setup_logging()

    def job():
        from audience.overlap import folder_audiences, overlap_csv
        from runkit.atomic import write_text
        out = os.path.abspath(args.out)
        if os.path.isdir(out):
            raise cli.Refused("--out %s is a folder: name the CSV to write"
                              % out)
        if os.path.lexists(out) and not args.overwrite:
            raise cli.Refused("%s exists: choose another --out, or pass "
                              "--overwrite to replace it" % out)
        given = [os.path.realpath(f) for f in args.folders]
        if len(set(given)) < len(given):
            raise ValueError("a folder is given twice: %s" %
                             " ".join(args.folders))
        audiences = folder_audiences(args.folders)
        write_text(out, overlap_csv(audiences))
        pairs = len(audiences) * (len(audiences) - 1) // 2
        runtime.logger.info("wrote %d pair(s) of %d audiences to %s", pairs,
                            len(audiences), out)
    return cli.guarded(job)


if __name__ == "__main__":
    sys.exit(main())
