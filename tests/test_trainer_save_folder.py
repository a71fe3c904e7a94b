"""The trainer's save folder (in-process,
support.training.train_here): a failed or refused run leaves no empty save folder it
made; a refused run touches nothing, not even an interrupted save's
leftovers; the free space is checked before the data are read."""
import logging
import os
import shutil
import pytest

from dataio.vocabulary import read_max_idxs_file
from helpers import ROOT, errors, yaml_list
from support.training import flip_a_byte, train_here

MAXIMA = "hyper_parameters.max_idxs=%s" % yaml_list(
    [list(m) for m in read_max_idxs_file(str(ROOT / "data" /
                                             "max_idxs.yaml"))])


# -------------------------------------- no empty save folder left behind
def test_an_empty_training_folder_leaves_no_save_folder(tmp_path, caplog):
    empty = tmp_path / "train"
    empty.mkdir()
    save = tmp_path / "runs" / "m"
    assert train_here(save, MAXIMA, "runner.train_data_dir=%s" % empty) == 1
    assert "runner.train_data_dir" in errors(caplog)[0]
    assert not (tmp_path / "runs").exists()   # and the parent it made


@pytest.mark.slow
def test_a_damaged_warm_start_leaves_no_save_folder(copy_of, tmp_path):
    params = copy_of() / "0" / "rec.pdparams"
    flip_a_byte(params)
    warm = tmp_path / "w"
    assert train_here(warm, "runner.model_init_path=%s" % params) == 1
    assert not warm.exists()


def test_a_failed_run_keeps_a_save_folder_it_did_not_make(tmp_path):
    empty = tmp_path / "train"
    empty.mkdir()
    save = tmp_path / "m"
    save.mkdir()
    assert train_here(save, MAXIMA, "runner.train_data_dir=%s" % empty) == 1
    assert save.is_dir() and os.listdir(save) == []


# ---------------------------------------- the room before the data are read
def test_the_room_is_checked_before_the_data_are_read(tmp_path, caplog,
                                                      monkeypatch):
    caplog.set_level(logging.INFO)
    real = shutil.disk_usage
    save = tmp_path / "m"
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(
        free=1024) if os.path.abspath(path) == str(save) else real(path))
    # no training data: reading them would fail first
    assert train_here(save, MAXIMA, "runner.train_data_dir=%s" % (
        tmp_path / "nowhere")) == 1
    (line, ) = errors(caplog)
    assert "runner.model_save_path %s has 0.0 MB free" % save in line
    assert "free space there" in line
    assert "train_data_dir" not in line
    assert not save.exists()


# ---------------------------------------- a refusal touches nothing at all
def test_a_refused_run_keeps_an_interrupted_saves_leftovers(copy_of, caplog):
    folder = copy_of()
    leftover = folder / ".2.tmp-abcd"
    leftover.mkdir()
    (leftover / "rec.pdparams").write_bytes(b"half")
    before = sorted(os.listdir(folder))
    assert train_here(folder) == 2   # another run's checkpoints are there
    assert "runner.resume=True" in errors(caplog)[0]
    assert sorted(os.listdir(folder)) == before
    assert (leftover / "rec.pdparams").read_bytes() == b"half"
