"""Export a model for serving as a Paddle inference model.

    python tools/export.py -m config.yaml --out DIR [--overwrite]
    python tools/export.py -m config.yaml --aid A --seeds SEEDS
        [--candidates CANDS] [--exclude FILE] --out DIR
    python tools/export.py -m config_big.yaml --aid A --users USERS
        --ads ads.csv --seeds seeds.csv [--candidates cands.csv]
        [--exclude FILE] --out DIR

Without ``--aid``: the meta-trained model (``expand.checkpoint``, by default
the last meta-test checkpoint). With ``--aid``: campaign A's model (the
network, the seeds' regression and their blend: the scores of its
expansion), fitted on its seeds exactly as tools/expand.py fits it, in
either of its input forms (the same options: stage files, or a user table
with CSVs of uids). Seeds without negatives need candidates to draw
negatives from (CANDS in form 1; form 2 draws from the table); the draw
leaves out the users of ``--exclude FILE``, so the expansion's model is
exported only with the same candidates and FILE it had. Writes
DIR/model.json and DIR/model.pdiparams (``paddle.jit.save``; inputs
``static`` [N, 7], ``dynamic`` [N, 50], ``lengths`` [N, 7], ``ad`` [N, 6],
int64; output the scores [N]) and DIR/export.json describing them (with
``fine_tuned``, and ``not_fine_tuned_because`` when the model is the
meta-trained one, as for a campaign whose seeds hold fewer positives than
runner.infer_min_positives). An existing DIR is refused (exit 2) unless
``--overwrite`` and it is an earlier export (its export.json says so)
holding nothing else; an empty folder may be DIR.
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


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--aid", type=int, default=None,
                        help="export this campaign's fine-tuned model")
    parser.add_argument("--seeds", help="the campaign's seeds: a stage "
                        "file, or with --users a CSV of aid,uid[,label]"
                        "[,value]")
    parser.add_argument("--candidates",
                        help="the expansion's candidates, to draw negatives "
                        "from for seeds without negatives: a stage file, or "
                        "with --users a CSV of uids")
    parser.add_argument("--users", help="a user table (form 2)")
    parser.add_argument("--ads", help="with --users: CSV of aid and the ad "
                        "fields")
    parser.add_argument("--exclude", metavar="FILE",
                        help="with --aid: the --exclude file of the "
                        "expansion whose model this is (its users are not "
                        "drawn as negatives)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out folder")


def campaigns_and_table(config, args):
    """The campaigns of ``--seeds`` (form 1, or form 2 with ``--users``),
    and the user table or None."""
    from audience import sources
    if not args.seeds:
        raise ValueError("--aid needs --seeds, the file holding its seeds")
    if not args.users:
        return sources.feature_row_campaigns(
            args.seeds, args.candidates, config, "tools/export.py"), None
    from dataio.schema import IdMaxima
    from dataio.user_table import UserTable
    if not args.ads:
        raise ValueError("--users needs --ads, the ads' CSV")
    table = UserTable(args.users, IdMaxima.from_config(
        config.get("hyper_parameters.max_idxs")))
    return sources.user_table_campaigns(table, args.seeds, args.ads,
                                        args.candidates), table


def find_campaign(campaigns, args):
    """Campaign ``--aid`` of ``campaigns``."""
    from dataio.campaign import Skipped
    for campaign in campaigns:
        if campaign.aid != args.aid:
            continue
        if isinstance(campaign, Skipped):   # its source says why
            raise ValueError("campaign %d: %s" % (args.aid, campaign.reason))
        return campaign
    raise ValueError("campaign %d has no seeds in %s: give the file that "
                     "holds them as --seeds" % (args.aid, args.seeds))


def read_excluded(args):
    """The uids ``--exclude`` leaves out for campaign ``--aid``, or None;
    checked before any work."""
    if not args.exclude:
        return None
    if args.aid is None:
        raise ValueError("--exclude applies to a campaign's model: give "
                         "--aid (the meta-trained model draws no negatives)")
    from audience.exclusions import read_exclusions
    excluded = read_exclusions(args.exclude).of(args.aid)
    runtime.logger.info("--exclude %s: %d user(s) for campaign %d",
                        args.exclude, len(excluded), args.aid)
    return excluded


def campaign_program(config, args, model_class, model, init_state,
                     excluded=None):
    """The campaign model as a program to serve (the one
    ``tools/expand.py --export`` writes: the expansion's own steps,
    ``expansion.fit_campaign``, and ``expansion.served_model``), the
    fitted campaign model, and what export.json says of its fine-tuning
    (as expand's summary does). ``excluded``: the uids of ``--exclude``,
    left out as the expansion left them."""
    from audience.expansion import fit_campaign, pool_of, served_model
    from audience.training_set import check_pool
    campaigns, table = campaigns_and_table(config, args)
    campaign = find_campaign(campaigns, args)
    if table is None:
        # without --candidates the seeds' own rows stand in: nobody to
        # draw from
        check_pool(campaign, bool(args.candidates),
                   "give --candidates to draw negatives from")
    done = fit_campaign(config, (model_class, model, init_state),
                        pool_of(model, table), campaign, excluded,
                        diagnose=False)
    candidates = args.candidates if table is None else \
        args.candidates or args.users
    record = {"seed_users": campaign.seeds,
              "seed_positives": campaign.seed_positives,
              "negatives_drawn": int(len(done.train.drawn))}
    if excluded is not None:
        record["exclude"] = os.path.abspath(args.exclude)
        record["excluded"] = done.counts["excluded"]
        if not done.counts["excluded"]:
            runtime.logger.warning(
                "--exclude %s names no candidate of campaign %d in %s: "
                "nothing was left out; check that it holds the same user "
                "ids as the candidates", args.exclude, args.aid,
                candidates or args.seeds)
    record.update(done.record)
    if len(done.train.drawn):
        # the one input the export cannot check: an expansion with
        # --exclude drew these from fewer users, so a model trained apart
        record["negatives_drawn_from"] = (
            "%s%s, leaving out its seeds%s: the expansion's model only if it "
            "had the same --candidates and --exclude" % (
                os.path.abspath(candidates), "" if table is None else
                " (%s)" % done.train.source,
                " and the %d users of --exclude" % done.counts["excluded"]
                if excluded is not None else " (no --exclude)"))
        runtime.logger.info("campaign %d: %d negatives drawn from %s",
                            args.aid, len(done.train.drawn),
                            record["negatives_drawn_from"])
    record.update(done.model.record())
    if not record["fine_tuned"]:
        runtime.logger.warning(
            "campaign %d: not fine-tuned (%s): the exported model is the "
            "meta-trained one", args.aid, record["not_fine_tuned_because"])
    if record.get("warning"):
        runtime.logger.warning("campaign %d: %s", args.aid, record["warning"])
    return served_model(model, init_state, done.model), done.model, record


def export(config, args):
    from audience.expansion import checkpoint_path, load_model
    from audience.output import OutputDir
    import math
    from dataio.atomic import check_room
    excluded = read_excluded(args)   # checked before any work
    runtime.writes_output(args.out, "--out")
    out = OutputDir(args.out, overwrite=args.overwrite,
                    summary="export.json")   # refused early
    try:
        runtime.prepare(config)
        from audience import serving   # paddle: after runtime.prepare
        config, model_class, model, init_state = load_model(config)
        # the full tables are saved: about 4 bytes a parameter
        check_room(os.path.dirname(out.path), (1 << 20) + 4 * sum(
            math.prod(p.shape) for p in model.parameters()),
            "the folder of --out", "the exported model", "--out")
        if args.aid is None:
            program = serving.ServingModel(
                model, serving.full_weights(model, init_state))
            record = {"fine_tuned": False, "not_fine_tuned_because":
                      "no --aid: the meta-trained model"}
        else:
            program, _, record = campaign_program(
                config, args, model_class, model, init_state, excluded)
        serving.save(program, os.path.join(out.tmp, "model"))
        meta = {"checkpoint": checkpoint_path(config), "aid": args.aid,
                "seeds": args.seeds and os.path.abspath(args.seeds)}
        if args.users:
            meta["users"] = os.path.abspath(args.users)
        meta.update(record)
        meta.update({"inputs": list(serving.INPUT_NAMES),
                     # folded into the tables: the model takes raw ids
                     "min_id_count": model.id_map.min_count
                     if model.id_map else None,
                     "files": ["model.json", "model.pdiparams"]})
        path = out.commit(meta)
        runtime.STATUS["output_done"] = True
    except BaseException:
        out.abandon()
        raise
    runtime.logger.info("wrote %s", path)


def main(argv=None):
    return cli.run("MetaHeac model export", export, argv, add_arguments)


if __name__ == "__main__":
    sys.exit(main())
