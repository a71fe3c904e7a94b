"""Export a model for serving as a Paddle inference model.

    python tools/export.py -m config.yaml --out DIR [--overwrite]
    python tools/export.py -m config.yaml --aid A --seeds SEEDS
        [--candidates CANDS] --out DIR

Without ``--aid``: the meta-trained model (``expand.checkpoint``, by default
the last meta-test checkpoint). With ``--aid``: campaign A's model,
fine-tuned on its rows of SEEDS exactly as tools/expand.py does (seeds
without negatives need CANDS to draw negatives from). Writes DIR/model.json
and DIR/model.pdiparams (``paddle.jit.save``; inputs ``static`` [N, 7],
``dynamic`` [N, 50], ``lengths`` [N, 7], ``ad`` [N, 6], int64; output the
scores [N]) and DIR/export.json describing them. An existing DIR is refused
(exit 2) unless ``--overwrite``.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runkit import cli, runtime  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--aid", type=int, default=None,
                        help="export this campaign's fine-tuned model")
    parser.add_argument("--seeds", help="stage file holding the campaign's seeds")
    parser.add_argument("--candidates",
                        help="stage file of candidates to draw negatives "
                        "from, for seeds without negatives")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out folder")


def campaign_weights(config, args, model_class, model, init_state):
    """The campaign's fine-tuned weights over the full tables."""
    from dygraph_model import campaign_rng
    from audience.expansion import seeds_with_negatives
    from audience.serving import full_weights
    from audience.sources import feature_row_campaigns
    if not args.seeds:
        raise ValueError("--aid needs --seeds, the file holding its seeds")
    campaigns = feature_row_campaigns(args.seeds, args.candidates or args.seeds,
                                      config)
    campaign = next((c for c in campaigns if c.aid == args.aid), None)
    if campaign is None:
        raise ValueError("campaign %d has no seeds in %s%s" % (
            args.aid, args.seeds, "" if not args.candidates else
            " or no candidates in %s" % args.candidates))
    if not args.candidates:
        if campaign.seed_y is None or not (campaign.seed_y == 0).any():
            raise ValueError("the seeds of campaign %d hold no negative: give "
                             "--candidates to draw negatives from" % args.aid)
    rng = campaign_rng(config, args.aid)   # the expansion's stream
    x, y, _ = seeds_with_negatives(campaign, config.get("expand.negative_ratio"),
                                   rng)
    no_candidates = [a[:0] for a in campaign.cand_x]
    packed, rows, _ = model_class.finetune(model, init_state, x, y,
                                           no_candidates, config, rng)
    return full_weights(model, init_state, packed, rows)


def export(config, args):
    from audience import serving
    from audience.expansion import checkpoint_path, load_model
    from audience.output import OutputDir
    out = OutputDir(args.out, overwrite=args.overwrite)  # refused early
    try:
        runtime.prepare(config)
        model_class, model, init_state = load_model(config)
        if args.aid is None:
            weights = serving.full_weights(model, init_state)
        else:
            weights = campaign_weights(config, args, model_class, model,
                                       init_state)
        serving.save(serving.ServingModel(model, weights),
                     os.path.join(out.tmp, "model"))
        path = out.commit({
            "checkpoint": checkpoint_path(config), "aid": args.aid,
            "seeds": args.seeds, "inputs": list(serving.INPUT_NAMES),
            # folded into the tables: the model takes raw ids
            "min_id_count": model.id_map.min_count if model.id_map else None,
            "files": ["model.json", "model.pdiparams"]}, "export.json")
    except BaseException:
        out.abandon()
        raise
    runtime.logger.info("wrote %s", path)


def main(argv=None):
    return cli.run("MetaHeac model export", export, argv, add_arguments)


if __name__ == "__main__":
    sys.exit(main())
