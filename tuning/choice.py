"""The meta-test settings a tool uses: the user's, or the run's
meta-validated choice.

The searched keys (those a ``tuning.*`` grid lists values of,
runkit/config_schema.py) may be ``auto`` (config.yaml's and the built-in
default): a tool that loads a checkpoint takes the value that
meta-validation recorded in the run's ``run.json``, or, for a run without
one (``tuning.share`` 0, an older or PaddleRec's checkpoint), the paper's
meta-test, as the paper's profile states it (:func:`fallback`). A number
set in the config or by ``-o`` always wins; the log says which value came
from where. The resolved settings are a new config (``resolved``); the one
given is not changed.
"""
import logging

from runkit.config import PAPER_PROFILE, ConfigError, frozen, paper_profile
from runkit.config_schema import searched
from tuning import meta_settings

logger = logging.getLogger("metaheac")

LEARNING_RATE = "hyper_parameters.optimizer.local_test_learning_rate"
PASSES = "runner.infer_train_epoch"
SEED_BLEND = "runner.infer_seed_blend"
# searched key: the tuning.* key listing its candidate values
SEARCHED = searched()
AUTO = "auto"


def fallback():
    """{searched key: the paper's value}, read from the paper's profile
    (config_big.yaml): the meta-test of a run that records no choice."""
    profile = paper_profile()
    values = {key: profile[key] for key in SEARCHED}
    unstated = [key for key, value in values.items() if value == AUTO]
    if unstated:
        raise ConfigError(
            "the paper's profile %s sets %s to auto: it must state the "
            "paper's value, which the meta-test falls back on" % (
                PAPER_PROFILE, ", ".join(unstated)))
    return values


def chosen(manifest):
    """The run's meta-validated settings, {} when it has none."""
    return dict(((manifest or {}).get("meta_validation") or {})
                .get("chosen") or {})


def resolved(config, manifest=None, announce=True):
    """``config`` with every ``auto`` searched key replaced by the run's
    choice (``manifest``, its run.json) or the fallback, as a new read-only
    config (``runkit.config.Config``); returns ``(that config, {key: where
    its value came from})``."""
    picked = chosen(manifest)
    # the batch and inner step the checkpoint was trained with: the
    # fine-tuning's chunks and the maml update are the run's
    values, trained_from = meta_settings.from_run(config, manifest)
    sources = {}
    for key in SEARCHED:
        if config.get(key) == AUTO:
            if key in picked:
                values[key] = picked[key]
                sources[key] = "meta-validated"
            else:
                values[key] = fallback()[key]
                sources[key] = "fallback"
        else:
            sources[key] = "config"
    config = frozen(config).with_overrides(values) if values \
        else frozen(config)
    if announce:
        _announce(config, picked, sources)
        if trained_from:
            logger.info("meta-training settings: %s", ", ".join(
                "%s=%s (%s)" % (key.rsplit(".", 1)[1], config[key],
                                "the checkpoint's run" if source ==
                                "the run's" else "the run records none")
                for key, source in trained_from.items()))
    return config, dict(sources, **trained_from)


def _announce(config, picked, sources):
    parts = []
    for key, source in sources.items():
        text = "%s=%s" % (key.rsplit(".", 1)[1], config[key])
        if source == "config" and key in picked and picked[key] != config[key]:
            text += " (set in the config; the run's meta-validated %s is " \
                    "not used)" % picked[key]
        elif source == "fallback":
            text += " (the run records no meta-validated choice: the " \
                    "paper's value)"
        elif source == "meta-validated":
            text += " (meta-validated)"
        parts.append(text)
    logger.info("meta-test settings: %s", ", ".join(parts))


def unresolved(config):
    """The searched and meta-training keys still ``auto`` (a code path
    that forgot to call ``resolved``)."""
    return [key for key in SEARCHED if config.get(key) == AUTO] + \
        meta_settings.pending(config)
