"""PaddleRec-style configuration: a YAML file flattened to dotted keys.

``load_config`` returns a read-only dict (:class:`Config`) such as
``{"runner.epochs": 2, "hyper_parameters.local_lr": 0.0002, ...}`` so that
``config.get("hyper_parameters.local_lr")`` works as in PaddleRec. Every key
a tool reads is declared in ``KNOWN_KEYS`` with its type and default, so a
typo in the YAML or in ``-o key=value`` is an error naming the key instead of
a silently ignored setting.

A config is resolved once, before any model sees it, and never changed
afterwards: ``load_config`` merges the file, the ``-o`` overrides and the
tool's own options; :func:`resolve_max_idxs` reads ``max_idxs: auto``
beside the data; ``tuning.choice.resolved`` fills the meta-test's ``auto``
keys from a checkpoint's run. Each returns a new :class:`Config`; code that
needs other values makes one with :meth:`Config.with_overrides` and passes
it on, so a value read anywhere is the value the run was started with.
"""
import os

import yaml

from runkit.near_names import did_you_mean, near

_NUM = (int, float)
_OPT_STR = (str, type(None))

# key: (accepted types, default). A default of None means "no default".
KNOWN_KEYS = {
    "runner.train_data_dir": (str, None),
    "runner.train_reader_path": (str, "reader_train"),
    "runner.infer_reader_path": (str, "reader_test"),
    "runner.test_data_dir": (_OPT_STR, None),
    "runner.test_cold_data_dir": (_OPT_STR, None),
    "runner.use_gpu": (bool, False),
    "runner.use_auc": (bool, True),
    "runner.epochs": (int, 1),
    "runner.print_interval": (int, 10),
    "runner.model_save_path": (str, "output_model"),
    "runner.model_init_path": (_OPT_STR, None),
    "runner.infer_load_path": (str, "output_model"),
    "runner.infer_start_epoch": (int, 0),
    "runner.infer_end_epoch": (int, 1),
    # auto (the searched keys of meta-validation, tuning/choice.py): the
    # run's meta-validated value, else the paper's
    "runner.infer_train_epoch": ((int, str), "auto"),
    # share of a campaign's seeds held out to pick the number of fine-tuning
    # passes (0: no hold-out, all infer_train_epoch passes)
    "runner.infer_holdout": (_NUM, 0.0),
    # campaigns with fewer positive seeds are scored without fine-tuning
    "runner.infer_min_positives": (int, 1),
    # the weight of a logistic regression on the campaign's own seeds in a
    # blend of standardised logits with the fine-tuned network
    # (adaptation/blend.py), and that regression's inverse regularisation
    "runner.infer_seed_blend": ((int, float, str), "auto"),
    "runner.infer_seed_c": (_NUM, 0.01),
    "runner.infer_result_path": (_OPT_STR, None),
    "runner.seed": (int, 2021),
    "runner.num_threads": (int, 0),
    "runner.cache_dir": (_OPT_STR, None),
    "runner.use_cache": (bool, True),
    "runner.save_scores": (bool, False),
    "runner.resume": (bool, False),
    "runner.overwrite": (bool, False),
    # several processes under python -m paddle.distributed.launch
    "runner.use_fleet": (bool, False),
    # VisualDL training curves (runkit/curves.py), as PaddleRec's trainer
    "runner.use_visual": (bool, False),
    "runner.visual_log_path": (str, "visualDL_log"),
    # "auto": from the data folder (dataio.vocabulary)
    "hyper_parameters.max_idxs": ((list, str), "auto"),
    "hyper_parameters.embed_dim": (int, 64),
    "hyper_parameters.mlp_dims": (list, [64, 64]),
    "hyper_parameters.num_expert": (int, 8),
    "hyper_parameters.num_output": (int, 5),
    # the weights' start: torch (the paper's code) or xavier (Paddle's)
    "hyper_parameters.init": (str, "torch"),
    # ids seen fewer times in the training rows share their field's one
    # learned out-of-vocabulary row (dataio/rare_ids.py); 0 or 1: off
    "hyper_parameters.min_id_count": (int, 0),
    "hyper_parameters.task_count": (int, 5),
    # auto: from the training rows (tuning/meta_settings.py)
    "hyper_parameters.batch_size": ((int, str), "auto"),
    # True: a task's support and query sets share no row (reader_train)
    "hyper_parameters.disjoint_query": (bool, False),
    "hyper_parameters.local_lr": ((int, float, str), "auto"),
    "hyper_parameters.inner_steps": (int, 1),
    "hyper_parameters.meta_order": (int, 2),
    "hyper_parameters.sample_method": (str, "normal"),
    "hyper_parameters.method": (str, "metaheac"),
    "hyper_parameters.optimizer.class": (str, "adam"),
    "hyper_parameters.optimizer.global_learning_rate": (_NUM, 0.001),
    "hyper_parameters.optimizer.local_test_learning_rate": (
        (int, float, str), "auto"),
    # the meta-test fine-tuning: adam or sgd at local_test_learning_rate for
    # infer_train_epoch passes, or maml: the inner loop's own update
    # (inner_steps full-batch SGD steps at local_lr)
    "hyper_parameters.optimizer.local_test_optimizer": (str, "adam"),
    "hyper_parameters.optimizer.lazy_mode": (bool, False),
    # meta-validation (tuning/): the share of training campaigns held out
    # (0: none, the meta-test settings are the config's or the paper's),
    # at least min_campaigns of them; the grid searched on them; the most
    # seeds and candidates of a held-out campaign (time)
    "tuning.share": (_NUM, 0.1),
    "tuning.min_campaigns": (int, 3),
    "tuning.folds": (int, 3),
    "tuning.learning_rates": (list, [0.001, 0.003, 0.01]),
    "tuning.passes": (list, [2, 5]),
    "tuning.seed_blends": (list, [0.5]),
    "tuning.max_seeds": (int, 8000),
    "tuning.cold_seeds": (int, 100),
    "tuning.max_candidates": (int, 3000),
    # tools/expand.py
    "expand.min_seeds": (int, 10),
    "expand.negative_ratio": (_NUM, 3.0),
    "expand.checkpoint": (_OPT_STR, None),
    # users of a user table scored per pass (memory holds one chunk)
    "expand.chunk_rows": (int, 65536),
    # k-fold cross-validation on each campaign's seeds before it is
    # expanded (audience/diagnostics.py): expected AUC, precision per tier
    "expand.diagnose": (bool, True),
    "expand.diagnose_folds": (int, 5),
    # the folds dealt again this many times: a narrower interval for as
    # many more fine-tunings
    "expand.diagnose_repeats": (int, 2),
    # the least expected AUC worth paying for: the interval above it is
    # distinctive, below it not, across it too few seeds to judge
    "expand.diagnose_level": (_NUM, 0.6),
}

# PaddleRec keys this project has no use for: named, with the reason,
# instead of accepted and silently ignored
RETIRED_KEYS = {
    "runner.use_inference": "PaddleRec's switch for its inference engine; "
                            "tools/export.py writes a model for it",
    "hyper_parameters.optimizer.strategy": "PaddleRec's parameter-server "
                                           "mode; collective runs are "
                                           "runner.use_fleet",
}

CHOICES = {
    "hyper_parameters.sample_method": ("normal", "sqrt", "unit"),
    "hyper_parameters.meta_order": (1, 2),
    "hyper_parameters.optimizer.class": ("adam", ),
    "hyper_parameters.method": ("metaheac", "pooled", "scratch"),
    "hyper_parameters.init": ("torch", "xavier"),
    "hyper_parameters.optimizer.local_test_optimizer": ("adam", "sgd", "maml"),
}


# key: (lowest allowed, whether the lowest itself is allowed); an
# out-of-range value is an error naming the key, the value and the range
RANGES = {
    "runner.epochs": (1, True),
    "runner.print_interval": (1, True),
    "runner.num_threads": (0, True),          # 0: every core
    "runner.infer_start_epoch": (0, True),
    "runner.infer_end_epoch": (1, True),
    "runner.infer_train_epoch": (0, True),
    "runner.infer_holdout": (0, True),
    "runner.infer_min_positives": (0, True),
    "runner.seed": (0, True),
    "runner.infer_seed_blend": (0, True),
    "runner.infer_seed_c": (0, False),
    "hyper_parameters.embed_dim": (1, True),
    "hyper_parameters.num_expert": (1, True),
    "hyper_parameters.num_output": (1, True),
    "hyper_parameters.task_count": (1, True),
    "hyper_parameters.min_id_count": (0, True),   # 0 or 1: off
    "hyper_parameters.batch_size": (1, True),
    "hyper_parameters.inner_steps": (0, True),  # 0: no inner loop
    "hyper_parameters.local_lr": (0, True),
    "hyper_parameters.optimizer.global_learning_rate": (0, False),
    "hyper_parameters.optimizer.local_test_learning_rate": (0, False),
    "tuning.share": (0, True),
    "tuning.min_campaigns": (1, True),
    "tuning.folds": (2, True),
    "tuning.max_seeds": (1, True),
    "tuning.cold_seeds": (1, True),
    "tuning.max_candidates": (1, True),
    "expand.min_seeds": (1, True),
    "expand.negative_ratio": (0, True),
    "expand.chunk_rows": (1, True),
    "expand.diagnose_folds": (2, True),
    "expand.diagnose_repeats": (1, True),
    "expand.diagnose_level": (0, True),
}


# key: the value it must stay below
BELOW = {
    "runner.seed": 2 ** 32,   # numpy's and Paddle's seeds are 32-bit
    "tuning.share": 1,
    "expand.diagnose_level": 1,
}

# keys that may be "auto": the meta-test's, resolved by the tool that loads
# a checkpoint; the meta-training's, by the trainer from the training rows
AUTO_KEYS = ("hyper_parameters.optimizer.local_test_learning_rate",
             "runner.infer_train_epoch", "runner.infer_seed_blend",
             "hyper_parameters.batch_size", "hyper_parameters.local_lr")
# tuning.* grid: key -> (the key whose range each value must satisfy)
GRID_KEYS = {"tuning.learning_rates":
             "hyper_parameters.optimizer.local_test_learning_rate",
             "tuning.passes": "runner.infer_train_epoch",
             "tuning.seed_blends": "runner.infer_seed_blend"}


class ConfigError(ValueError):
    pass


class ReadOnlyConfigError(TypeError):
    """A write to a resolved config: a bug of the caller (a TypeError, so
    the tools show its traceback), named with the key."""


class Config(dict):
    """A resolved config: a dict to read (``get``, ``[]``, ``items``,
    ``dict(config)``, JSON) whose every write raises
    :class:`ReadOnlyConfigError` naming the key. A changed config is a new
    object: :meth:`with_overrides`."""
    __slots__ = ()

    def with_overrides(self, changes):
        """A new Config: this one with ``changes`` ({key: value}), each key
        checked as a ``-o`` override is (known, of its type)."""
        for key, value in changes.items():
            _check(key, value, "with_overrides")
        return Config(dict(self, **changes))

    def _refuse(self, *keys):
        named = ", ".join(repr(k) for k in keys)
        raise ReadOnlyConfigError(
            "config %s read-only: a config is resolved once, before any "
            "model sees it, and not changed afterwards; pass on a changed "
            "copy instead (config.with_overrides({%s: ...}))" % (
                "key %s is" % named if len(keys) == 1 else
                "keys %s are" % named if keys else "keys are",
                named if len(keys) == 1 else "key"))

    def __setitem__(self, key, value):
        self._refuse(key)

    def __delitem__(self, key):
        self._refuse(key)

    def setdefault(self, key, default=None):
        self._refuse(key)

    def pop(self, key, *default):
        self._refuse(key)

    def update(self, *args, **kwargs):
        self._refuse(*dict(*args, **kwargs))

    def __ior__(self, other):
        self._refuse(*dict(other))

    def popitem(self):
        self._refuse()

    def clear(self):
        self._refuse()

    def __reduce__(self):
        # pickle and copy rebuild it whole (the default sets item by item)
        return Config, (dict(self), )

    def __repr__(self):
        return "Config(%s)" % dict.__repr__(self)


def frozen(config):
    """``config`` as a :class:`Config` (itself when it is one)."""
    return config if isinstance(config, Config) else Config(config)


def _check_ranges(config, path):
    for key, (low, inclusive) in RANGES.items():
        value, high = config[key], BELOW.get(key)
        if value == "auto" and key in AUTO_KEYS:
            continue
        if value < low or (value == low and not inclusive) or value != value \
                or (high is not None and value >= high):
            raise ConfigError("config key %r is %r; it must be %s %s%s (in %s "
                              "or its -o overrides)" % (
                                  key, value, ">=" if inclusive else ">", low,
                                  "" if high is None else " and < %d" % high,
                                  path))
    if config["runner.infer_holdout"] and config[
            "hyper_parameters.optimizer.local_test_optimizer"] == "maml":
        raise ConfigError("runner.infer_holdout chooses a number of passes, "
                          "which local_test_optimizer maml does not make "
                          "(it takes inner_steps full-batch steps): set one "
                          "of them otherwise (in %s or its -o overrides)" %
                          path)
    if config["runner.infer_seed_blend"] != "auto" and \
            config["runner.infer_seed_blend"] > 1:
        raise ConfigError("config key 'runner.infer_seed_blend' is %r; it must "
                          "be <= 1 (the seeds' model's weight in the blend; in "
                          "%s or its -o overrides)" % (
                              config["runner.infer_seed_blend"], path))
    _check_grid(config, path)
    if config["runner.infer_holdout"] >= 1:
        raise ConfigError("config key 'runner.infer_holdout' is %r; it must be "
                          "< 1 (a share of the seeds; in %s or its -o "
                          "overrides)" % (config["runner.infer_holdout"], path))
    dims = config["hyper_parameters.mlp_dims"]
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and
                           d >= 1 for d in dims):
        raise ConfigError("config key 'hyper_parameters.mlp_dims' is %r; it "
                          "must be a non-empty list of integers >= 1" % (dims, ))
    start, end = config["runner.infer_start_epoch"], config["runner.infer_end_epoch"]
    if start >= end:
        raise ConfigError(
            "runner.infer_start_epoch (%d) must be below runner.infer_end_epoch "
            "(%d): epochs start .. end-1 are meta-tested" % (start, end))


def _check_grid(config, path):
    """Every value of a tuning.* list is one its searched key accepts."""
    for grid_key, key in GRID_KEYS.items():
        values = config[grid_key]
        low, inclusive = RANGES[key]
        types = (int, ) if key == "runner.infer_train_epoch" else (int, float)
        high = 1 if key == "runner.infer_seed_blend" else None
        bad = [v for v in values if isinstance(v, bool) or
               not isinstance(v, types) or v < low or
               (v == low and not inclusive) or (high is not None and v > high)]
        if not values or bad:
            raise ConfigError(
                "config key %r is %r; it must be a non-empty list of values "
                "of %s (%s %s%s; in %s or its -o overrides)" % (
                    grid_key, values, key, ">=" if inclusive else ">", low,
                    "" if high is None else ", <= %s" % high, path))


def _flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _type_name(types):
    types = types if isinstance(types, tuple) else (types, )
    return " or ".join("null" if t is type(None) else t.__name__
                       for t in types)


def _coerce(key, value):
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; numeric keys take it."""
    types = KNOWN_KEYS.get(key, ((), ))[0]
    types = types if isinstance(types, tuple) else (types, )
    if float in types and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _normal(key, value):
    """Choices are lower case; PaddleRec's configs write ``class: Adam``."""
    if key in CHOICES and isinstance(value, str):
        return value.lower()
    return value


def near_keys(key):
    """The declared keys ``key`` is probably a typo of: the keys of the
    same last name in another section (``hyper_parameters.epochs``), else
    the nearest by edit distance (``runner.epoch``: ``runner.epochs``)."""
    leaf = key.split(".")[-1]
    return [k for k in KNOWN_KEYS if k.split(".")[-1] == leaf] or \
        near(key, KNOWN_KEYS)


def _check(key, value, source):
    if key in RETIRED_KEYS:
        raise ConfigError("config key %r in %s is not used by this project "
                          "(%s): remove it" % (key, source, RETIRED_KEYS[key]))
    if key not in KNOWN_KEYS:
        raise ConfigError("unknown config key %r in %s%s" % (
            key, source, did_you_mean(near_keys(key))))
    types, _ = KNOWN_KEYS[key]
    # bool is an int subclass: "epochs: true" must not pass as an int
    ok = isinstance(value, types) and not (
        isinstance(value, bool) and bool not in (
            types if isinstance(types, tuple) else (types, )))
    if not ok:
        raise ConfigError("config key %r in %s must be %s, got %r" %
                          (key, source, _type_name(types), value))
    if key == "hyper_parameters.max_idxs" and isinstance(value, str) and \
            value != "auto":
        raise ConfigError("config key %r in %s must be a list of three lists "
                          "or auto, got %r" % (key, source, value))
    if key in AUTO_KEYS and isinstance(value, str) and value != "auto":
        raise ConfigError("config key %r in %s must be a number or auto, got "
                          "%r" % (key, source, value))
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError("config key %r in %s must be one of %s, got %r" %
                          (key, source, list(CHOICES[key]), value))


def parse_override(text):
    """``key=value`` with the value parsed as YAML (lists, booleans, null)."""
    if "=" not in text:
        raise ConfigError("override %r must look like key=value" % text)
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError("override %r: value is not valid YAML (%s)" %
                          (text, exc))
    return key.strip(), _coerce(key.strip(), value)


def load_config(path, overrides=(), options=None):
    """Read ``path``, apply ``key=value`` overrides, then ``options`` (the
    config keys a tool's own command-line options set, {key: value}), fill
    defaults, validate; a read-only :class:`Config`.

    Relative data and output paths are resolved against the config file's
    folder, as PaddleRec does, so the tools work from any working directory.
    """
    if not os.path.isfile(path):
        raise ConfigError("config file %s does not exist" % path)
    with open(path) as f:
        try:
            tree = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise ConfigError("config file %s is not valid YAML: %s" %
                              (path, exc))
    if not isinstance(tree, dict):
        raise ConfigError("config file %s must hold a mapping" % path)
    config = {}
    for key, value in _flatten(tree).items():
        value = _normal(key, _coerce(key, value))
        _check(key, value, path)
        config[key] = value
    for text in overrides or ():
        key, value = parse_override(text)
        value = _normal(key, value)
        _check(key, value, "-o %s" % text)
        config[key] = value
    for key, value in (options or {}).items():
        _check(key, value, "the command line")
        config[key] = value
    for key, (_, default) in KNOWN_KEYS.items():
        config.setdefault(key, default)
    _check_ranges(config, path)
    for key in ("runner.train_data_dir", ):
        if config[key] is None:
            raise ConfigError("config key %r is required (in %s)" % (key, path))
    config["config_abs_dir"] = os.path.dirname(os.path.abspath(path))
    for key in ("runner.train_data_dir", "runner.test_data_dir",
                "runner.test_cold_data_dir", "runner.model_save_path",
                "runner.model_init_path", "runner.infer_load_path",
                "runner.infer_result_path", "runner.cache_dir",
                "runner.visual_log_path", "expand.checkpoint"):
        if config[key]:
            config[key] = os.path.join(config["config_abs_dir"],
                                       os.path.expanduser(config[key]))
    return Config(config)


def resolve_max_idxs(config):
    """``config`` with ``max_idxs: auto`` replaced by the maxima found
    beside the data (``dataio.vocabulary.find_max_idxs``), as a new
    :class:`Config`; returns ``(config, where the maxima came from)``."""
    from dataio.vocabulary import KEY, find_max_idxs
    value, source = find_max_idxs(config)
    config = frozen(config)
    if config.get(KEY) == "auto":
        config = config.with_overrides({KEY: value})
    return config, source
