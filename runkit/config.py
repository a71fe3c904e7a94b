"""PaddleRec-style configuration: a YAML file flattened to dotted keys.

``load_config`` returns a read-only dict (:class:`Config`) such as
``{"runner.epochs": 2, "hyper_parameters.local_lr": 0.5, ...}`` so that
``config.get("hyper_parameters.local_lr")`` works as in PaddleRec. Every key
a tool reads is declared once, in :mod:`runkit.config_schema`, and every
check here is derived from that declaration, so a typo in the YAML or in
``-o key=value`` is an error naming the key instead of a silently ignored
setting.

A config is resolved once, before any model sees it, and never changed
afterwards: ``load_config`` merges the file, the ``-o`` overrides and the
tool's own options; :func:`resolve_max_idxs` reads ``max_idxs: auto``
beside the data; ``tuning.choice.resolved`` fills the meta-test's ``auto``
keys from a checkpoint's run. Each returns a new :class:`Config`; code that
needs other values makes one with :meth:`Config.with_overrides` and passes
it on, so a value read anywhere is the value the run was started with.
"""
import functools
import os
import re

import yaml

from runkit.config_schema import BY_NAME, KEYS, RETIRED, bounds, type_name
from runkit.near_names import did_you_mean, near

# the profile that states the paper's values (its keys marked "# paper":
# where the paper's code departs from the defaults)
PAPER_PROFILE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "config_big.yaml")


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


def _within(key, value):
    """``value`` is inside ``key``'s declared bounds (NaN never is)."""
    if value != value:
        return False
    if key.low is not None and (value < key.low or (
            value == key.low and not key.low_inclusive)):
        return False
    return key.high is None or value < key.high or (
        value == key.high and key.high_inclusive)


def _check_ranges(config, path):
    for key in KEYS:
        value = config[key.name]
        if value == "auto" and key.accepts_auto():
            continue
        if key.each or key.grid_of:
            _check_list(key, value, path)
        elif (key.low is not None or key.high is not None) and \
                not _within(key, value):
            raise ConfigError("config key %r is %r; it must be %s (in %s or "
                              "its -o overrides)" % (
                                  key.name, value, bounds(key), path))
    _check_relations(config, path)


def _check_list(key, values, path):
    """A list of numbers: each of the declared types and bounds (a
    ``grid_of`` list: those of the key it lists values of)."""
    spec = BY_NAME[key.grid_of] if key.grid_of else key
    types = spec.each or spec.types
    bad = [v for v in values if isinstance(v, bool) or
           not isinstance(v, types) or not _within(spec, v)]
    if not values or bad:
        raise ConfigError(
            "config key %r is %r; it must be a non-empty list of %s (%s; in "
            "%s or its -o overrides)" % (
                key.name, values, "values of %s" % spec.name if key.grid_of
                else " or ".join(t.__name__ for t in types), bounds(spec),
                path))


def _check_relations(config, path):
    """The rules between keys, which no one key's declaration can say."""
    if config["runner.infer_holdout"] and config[
            "hyper_parameters.optimizer.local_test_optimizer"] == "maml":
        raise ConfigError("runner.infer_holdout chooses a number of passes, "
                          "which local_test_optimizer maml does not make "
                          "(it takes inner_steps full-batch steps): set one "
                          "of them otherwise (in %s or its -o overrides)" %
                          path)
    start, end = config["runner.infer_start_epoch"], config["runner.infer_end_epoch"]
    if start >= end:
        raise ConfigError(
            "runner.infer_start_epoch (%d) must be below runner.infer_end_epoch "
            "(%d): epochs start .. end-1 are meta-tested" % (start, end))


def _flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _coerce(name, value):
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; numeric keys take it."""
    key = BY_NAME.get(name)
    if key is None or float not in key.types:
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _normal(name, value):
    """Choices are lower case; PaddleRec's configs write ``class: Adam``."""
    key = BY_NAME.get(name)
    if key is not None and key.choices and isinstance(value, str):
        return value.lower()
    return value


def near_keys(key):
    """The declared keys ``key`` is probably a typo of: the keys of the
    same last name in another section (``hyper_parameters.epochs``), else
    the nearest by edit distance (``runner.epoch``: ``runner.epochs``)."""
    leaf = key.split(".")[-1]
    return [k.name for k in KEYS if k.leaf == leaf] or near(key, BY_NAME)


def _check(name, value, source):
    if name in RETIRED:
        raise ConfigError("config key %r in %s is not used by this project "
                          "(%s): remove it" % (name, source, RETIRED[name]))
    if name not in BY_NAME:
        raise ConfigError("unknown config key %r in %s%s" % (
            name, source, did_you_mean(near_keys(name))))
    key = BY_NAME[name]
    if key.accepts_auto() and isinstance(value, str):
        if value != "auto":
            raise ConfigError("config key %r in %s must be %s or auto, got "
                              "%r" % (name, source, key.expected(), value))
        return
    # bool is an int subclass: "epochs: true" must not pass as an int
    if not isinstance(value, key.types) or (
            isinstance(value, bool) and bool not in key.types):
        raise ConfigError("config key %r in %s must be %s, got %r" %
                          (name, source, type_name(key), value))
    if key.choices and value not in key.choices:
        raise ConfigError("config key %r in %s must be one of %s, got %r" %
                          (name, source, list(key.choices), value))


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
    for key in KEYS:
        config.setdefault(key.name, key.default)
    _check_ranges(config, path)
    for key in KEYS:
        if key.required and config[key.name] is None:
            raise ConfigError("config key %r is required (in %s)" % (
                key.name, path))
    config["config_abs_dir"] = os.path.dirname(os.path.abspath(path))
    for key in KEYS:
        if key.path and config[key.name]:
            config[key.name] = os.path.join(
                config["config_abs_dir"],
                os.path.expanduser(config[key.name]))
    return Config(config)


@functools.lru_cache(maxsize=None)
def paper_profile(path=PAPER_PROFILE):
    """The paper's settings: ``config_big.yaml`` loaded as any config is
    (read-only, so one copy serves every caller). The one place the
    paper's values are read from: the meta-test's fallback
    (tuning/choice.py), the benchmark's "paper settings", the readme."""
    if not os.path.isfile(path):
        raise ConfigError("the paper's profile %s does not exist: it states "
                          "the paper's values, which the meta-test falls "
                          "back on" % path)
    return load_config(path)


_YAML_KEY = re.compile(r"^( *)([A-Za-z_][\w]*):([^#]*)(#.*)?$")


def paper_marked(path=PAPER_PROFILE):
    """The keys the profile marks ``# paper`` (where the paper's code
    departs from the defaults), in its order: read from its comments,
    which YAML drops."""
    marked, sections = [], []
    with open(path) as f:
        for line in f:
            match = _YAML_KEY.match(line.rstrip("\n"))
            if not match:
                continue
            indent, name, value, comment = match.groups()
            while sections and sections[-1][0] >= len(indent):
                sections.pop()
            if not value.strip():
                sections.append((len(indent), name))
            elif comment and re.match(r"#\s*paper\b", comment):
                marked.append(".".join([s for _, s in sections] + [name]))
    return marked


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
