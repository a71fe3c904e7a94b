"""Expand audiences: for each campaign of the seed file, the candidates most
like its seeds, ranked, from the meta-trained model fine-tuned on the seeds.

    python tools/expand.py -m config.yaml --seeds SEEDS --candidates CANDS
        --out DIR [--top 5%] [--overwrite] [-o key=value ...]
    python tools/expand.py -m config_big.yaml --users USERS --seeds seeds.csv
        --ads ads.csv [--candidates cands.csv] [--all-scores]
        --top-users 100000 --out DIR
    options of both forms: [--exclude FILE] [--tiers 1,2,5,10] [--overlap]
        [--plot [scores]] [--export]

Form 1, feature rows: SEEDS and CANDS are stage files (pickled DataFrames
in the released format; no ``label`` column needed; a ``uid`` column, else
the row index, names the users). Form 2, id lists: USERS is a user table
(``tools/preprocess.py --user-table`` writes it, with ads.csv),
seeds.csv holds ``aid,uid[,label][,value]``, ads.csv ``aid`` and the 6 ad fields;
the candidates are every user of the table but the campaign's seeds, or
the uids of cands.csv (``uid[,aid]``), scored in chunks. The model is ``expand.checkpoint`` or, by default, the last
meta-test checkpoint (``runner.infer_load_path``/``infer_end_epoch - 1``).
Writes DIR/<aid>/audience.csv (uid,score,rank,top_percent: the best
``--top`` share of the candidates, ``5%`` or ``0.05``, or the best
``--top-users`` count), DIR/audiences.csv (aid,uid,tier: every campaign's
audience in one upload-ready file), DIR/<aid>/scores.csv (every
candidate; in form 2 only with ``--all-scores``), DIR/report.html (the
one-page report: per campaign its seeds, tiers, expected and measured
lift and a verdict; the reach picture inline when matplotlib is there)
and DIR/summary.json (with ``provenance``: the checkpoint and its
checksum, the input files, the resolved config, the time and the
version). Seeds are never in their own audience;
seeds without negatives get ``expand.negative_ratio`` negatives per seed
drawn from the candidates, who stay candidates (form 2: from the table's
users outside the candidates when there are enough); campaigns with fewer
than ``expand.min_seeds`` seeds, or without candidates, are skipped with a
warning and listed in the summary; a run that expands no campaign writes
nothing and exits 1. An existing DIR is refused (exit 2) unless
``--overwrite`` and it is an earlier expansion (its summary.json says so)
holding nothing else (what it holds besides is named); an empty folder may
be DIR, a symbolic link is written where it points.

``--exclude FILE`` (a CSV of ``uid[,aid]`` or a list of uids) keeps its
users out of every audience (``excluded`` in the summary); ``--tiers``
delivers nested sizes in percent of the candidates (``5,10`` or ``5%,10%``;
tiers all below 1 without ``%`` are refused as fractions; the largest is
written, with a ``tier`` column; ``--top`` then may not be given);
``--overlap`` writes DIR/overlap.csv (every pair of audiences),
``--plot`` DIR/reach.png (needs matplotlib; ``--plot scores`` adds the
lowest score in the audience against its size); ``--export`` writes each
campaign's model as a Paddle inference program beside its audience
(DIR/<aid>/model.json, model.pdiparams: the fine-tuned network, the seeds'
regression and the blend, so serving it gives the audience's scores).

Under ``python -m paddle.distributed.launch --nproc_per_node N`` with
``-o runner.use_fleet=True``, campaigns (form 1) or a user table's chunks
(form 2) are split across the processes and rank 0 writes the output.
"""
import os
import sys

try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

if __name__ == "__main__":   # Ctrl-C from here on: one line (runtime)
    runtime.hold_signals()
from runkit import cli  # noqa: E402


def top_argument(text):
    import argparse
    from audience.ranking import parse_top
    try:
        return parse_top(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def top_users_argument(text):
    import argparse
    from audience.ranking import parse_top_users
    try:
        return parse_top_users(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def tiers_argument(text):
    import argparse
    from audience.tiers import parse_tiers
    try:
        return parse_tiers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def add_arguments(parser):
    import argparse
    parser.add_argument("--seeds", required=True,
                        help="seed users: a stage file, or with --users a "
                        "CSV of aid,uid[,label][,value]")
    parser.add_argument("--candidates",
                        help="candidate users: a stage file (required "
                        "without --users), or with --users a CSV of uids")
    parser.add_argument("--users", help="a user table (form 2)")
    parser.add_argument("--ads", help="with --users: CSV of aid and the ad "
                        "fields")
    parser.add_argument("--all-scores", action="store_true",
                        help="with --users: also write every candidate's "
                        "score")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--top", type=top_argument,
                        help="audience size, a share of the candidates: a "
                        "percentage (5%%) or a fraction (0.05); default 5%%")
    parser.add_argument("--top-users", type=top_users_argument, metavar="N",
                        help="audience size, a count: the best N candidates "
                        "of each campaign (not with --top or --tiers)")
    parser.add_argument("--tiers", type=tiers_argument,
                        help="nested audience sizes, percent of the "
                        "candidates left after seeds and exclusions, e.g. "
                        "1,2,5,10: the largest is written, each user with "
                        "the smallest tier holding them")
    parser.add_argument("--exclude", metavar="FILE",
                        help="users no audience may hold: a CSV of uid[,aid] "
                        "(aid: that campaign only) or a list of uids, one "
                        "per line")
    parser.add_argument("--overlap", action="store_true",
                        help="also write overlap.csv: every pair of the "
                        "run's audiences, their sizes and shared users")
    parser.add_argument("--plot", nargs="?", const="reach",
                        choices=("reach", "scores"),
                        help="also write reach.png: lift against audience "
                        "size per campaign, the tiers marked (needs "
                        "matplotlib); --plot scores adds the lowest score "
                        "in the audience against its size")
    parser.add_argument("--export", action="store_true",
                        help="also write each campaign's model to serve, "
                        "DIR/<aid>/model.json and model.pdiparams (its "
                        "scores are the audience's)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out folder")
    parser.add_argument("--diagnose", action=argparse.BooleanOptionalAction,
                        help="cross-validate each campaign's seeds first "
                        "(default: expand.diagnose)")


def campaigns_of(config, args):
    """(campaigns, user table or None, whether to write every score)."""
    from audience import sources
    from dataio.schema import IdMaxima
    from dataio.user_table import UserTable
    if args.users:
        if not args.ads:
            raise ValueError("--users needs --ads, the ads' CSV")
        table = UserTable(args.users, IdMaxima.from_config(
            config.get("hyper_parameters.max_idxs")))
        runtime.logger.info("user table %s: %d users", args.users, len(table))
        return (sources.user_table_campaigns(table, args.seeds, args.ads,
                                             args.candidates),
                table, args.all_scores)
    if not args.candidates:
        raise ValueError("--candidates is required (or --users for a user "
                         "table)")
    return (sources.feature_row_campaigns(args.seeds, args.candidates, config),
            None, True)


def nothing_expanded(args, skipped, listed=5):
    """The error of a run that expanded no campaign: nothing is written
    (an output claiming success with no campaign in it would pass for
    one), an earlier --out stays as it was."""
    out = os.path.abspath(args.out)
    kept = "%s left as it was" % out if os.path.exists(out) else \
        "%s not made" % out
    if not skipped:
        return ("no campaign expanded: %s holds no seed; nothing written (%s)"
                % (args.seeds, kept))
    reasons = ["campaign %s: %s" % (s.aid, s.reason)
               for s in skipped[:listed]]
    if len(skipped) > listed:
        reasons.append("and %d more" % (len(skipped) - listed))
    return ("no campaign expanded, so nothing written (%s); every campaign "
            "was skipped: %s" % (kept, "; ".join(reasons)))


DEFAULT_TOP = 0.05


def audience_options(args):
    """(top, tiers or None) of --top, --top-users and --tiers, which all
    set the size: given together they are refused rather than one
    ignored."""
    given = [name for name, value in (("--top", args.top),
                                      ("--top-users", args.top_users),
                                      ("--tiers", args.tiers))
             if value is not None]
    if len(given) > 1:
        raise ValueError("%s %s set the audience size: give one (--tiers "
                         "delivers its largest tier)" % (
                             " and ".join(given),
                             "both" if len(given) == 2 else "all"))
    if args.tiers:
        from audience.tiers import top_of
        return top_of(args.tiers), args.tiers
    if args.top_users is not None:
        return args.top_users, None
    return (DEFAULT_TOP if args.top is None else args.top), None


def checked_options(args):
    """Every option checked before any work (before paddle is loaded):
    (top, tiers, exclusions or None)."""
    top, tiers = audience_options(args)
    exclusions = None
    if args.exclude:
        from audience.exclusions import read_exclusions
        exclusions = read_exclusions(args.exclude)
        runtime.logger.info("--exclude %s: %d user(s)", args.exclude,
                            exclusions.users)
    if args.plot:
        from audience.plot import require
        require()
    return top, tiers, exclusions


def extras(args, expansions, tiers, top, table, out):
    """The leader's files beside the campaigns' that need no summary
    (audiences.csv; with --overlap, overlap.csv), and what the summary says
    of them: (extra summary keys, the overlap rows or None)."""
    extra, rows = {"union": out.write_union(expansions, tiers, top)}, None
    if tiers:
        from audience.tiers import fraction
        extra["tier_fractions"] = [fraction(p) for p in tiers]
    if args.overlap:
        from audience.overlap import (NO_SHARED_CANDIDATE, of_expansions,
                                      overlap_csv, overlap_rows,
                                      share_candidates)
        if len(expansions) < 2:
            runtime.logger.warning("--overlap: one campaign expanded, so "
                                   "overlap.csv holds no pair")
        elif table is None and not share_candidates(expansions):
            # form 1: each campaign ranks its own rows
            extra["overlap_note"] = NO_SHARED_CANDIDATE
            runtime.logger.warning("--overlap: %s", NO_SHARED_CANDIDATE)
        audiences = of_expansions(expansions)
        rows = overlap_rows(audiences)
        out.write("overlap.csv", overlap_csv(audiences))
        extra["overlap"] = "overlap.csv"
    return extra, rows


def picture(args, document, expansions):
    """(the reach picture's PNG bytes or None, why there is none): drawn
    from the summary document for report.html and, with --plot, for
    reach.png; a picture failing after the work loses no audience."""
    from audience import plot
    scores = plot.score_curves(expansions) if args.plot == "scores" else None
    try:
        return plot.reach_png(document, scores), None
    except ImportError as exc:   # matplotlib: checked at the start if --plot
        return None, "matplotlib is not installed (%s): pip install " \
            "matplotlib" % exc
    except Exception as exc:  # noqa: BLE001 - the audiences are computed
        return None, "%s: %s" % (type(exc).__name__, exc)


def pictures_and_report(args, document, expansions, overlap, out):
    """reach.png (--plot) and report.html, both from the summary document
    (``document``, which says where they are); the report shows the
    picture inline."""
    from audience.report import report_html
    png, missing = picture(args, document, expansions)
    if args.plot:
        if png is None:
            document["plot"] = "not drawn: %s" % missing
            runtime.logger.warning("--plot: reach.png %s; the audiences "
                                   "are written without it", document["plot"])
        else:
            out.write_bytes("reach.png", png)
            document["plot"] = "reach.png"
    elif png is None:
        runtime.logger.info("report.html: no picture: %s", missing)
    document["report"] = "report.html"
    out.write("report.html", report_html(document, png, overlap, missing))


def run(config, args):
    from audience.expansion import (Expansion, checkpoint_path, expansions,
                                    load_model)
    from audience.output import (OutputDir, check_target, out_path,
                                 summary_document)
    from audience.provenance import provenance
    from dataio.atomic import check_writable, existing_folder
    top, tiers, exclusions = checked_options(args)
    # before paddle is loaded
    check_target(args.out, args.overwrite, tool="expand")
    check_writable(existing_folder(os.path.dirname(out_path(args.out))),
                   "the folder of --out", "--out")
    runtime.writes_output(args.out, "--out")
    if args.export:   # it saves programs, as tools/export.py
        runtime.quiet_paddle_log()
    runtime.prepare(config)
    from runkit import distributed
    group = distributed.start(config, "expand")
    if not group.leader:  # rank 0 reports and writes for the run
        runtime.logger.setLevel("WARNING")
    out = OutputDir(args.out, overwrite=args.overwrite, tool="expand") \
        if group.leader else None
    try:
        campaigns, table, all_scores = campaigns_of(config, args)
        # the config with the meta-test settings of the checkpoint's run:
        # what the summary records
        config, *model = load_model(config)
        done, skipped = [], []
        for outcome in expansions(config, campaigns, top, *model,
                                  table=table, group=group,
                                  exclusions=exclusions, tiers=tiers,
                                  serve=args.export):
            if not isinstance(outcome, Expansion):
                skipped.append(outcome)
                continue
            done.append(outcome)
            if out is not None:
                out.write_expansion(outcome, all_scores, tiers)
                if outcome.served is not None:
                    out.write_served(outcome)
        if not done:
            raise ValueError(nothing_expanded(args, skipped))
        if out is None:
            return
        if exclusions is not None:
            exclusions.check_use(done, skipped, table)
        extra, overlap = extras(args, done, tiers, top, table, out)
        document = summary_document(
            config, done, skipped, top, extra,
            provenance(config, checkpoint_path(config), args.seeds,
                       args.candidates, args.users, args.ads, args.exclude))
        pictures_and_report(args, document, done, overlap, out)
        path = out.commit(document)
        runtime.STATUS["output_done"] = True
    except BaseException:
        if out is not None:
            out.abandon()
        raise
    runtime.logger.info("wrote %d campaign(s) to %s (%d skipped)",
                        len(done), path, len(skipped))


def config_options(args):
    """The config keys this tool's options set (merged by the loader)."""
    return {} if args.diagnose is None else {"expand.diagnose": args.diagnose}


def main(argv=None):
    return cli.run("MetaHeac audience expansion", run, argv, add_arguments,
                   config_options)


if __name__ == "__main__":
    sys.exit(main())
