"""What the quality measurements say about the meta-training settings at a
run's data size (docs/quality.md, *Meta-training settings by data
size*).

The defaults (``batch_size`` 64, ``local_lr`` 0.3) win on the dense sample
and tie the paper's (512, 0.0002) at 15k and 150k generated rows; at 445k
the paper's won by 0.03 hot and 0.05 cold GAUC. No one setting is best at
every size, so the defaults stay and a run of them on a large training
set is told, not silently left behind.
"""
import os

from runkit.config import KNOWN_KEYS, load_config

# between the largest size that tied (150k) and the one that lost (445k)
LARGE_ROWS = 300_000
KEYS = ("hyper_parameters.batch_size", "hyper_parameters.local_lr")
# the file that states the paper's values (one place for them)
PAPER_CONFIG = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "config_big.yaml")


def uses_defaults(config):
    """True when the run meta-trains with the defaults' batch and step."""
    return all(config.get(key) == KNOWN_KEYS[key][1] for key in KEYS)


def hint(config, rows):
    """The warning for a run of the defaults on ``rows`` training rows, or
    None when there is nothing to say."""
    if rows < LARGE_ROWS or not uses_defaults(config) or \
            config.get("hyper_parameters.method") != "metaheac":
        return None
    paper = load_config(PAPER_CONFIG, [])
    return ("%d training rows with batch_size %s and local_lr %s (the "
            "defaults, chosen on smaller data): at 445k generated rows the "
            "paper's meta-training (-o %s, as config_big.yaml) beat them by "
            "0.03 hot and 0.05 cold GAUC, at 15k and 150k rows they tied "
            "(docs/quality.md)" % (
                rows, config.get(KEYS[0]), config.get(KEYS[1]),
                " ".join("%s=%s" % (k, paper[k]) for k in KEYS)))
