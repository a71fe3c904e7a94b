"""Write the readme's table of config keys from their declaration
(runkit/config_schema.py) and the paper's profile (config_big.yaml):
``python tools/key_table.py`` rewrites readme.md between its markers;
``--check`` changes nothing and exits 1 when the readme's table is not the
one generated (the suite checks the same).
"""
import os
import sys

try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402

README = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "readme.md")


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", default=README)
    parser.add_argument("--check", action="store_true",
                        help="only say whether the table is up to date")
    args = parser.parse_args(argv)
    runtime.require_environment(("yaml", ))
    from dataio.atomic import write_text
    from runkit import key_table
    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    try:
        wanted = key_table.with_table(text)
    except ValueError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    if wanted == text:
        print("%s: the key table is up to date" % args.readme)
        return 0
    if args.check:
        print("%s: the key table differs from the declaration; run "
              "tools/key_table.py" % args.readme, file=sys.stderr)
        return 1
    write_text(args.readme, wanted)
    print("wrote the key table of %s" % args.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
