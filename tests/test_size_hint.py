"""runkit/size_hint.py: a run of the defaults on a training set of the size
where the paper's meta-training measured better is warned, and only then;
tools/trainer.py logs that warning when it reads the training data."""
import logging
from types import SimpleNamespace

from helpers import CONFIG, ROOT
from runkit import size_hint
from runkit.config import load_config
from runkit.distributed import ALONE
from runkit.config import resolve_max_idxs


def resolved_config(*overrides):
    return resolve_max_idxs(load_config(str(CONFIG), list(overrides)))[0]


def test_large_run_of_the_defaults_is_told_the_measured_alternative():
    text = size_hint.hint(resolved_config(), 445_005)
    assert "445005 training rows" in text
    assert "hyper_parameters.batch_size=512" in text
    assert "hyper_parameters.local_lr=0.0002" in text


def test_no_hint_below_the_size_or_off_the_defaults():
    assert size_hint.hint(resolved_config(), size_hint.LARGE_ROWS - 1) is None
    assert size_hint.hint(resolved_config(), size_hint.LARGE_ROWS) is not None
    for overrides in (["hyper_parameters.batch_size=512"],
                      ["hyper_parameters.local_lr=0.0002"],
                      ["hyper_parameters.method=pooled"]):
        assert size_hint.hint(resolved_config(*overrides), 10 ** 6) is None, overrides
    # config_big.yaml states the paper's values: nothing to say
    big = load_config(str(ROOT / "config_big.yaml"), [])   # its maxima stated
    assert size_hint.hint(big, 4_000_000) is None


def test_trainer_logs_it_when_reading_the_training_data(monkeypatch, caplog):
    from tools import trainer
    model = SimpleNamespace(id_map=None)
    run = SimpleNamespace(resume_from=None)
    monkeypatch.setattr(size_hint, "LARGE_ROWS", 1000)
    with caplog.at_level(logging.WARNING, logger="metaheac"):
        dataset = trainer.read_training_data(resolved_config(), ALONE, model, run)
    rows = len(dataset.stage)
    assert rows >= 1000
    assert any("%d training rows" % rows in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    monkeypatch.setattr(size_hint, "LARGE_ROWS", rows + 1)
    with caplog.at_level(logging.WARNING, logger="metaheac"):
        trainer.read_training_data(resolved_config(), ALONE, model, run)
    assert not any("training rows" in r.getMessage() for r in caplog.records)


def test_a_collective_run_counts_the_rows_once(monkeypatch, caplog):
    """Every rank reads every row (its share is of the tasks drawn), so the
    rows are not multiplied by the number of processes."""
    from tools import trainer
    model = SimpleNamespace(id_map=None)
    run = SimpleNamespace(resume_from=None)
    group = SimpleNamespace(active=True, rank=0, size=2, leader=True)
    dataset = trainer.read_training_data(resolved_config(), ALONE, model, run)
    rows = len(dataset.stage)
    monkeypatch.setattr(size_hint, "LARGE_ROWS", rows + 1)
    with caplog.at_level(logging.WARNING, logger="metaheac"):
        shared = trainer.read_training_data(resolved_config(), group, model, run)
    assert len(shared.stage) == rows
    assert not any("training rows" in r.getMessage() for r in caplog.records)
