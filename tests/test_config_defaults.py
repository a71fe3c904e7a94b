"""One source of defaults: the declared keys (runkit/config_schema.py).
config.yaml states the project's recommended values and they ARE the
defaults; config_big.yaml states the paper's (tests/test_config_schema.py:
the readme's table and the profile against the declaration)."""
import yaml

from helpers import ROOT
from runkit.config import ConfigError, _flatten, load_config
from runkit.config_schema import BY_NAME, RETIRED

# keys whose value in config.yaml describes the sample data or its
# outputs, not a recommendation
DATA_KEYS = {"hyper_parameters.max_idxs", "runner.print_interval"}


def shipped(name):
    with open(ROOT / name) as f:
        return _flatten(yaml.safe_load(f))


def test_config_yaml_states_the_defaults():
    """A config that leaves a key out gets what config.yaml recommends."""
    differ = {k: (v, BY_NAME[k].default)
              for k, v in shipped("config.yaml").items()
              if k not in DATA_KEYS and not BY_NAME[k].path
              and v != BY_NAME[k].default}
    assert not differ, "config.yaml value vs default: %s" % differ


def test_a_minimal_config_gets_the_recommended_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("runner:\n  train_data_dir: data/train\n")
    config = load_config(str(path))
    full = load_config(str(ROOT / "config.yaml"))
    for key in ("hyper_parameters.local_lr", "hyper_parameters.batch_size",
                "runner.infer_min_positives", "hyper_parameters.init",
                "hyper_parameters.optimizer.local_test_learning_rate",
                "runner.infer_train_epoch"):
        assert config[key] == full[key], key


def test_config_big_states_the_papers_training_values():
    """The paper's code's values, as its authors' code has them: the one
    statement of them outside the profile, to check the profile by."""
    big = shipped("config_big.yaml")
    paper = {"hyper_parameters.local_lr": 0.0002,
             "hyper_parameters.batch_size": 512,
             "hyper_parameters.optimizer.local_test_learning_rate": 0.001,
             "hyper_parameters.optimizer.global_learning_rate": 0.001,
             "runner.infer_train_epoch": 2,
             "runner.infer_min_positives": 0,
             "hyper_parameters.init": "torch"}
    assert {k: big.get(k) for k in paper} == paper


def test_retired_paddlerec_keys_are_named_not_ignored(tmp_path):
    for key in RETIRED:
        group, name = key.rsplit(".", 1)
        path = tmp_path / "c.yaml"
        path.write_text("runner:\n  train_data_dir: d\n")
        try:
            load_config(str(path), ["%s=1" % key])
        except ConfigError as exc:
            assert key in str(exc) and "remove it" in str(exc)
        else:
            raise AssertionError("%s accepted" % key)
