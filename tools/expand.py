"""Expand audiences: for each campaign of the seed file, the candidates most
like its seeds, ranked, from the meta-trained model fine-tuned on the seeds.

    python tools/expand.py -m config.yaml --seeds SEEDS --candidates CANDS
        --out DIR [--top 0.05] [--overwrite] [-o key=value ...]

SEEDS and CANDS are stage files (pickled DataFrames in the released format;
no ``label`` column needed; a ``uid`` column, else the row index, names the
users). The model is ``expand.checkpoint`` or, by default, the last
meta-test checkpoint (``runner.infer_load_path``/``infer_end_epoch - 1``).
Writes DIR/<aid>/audience.csv (uid,score,rank,percentile: the best ``--top``
of the candidates, a fraction or a count), DIR/<aid>/scores.csv (every
candidate) and DIR/summary.json. Seeds are never in their own audience;
seeds without negatives get ``expand.negative_ratio`` negatives per seed
drawn from the candidates (left out of the audience); campaigns with fewer
than ``expand.min_seeds`` seeds are skipped with a warning. An existing DIR
is refused (exit 2) unless ``--overwrite``.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runkit import cli, runtime  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--seeds", required=True, help="seed users' stage file")
    parser.add_argument("--candidates", required=True,
                        help="candidate users' stage file")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--top", default="0.05",
                        help="audience size: a fraction of the candidates "
                        "(0 < x < 1) or a count (default 0.05)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out folder")


def run(config, args):
    from audience.expansion import expand, parse_top
    from audience.output import OutputDir, summary_document
    from audience.sources import feature_row_campaigns
    top = parse_top(args.top)
    out = OutputDir(args.out, overwrite=args.overwrite)  # refused early
    try:
        runtime.prepare(config)
        campaigns = feature_row_campaigns(args.seeds, args.candidates, config)
        expansions, skipped = expand(config, campaigns, top,
                                     on_result=out.write_expansion)
        path = out.commit(summary_document(config, expansions, skipped, top))
    except BaseException:
        out.abandon()
        raise
    runtime.logger.info("wrote %d campaign(s) to %s (%d skipped)",
                        len(expansions), path, len(skipped))


def main(argv=None):
    return cli.run("MetaHeac audience expansion", run, argv, add_arguments)


if __name__ == "__main__":
    sys.exit(main())
