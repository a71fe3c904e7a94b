"""Write the sample data under data/ (see synthetic/generator.py for what the
generator plants). ``python tools/make_sample_data.py [--out data] [--seed]``.

Layout: data/train/train_stage1.pkl, data/test/test_stage{1,2}.pkl (hot
campaigns), data/test_cold/test_cold_stage{1,2}.pkl (cold campaigns), and
data/max_idxs.yaml, which ``max_idxs: auto`` in config.yaml reads.
"""
import os

try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402

if __name__ == "__main__":   # one line, not a traceback, without them
    runtime.require_environment(("numpy", "pandas", "yaml"))
from dataio.vocabulary import MAX_IDXS_FILE  # noqa: E402
from synthetic import generator  # noqa: E402
from synthetic.datasets import write_stages  # noqa: E402


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data"))
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args(argv)
    spec = generator.SAMPLE
    stages = generator.generate(spec, args.seed)
    for name, path in write_stages(stages, args.out, spec).items():
        arrays = stages[name]
        print("%-18s %6d rows, %3d campaigns, positive rate %.3f -> %s" %
              (name, len(arrays["label"]), len(set(arrays["aid"].tolist())),
               arrays["label"].mean(), path))
    print("hyper_parameters.max_idxs (in %s): %s" % (
        os.path.join(args.out, MAX_IDXS_FILE), spec.max_idxs()))


if __name__ == "__main__":
    main()
