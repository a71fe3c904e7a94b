"""A config is resolved once, before any model sees it, and not changed
afterwards: the loader returns a read-only config, every resolution step
returns a new one, and a write names the key."""
import copy
import json
import pickle

import pytest

from helpers import CONFIG, small_config
from runkit import cli
from runkit.config import (Config, ConfigError, ReadOnlyConfigError,
                           load_config, resolve_max_idxs)
from tuning import choice

WRITES = {
    "item": lambda c: c.__setitem__("runner.seed", 7),
    "del": lambda c: c.__delitem__("runner.seed"),
    "update": lambda c: c.update({"runner.seed": 7}),
    "setdefault": lambda c: c.setdefault("runner.seed", 7),
    "pop": lambda c: c.pop("runner.seed"),
    "merge": lambda c: c.__ior__({"runner.seed": 7}),
}


def test_the_loader_returns_a_read_only_config():
    config = load_config(str(CONFIG))
    assert isinstance(config, Config) and isinstance(config, dict)
    assert config["runner.seed"] == 2021


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_raises_naming_the_key(write):
    config = load_config(str(CONFIG))
    with pytest.raises(ReadOnlyConfigError, match="'runner.seed' is read-only"):
        WRITES[write](config)
    assert config["runner.seed"] == 2021
    # a bug of the caller, not bad input: the tools show its traceback
    assert not isinstance(ReadOnlyConfigError("x"), ValueError)


def test_every_write_is_refused():
    config = load_config(str(CONFIG))
    for write in (config.clear, config.popitem):
        with pytest.raises(ReadOnlyConfigError, match="read-only"):
            write()
    with pytest.raises(ReadOnlyConfigError):
        config["runner.seed"] += 1
    assert len(config) > 50 and config["runner.seed"] == 2021


def test_a_changed_config_is_a_new_one_checked_like_an_override():
    config = load_config(str(CONFIG))
    changed = config.with_overrides({"expand.diagnose": False})
    assert isinstance(changed, Config) and changed is not config
    assert changed["expand.diagnose"] is False
    assert config["expand.diagnose"] is True
    assert {k: v for k, v in changed.items() if k != "expand.diagnose"} == \
        {k: v for k, v in config.items() if k != "expand.diagnose"}
    with pytest.raises(ConfigError, match="unknown config key 'expand.diagnos'"):
        config.with_overrides({"expand.diagnos": False})
    with pytest.raises(ConfigError, match="'runner.epochs'.*must be int"):
        config.with_overrides({"runner.epochs": "2"})


def test_it_reads_copies_and_travels_as_a_dict():
    config = load_config(str(CONFIG))
    for twin in (pickle.loads(pickle.dumps(config)), copy.copy(config),
                 copy.deepcopy(config)):
        assert isinstance(twin, Config) and twin == config
    assert json.loads(json.dumps(config)) == dict(config)
    plain = dict(config)   # a plain copy may be changed: it is a new object
    plain["runner.seed"] = 7
    assert config["runner.seed"] == 2021


def test_max_idxs_are_resolved_into_a_new_config():
    config = load_config(str(CONFIG))
    assert config["hyper_parameters.max_idxs"] == "auto"
    resolved, source = resolve_max_idxs(config)
    assert isinstance(resolved, Config) and source.endswith("max_idxs.yaml")
    assert len(resolved["hyper_parameters.max_idxs"]) == 3
    assert config["hyper_parameters.max_idxs"] == "auto"


def test_the_meta_test_settings_are_a_new_config():
    auto = small_config().with_overrides(
        {key: "auto" for key in choice.SEARCHED})
    manifest = {"meta_validation": {"chosen": {choice.LEARNING_RATE: 0.01}}}
    resolved, sources = choice.resolved(auto, manifest, announce=False)
    assert isinstance(resolved, Config)
    assert resolved[choice.LEARNING_RATE] == 0.01
    assert resolved[choice.PASSES] == choice.fallback()[choice.PASSES]
    assert sources[choice.LEARNING_RATE] == "meta-validated"
    assert all(auto[key] == "auto" for key in choice.SEARCHED)
    # nothing auto: the same settings, still read-only
    again, sources = choice.resolved(resolved, manifest, announce=False)
    assert again == resolved and set(sources.values()) == {"config"}


def test_a_tool_job_gets_the_resolved_config_with_its_options_merged():
    from tools import expand
    seen = []

    def job(config, args):
        seen.append(config)
    argv = ["-m", str(CONFIG), "--seeds", "s.pkl", "--candidates", "c.pkl",
            "--out", "o", "--no-diagnose"]
    assert cli.run("test", job, argv, expand.add_arguments,
                   expand.config_options) == 0
    (config, ) = seen
    assert isinstance(config, Config)
    assert config["expand.diagnose"] is False   # over -o and the file
    assert isinstance(config["hyper_parameters.max_idxs"], list)
    # without the option, the config's value
    seen.clear()
    cli.run("test", job, argv[:-1] + ["-o", "expand.diagnose=False"],
            expand.add_arguments, expand.config_options)
    assert seen[0]["expand.diagnose"] is False
    seen.clear()
    cli.run("test", job, argv[:-1], expand.add_arguments,
            expand.config_options)
    assert seen[0]["expand.diagnose"] is True


def test_a_job_that_writes_to_its_config_fails_with_a_traceback():
    def job(config):
        config["runner.seed"] = 1
    with pytest.raises(ReadOnlyConfigError, match="'runner.seed'"):
        cli.run("test", job, ["-m", str(CONFIG)])
