"""batch_size and local_lr ``auto``: the trainer chooses them from the
training rows by the stated rule (tuning/meta_settings.py), logs it and
records it in run.json; a number set in the config wins; the tools that
load a checkpoint take the values its run trained with."""
import json
import logging

import pytest

from helpers import CONFIG, ROOT, messages
from runkit.config import ConfigError, load_config, resolve_max_idxs
from runkit.distributed import ALONE
from support.training import config_for, train_here
from tuning import choice, meta_settings

BATCH, STEP = meta_settings.BATCH_SIZE, meta_settings.LOCAL_LR


def shipped(*overrides):
    return resolve_max_idxs(load_config(str(CONFIG), list(overrides)))[0]


def test_the_shipped_config_leaves_both_to_the_rule():
    config = shipped()
    assert config[BATCH] == "auto" and config[STEP] == "auto"
    assert meta_settings.pending(config) == [BATCH, STEP]


def test_below_the_threshold_the_small_data_settings_from_it_the_papers():
    paper = load_config(str(ROOT / "config_big.yaml"), [])
    small, _ = meta_settings.resolve(shipped(), meta_settings.LARGE_ROWS - 1)
    large, record = meta_settings.resolve(shipped(), meta_settings.LARGE_ROWS)
    assert (small[BATCH], small[STEP]) == (64, 0.3)
    assert (large[BATCH], large[STEP]) == (paper[BATCH], paper[STEP]) \
        == (512, 0.0002)
    assert record["rows"] == meta_settings.LARGE_ROWS
    assert record["settings"]["batch_size"] == {"value": 512,
                                                "source": "auto"}
    assert "300000" in record["rule"]
    assert record["branch"] == "300000 training rows, at least 300000: " \
        "the paper's"


def test_a_number_in_the_config_wins_key_by_key():
    config, record = meta_settings.resolve(
        shipped("hyper_parameters.batch_size=128"), 10 ** 6)
    assert config[BATCH] == 128 and config[STEP] == 0.0002
    assert record["settings"]["batch_size"]["source"] == "config"
    assert record["settings"]["local_lr"]["source"] == "auto"
    untouched = shipped("hyper_parameters.batch_size=32",
                        "hyper_parameters.local_lr=0.1")
    assert meta_settings.resolve(untouched, 10 ** 6)[0] == untouched


@pytest.mark.parametrize("bad", ["fast", "Auto "])
def test_a_word_other_than_auto_is_refused_naming_the_key(bad):
    with pytest.raises(ConfigError, match="hyper_parameters.batch_size"):
        shipped("hyper_parameters.batch_size=%s" % bad)


def test_the_trainer_counts_every_training_row_once(monkeypatch, caplog):
    """The sample's rows, read once for the whole run (a collective run's
    ranks each see every row), choose the small-data settings; with the
    threshold moved below them, the paper's."""
    from dataio.stage_files import files_matching, read_stages
    from tools import trainer
    config = shipped()
    rows = len(read_stages(files_matching(
        [config["runner.train_data_dir"]], ".pkl"), config))
    files = files_matching([config["runner.train_data_dir"]], ".pkl")
    with caplog.at_level(logging.INFO, logger="metaheac"):
        settled, record = trainer.settle_meta_training(config, ALONE, files)
    assert record["rows"] == rows
    assert (settled[BATCH], settled[STEP]) == (64, 0.3)
    assert any("meta-training settings: batch_size=64 (auto)" in m
               for m in messages(caplog))
    monkeypatch.setattr(meta_settings, "LARGE_ROWS", rows)
    settled, _ = trainer.settle_meta_training(config, ALONE, files)
    assert (settled[BATCH], settled[STEP]) == (512, 0.0002)
    # nothing auto: nothing read, nothing recorded
    fixed = shipped("hyper_parameters.batch_size=64",
                    "hyper_parameters.local_lr=0.3")
    assert trainer.settle_meta_training(fixed, ALONE, files) == (fixed, None)


def test_run_json_records_the_choice_and_the_meta_test_takes_it(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(meta_settings, "LARGE_ROWS", 1)
    folder = tmp_path / "model"
    # the fast training config sets both: give them back to the rule
    assert train_here(folder, "hyper_parameters.batch_size=auto",
                      "hyper_parameters.local_lr=auto") == 0
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["config"][BATCH] == 512
    assert manifest["config"][STEP] == 0.0002
    assert manifest["meta_training"]["settings"]["local_lr"] == {
        "value": 0.0002, "source": "auto"}
    # a meta-test of that checkpoint, its config still auto
    asked = config_for(folder, "hyper_parameters.batch_size=auto",
                       "hyper_parameters.local_lr=auto")
    with caplog.at_level(logging.INFO, logger="metaheac"):
        resolved, sources = choice.resolved(asked, manifest)
    assert (resolved[BATCH], resolved[STEP]) == (512, 0.0002)
    assert sources[BATCH] == "the run's"
    assert any("batch_size=512 (the checkpoint's run)" in m
               for m in messages(caplog))
    assert not choice.unresolved(resolved)


def test_a_checkpoint_without_a_run_record_gets_the_small_data_values():
    resolved, sources = choice.resolved(shipped(), None, announce=False)
    assert (resolved[BATCH], resolved[STEP]) == (64, 0.3)
    assert sources[STEP] == "fallback"
    assert choice.unresolved(shipped()) [-2:] == [BATCH, STEP]


def test_the_reader_alone_names_an_unresolved_batch():
    import reader_train
    with pytest.raises(ValueError, match="hyper_parameters.batch_size is 'auto'"):
        reader_train.RecDataset(None, shipped(), stage=object())
