"""How far the audiences of earlier expansion runs overlap.

    python tools/overlap.py DIR [DIR ...] --out overlap.csv [--overwrite]

Each DIR is an ``--out`` folder of tools/expand.py; every
``DIR/<aid>/audience.csv`` in it is an audience (as delivered: with
--tiers, the largest tier). Writes, atomically, one row per pair:
``aid_a,aid_b,size_a,size_b,overlap,share_of_a,share_of_b`` (what
``expand.py --overlap`` writes for one run). Audiences are named by aid,
or by folder/aid when an aid occurs in more than one DIR (the folder's last
part, or its path when two share that). An existing FILE is refused
(exit 2) unless --overwrite and it is an overlap table written before
(its header line is this one); a FILE inside a tool's output folder (an
expansion's, an export's) is refused, and a FILE that is a symbolic link
is written where it points.
"""
import os
import sys

try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402


def checked_out(path, overwrite):
    """The path the CSV goes to (a symbolic link resolved once: where it
    points), refused (exit 2, nothing touched) when it is a folder, lies
    in an output folder of a tool (its files are that run's), or exists
    and is not an overlap table (--overwrite replaces only those) or
    --overwrite is not given."""
    from audience.output import out_path, written_by
    from audience.overlap import is_overlap_csv
    given = os.path.abspath(path)
    out = out_path(path)
    if out != given:
        runtime.logger.info("--out %s is a symbolic link: the CSV goes where "
                            "it points, %s", given, out)
    if os.path.isdir(out):
        raise cli.Refused("--out %s is a folder: name the CSV to write" % out)
    folder = os.path.dirname(out)
    while os.path.dirname(folder) != folder:
        tool = written_by(folder) if os.path.isdir(folder) else None
        if tool is not None:
            raise cli.Refused(
                "--out %s is inside %s, %s (written by %s): its files are "
                "that run's; write the CSV elsewhere" % (
                    out, folder, tool.what, tool.program))
        folder = os.path.dirname(folder)
    if not os.path.lexists(out):
        return out
    if not overwrite:
        raise cli.Refused("%s exists: choose another --out, or pass "
                          "--overwrite to replace it" % out)
    if not is_overlap_csv(out):
        raise cli.Refused("--out %s is not an overlap table (its first line "
                          "is not the header this tool writes): --overwrite "
                          "replaces only those; choose another --out, or "
                          "move the file away" % out)
    return out


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", metavar="DIR",
                   help="output folders of tools/expand.py")
    p.add_argument("--out", required=True, help="the CSV to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out file")
    args = p.parse_args(argv)
    runtime.setup_logging()

    def job():
        from audience.overlap import folder_audiences, overlap_csv
        from dataio.atomic import write_text
        out = checked_out(args.out, args.overwrite)
        replaced = os.path.lexists(out)
        given = [os.path.realpath(f) for f in args.folders]
        if len(set(given)) < len(given):
            raise ValueError("a folder is given twice: %s" %
                             " ".join(args.folders))
        audiences = folder_audiences(args.folders)
        write_text(out, overlap_csv(audiences))
        if replaced:
            runtime.logger.info("replaced %s, an overlap table written "
                                "before", out)
        pairs = len(audiences) * (len(audiences) - 1) // 2
        runtime.logger.info("wrote %d pair(s) of %d audiences to %s", pairs,
                            len(audiences), out)
    return cli.guarded(job)


if __name__ == "__main__":
    sys.exit(main())
