"""The meta-training settings chosen from the training data: what
``hyper_parameters.batch_size: auto`` and ``hyper_parameters.local_lr:
auto`` (the defaults) become.

The rule reads one number, the training rows (every row of the training
files, meta-validation's held-out campaigns included):

- fewer than ``LARGE_ROWS``: batch 64 and an inner step of 0.3;
- ``LARGE_ROWS`` or more: the paper's batch and inner step (512 and
  0.0002), read from the paper's profile, ``config_big.yaml``.

Why (docs/quality.md, *Meta-training settings by data size*): 64 / 0.3
win on the dense 9k-row sample (0.80 / 0.77 hot / cold GAUC against 0.76 /
0.70), the two tie on the generated 15k and 150k-row draws (3 seeds each,
within 0.004), and 512 / 0.0002 win at 445k rows (by 0.03 hot and 0.05 cold
GAUC). Every threshold between 150k and 445k agrees with every measurement;
300k is the middle of that gap on a log scale. The inner step goes with
the batch: 0.3 on 512 rows or 0.0002 on 64 were not what was measured.

A number set in the config or by ``-o`` wins, key by key. The trainer
logs the choice and records it in run.json (``meta_training``); a tool
that loads a checkpoint takes the values its run trained with
(``tuning.choice.resolved``).
"""
from runkit.config import paper_profile

BATCH_SIZE = "hyper_parameters.batch_size"
LOCAL_LR = "hyper_parameters.local_lr"
KEYS = (BATCH_SIZE, LOCAL_LR)
AUTO = "auto"
LARGE_ROWS = 300_000
SMALL = {BATCH_SIZE: 64, LOCAL_LR: 0.3}
RULE = ("batch_size and local_lr auto: %d and %g below %d training rows, "
        "the paper's (config_big.yaml) from there" % (
            SMALL[BATCH_SIZE], SMALL[LOCAL_LR], LARGE_ROWS))
BRANCHES = ("%d training rows, fewer than %d", "%d training rows, at least %d: "
            "the paper's")


def pending(config):
    """The meta-training keys still ``auto``."""
    return [key for key in KEYS if config.get(key) == AUTO]


def paper_values():
    """The paper's batch and inner step, from its profile."""
    paper = paper_profile()
    return {key: paper[key] for key in KEYS}


def rule(rows):
    """The settings for ``rows`` training rows, and which branch chose
    them."""
    if rows >= LARGE_ROWS:
        return paper_values(), BRANCHES[1] % (rows, LARGE_ROWS)
    return dict(SMALL), BRANCHES[0] % (rows, LARGE_ROWS)


def resolve(config, rows):
    """``config`` with its ``auto`` meta-training keys set by the rule for
    ``rows`` training rows (a new config), and the record for run.json:
    the rule, the rows, each key's value and where it came from."""
    values, branch = rule(rows)
    chosen = {key: values[key] for key in pending(config)}
    record = {"rule": RULE, "rows": int(rows), "branch": branch,
              "settings": {key.rsplit(".", 1)[1]: {
                  "value": chosen.get(key, config.get(key)),
                  "source": "auto" if key in chosen else "config"}
                  for key in KEYS}}
    return (config.with_overrides(chosen) if chosen else config), record


def announce(record):
    """The log line of a run's choice."""
    settings = ", ".join("%s=%s (%s)" % (name, item["value"], item["source"])
                         for name, item in record["settings"].items())
    return "meta-training settings: %s: %s (%s)" % (
        settings, record["branch"], RULE)


def from_run(config, manifest):
    """``config``'s ``auto`` meta-training keys set to the values the
    checkpoint's run trained with (``manifest``, its run.json), else the
    small-data values (a run without a record); returns ``(values, where
    they came from)``."""
    trained = dict((manifest or {}).get("config") or {})
    values, sources = {}, {}
    for key in pending(config):
        value = trained.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values[key], sources[key] = value, "the run's"
        else:
            values[key], sources[key] = SMALL[key], "fallback"
    return values, sources
