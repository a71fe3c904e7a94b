"""The meta-test's scores folder and result (tools/infer_meta.py
in-process, on the tiny set of support/meta_test.py):

* a scores folder belongs to the result file its summary.json names:
  another result file of the same stem neither replaces nor removes it;
* a result path that is a folder is refused before any work;
* a test folder whose files hold no campaign (0 rows) is skipped with a
  warning naming the file, or is an error when every set is;
* a disk without room for the results is named before the first campaign;
* a meta-test stopped between putting its scores in place and its result
  file: the next start puts the finished result in place (or drops it),
  so a result never stands beside another run's scores.
"""
import json
import logging
import os
import shutil

import pandas as pd
import pytest

from helpers import Killed, errors, warnings
from support.meta_test import file_hashes, meta_test



def owner(scores):
    return json.loads((scores / "summary.json").read_text())["result"]


# ----------------------------------------- a scores folder and its owner
def test_scores_of_another_result_file_are_refused_even_with_overwrite(
        meta_test_setup, tmp_path, caplog):
    caplog.set_level("INFO")
    assert meta_test(meta_test_setup, tmp_path / "a.json", "runner.save_scores=True") == 0
    scores = tmp_path / "a.scores"
    before = file_hashes(scores)
    for overwrite in ("False", "True"):
        caplog.clear()
        rc = meta_test(meta_test_setup, tmp_path / "a.txt", "runner.save_scores=True",
                       "runner.overwrite=%s" % overwrite)
        assert rc == 2
        (line, ) = errors(caplog)
        assert "%s holds the candidates' scores of %s" % (
            scores, tmp_path / "a.json") in line
        assert "not of %s" % (tmp_path / "a.txt") in line
        assert "another stem" in line
        assert "[hot]" not in caplog.text
    assert file_hashes(scores) == before and owner(scores) == "a.json"
    assert not (tmp_path / "a.txt").exists()


@pytest.mark.slow
def test_a_run_without_scores_leaves_another_result_files_scores(
        meta_test_setup, tmp_path, caplog):
    caplog.set_level("INFO")
    assert meta_test(meta_test_setup, tmp_path / "a.json", "runner.save_scores=True") == 0
    scores = tmp_path / "a.scores"
    before = file_hashes(scores)
    # a.txt saves no scores: a.json's are none of its business
    assert meta_test(meta_test_setup, tmp_path / "a.txt") == 0
    caplog.clear()
    assert meta_test(meta_test_setup, tmp_path / "a.txt", "runner.overwrite=True") == 0
    assert file_hashes(scores) == before and owner(scores) == "a.json"
    assert "removed %s" % scores not in caplog.text
    # the owner's own overwrite without scores still removes them
    assert meta_test(meta_test_setup, tmp_path / "a.json", "runner.overwrite=True") == 0
    assert not scores.exists()


def test_a_folder_of_nobodys_where_the_scores_go_is_kept(meta_test_setup, tmp_path,
                                                         caplog):
    caplog.set_level("INFO")
    mine = tmp_path / "r.scores"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    rc = meta_test(meta_test_setup, tmp_path / "r.json", "runner.save_scores=True",
                   "runner.overwrite=True")
    assert rc == 2
    (line, ) = errors(caplog)
    assert str(mine) in line and "not the scores of a meta-test" in line
    assert os.listdir(mine) == ["notes.txt"]
    assert not (tmp_path / "r.json").exists()


# ------------------------------------- a folder as runner.infer_result_path
@pytest.mark.parametrize("overwrite", ["False", "True"])
def test_a_folder_as_result_path_is_refused_before_any_work(
        meta_test_setup, tmp_path, caplog, overwrite):
    caplog.set_level("INFO")
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "old.json").write_text("{}")
    rc = meta_test(meta_test_setup, folder, "runner.overwrite=%s" % overwrite)
    assert rc == 2
    (line, ) = errors(caplog)
    assert "runner.infer_result_path %s is a folder" % folder in line
    assert "runner.infer_result_path=%s" % (folder / "infer_result.json") \
        in line
    assert "overwrite" not in line
    assert "[hot]" not in caplog.text
    assert os.listdir(folder) == ["old.json"]


# --------------------------------------------- test files with no campaign
def empty_copy(source, target):
    """The folder's stage files with their columns and no row, as
    tools/preprocess.py writes them when no campaign is hot."""
    target.mkdir()
    for name in os.listdir(source):
        if name.endswith(".pkl"):
            frame = pd.read_pickle(source / name)
            frame.iloc[:0].to_pickle(target / name)
    return target


def test_a_test_set_without_campaigns_is_named_and_skipped(meta_test_setup, tmp_path,
                                                           caplog):
    caplog.set_level("INFO")
    cold = empty_copy(meta_test_setup / "data" / "test_cold", tmp_path / "cold")
    result = tmp_path / "r.json"
    assert meta_test(meta_test_setup, result, cold=cold) == 0
    warning = [r.getMessage() for r in caplog.records
               if r.levelname == "WARNING" and "[cold]" in r.getMessage()]
    assert len(warning) == 1, caplog.text
    assert "holds no campaigns (0 rows)" in warning[0]
    assert str(cold / "test_cold_stage1.pkl") in warning[0]
    assert "skipped" in warning[0]
    assert "[hot] summary" in caplog.text
    assert "[cold] summary" not in caplog.text
    doc = json.loads(result.read_text())
    assert list(doc["epochs"]["0"]) == ["hot"]
    assert "holds no campaigns" in doc["skipped_sets"]["cold"]


def test_every_test_set_without_campaigns_is_an_error(meta_test_setup, tmp_path,
                                                      caplog):
    caplog.set_level("INFO")
    hot = empty_copy(meta_test_setup / "data" / "test", tmp_path / "hot")
    cold = empty_copy(meta_test_setup / "data" / "test_cold", tmp_path / "cold")
    result = tmp_path / "r.json"
    rc = meta_test(meta_test_setup, result, "runner.test_data_dir=%s" % hot, cold=cold)
    assert rc == 1
    (line, ) = errors(caplog)
    assert "nothing to meta-test" in line
    assert str(hot / "test_stage1.pkl") in line
    assert str(cold / "test_cold_stage1.pkl") in line
    assert "summary" not in caplog.text and not result.exists()


def test_a_result_folder_without_room_is_named_before_the_first_campaign(
        meta_test_setup, tmp_path, caplog, monkeypatch):
    caplog.set_level("INFO")
    real = shutil.disk_usage
    folder = tmp_path / "results"
    folder.mkdir()

    def full(path):
        usage = real(path)
        if os.path.abspath(path) == str(folder):
            return usage._replace(free=4096)
        return usage
    monkeypatch.setattr(shutil, "disk_usage", full)
    rc = meta_test(meta_test_setup, folder / "r.json", "runner.save_scores=True")
    assert rc == 1
    (line, ) = errors(caplog)
    assert "runner.infer_result_path %s has 0.0 MB free" % folder in line
    assert "free space there" in line
    assert "[hot]" not in caplog.text
    assert os.listdir(folder) == []


def test_a_result_file_the_disk_cannot_take_names_its_path(
        meta_test_setup, tmp_path, caplog, monkeypatch):
    """Should the disk fill up after the room check, the line names the
    result file and the way on; an earlier result stays."""
    import errno
    from dataio import atomic
    caplog.set_level("INFO")
    result = tmp_path / "r.json"
    result.write_text("{}")   # an earlier result, being replaced

    class Full:
        """A file whose data never reach the disk (ENOSPC names no file)."""
        def __init__(self, path, mode):
            self.real = open(path, mode)

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.real.close()

    monkeypatch.setattr(atomic, "open", lambda path, mode="r": Full(
        path, mode) if path.endswith(".tmp") else open(path, mode),
        raising=False)
    assert meta_test(meta_test_setup, result, "runner.overwrite=True") == 1
    (line, ) = errors(caplog)
    assert line == (
        "no space left on device writing %s (runner.infer_result_path): "
        "free space on its disk, or choose another runner.infer_result_path;"
        " no output was written; %s left as it was" % (result, result))
    assert result.read_text() == "{}"
    assert os.listdir(tmp_path) == ["r.json"]


# ---------------- a result and its scores are put in place as one
def result_of(path):
    return json.loads(path.read_text())


def summary_of(scores):
    return json.loads((scores / "summary.json").read_text())


@pytest.fixture
def earlier_meta_test(meta_test_setup, tmp_path):
    """A finished meta-test with scores: r.json and r.scores/."""
    result = tmp_path / "r.json"
    assert meta_test(meta_test_setup, result, "runner.save_scores=True") == 0
    return result, tmp_path / "r.scores"


def test_a_meta_test_killed_after_placing_its_scores_completes_next_start(
        meta_test_setup, earlier_meta_test, monkeypatch, caplog):
    from audience.output import OutputDir
    result, scores = earlier_meta_test
    real = OutputDir.commit

    def commit_then_die(self, summary):
        real(self, summary)
        raise Killed()
    monkeypatch.setattr(OutputDir, "commit", commit_then_die)
    with pytest.raises(Killed):
        meta_test(meta_test_setup, result, "runner.save_scores=True",
                  "runner.overwrite=True", "runner.infer_train_epoch=2")
    # the new scores are in place: no result stands beside them yet
    assert summary_of(scores)["run_id"] and not result.exists()
    monkeypatch.setattr(OutputDir, "commit", real)
    caplog.set_level(logging.INFO)
    # the next start, as a user would type it again (no overwrite)
    assert meta_test(meta_test_setup, result, "runner.save_scores=True") == 2
    # the scores in place are the new run's: so is the result beside them
    doc = result_of(result)
    assert doc["config"]["runner.infer_train_epoch"] == 2
    assert doc["run_id"] == summary_of(scores)["run_id"]
    assert doc["scores"] == str(scores)
    assert any("put %s in place" % result in w for w in warnings(caplog))
    assert not [n for n in os.listdir(result.parent) if n.startswith(".")]


def test_a_meta_test_killed_before_placing_its_scores_keeps_the_earlier_pair(
        meta_test_setup, earlier_meta_test, monkeypatch, caplog):
    from audience.output import OutputDir
    result, scores = earlier_meta_test
    before = result.read_bytes(), summary_of(scores)

    def die(self, summary):
        raise Killed()
    monkeypatch.setattr(OutputDir, "commit", die)
    with pytest.raises(Killed):
        meta_test(meta_test_setup, result, "runner.save_scores=True",
                  "runner.overwrite=True", "runner.infer_train_epoch=2")
    monkeypatch.undo()
    caplog.set_level(logging.INFO)
    assert meta_test(meta_test_setup, result, "runner.save_scores=True") == 2
    assert any("stopped before its scores were in place" in w
               for w in warnings(caplog))
    assert (result.read_bytes(), summary_of(scores)) == before
    assert result_of(result)["run_id"] == summary_of(scores)["run_id"]


def test_an_overwrite_without_scores_killed_before_its_result_completes(
        meta_test_setup, earlier_meta_test, monkeypatch, caplog):
    from tools import infer_meta
    result, scores = earlier_meta_test
    real = infer_meta.drop_replaced_scores

    def die(*args):
        raise Killed()
    monkeypatch.setattr(infer_meta, "drop_replaced_scores", die)
    with pytest.raises(Killed):
        meta_test(meta_test_setup, result, "runner.overwrite=True",
                  "runner.infer_train_epoch=2")
    # killed: the new result must not stand beside the earlier scores
    assert not (result.exists() and scores.exists() and
                result_of(result)["config"]["runner.infer_train_epoch"] == 2)
    monkeypatch.setattr(infer_meta, "drop_replaced_scores", real)
    caplog.set_level(logging.INFO)
    assert meta_test(meta_test_setup, result) == 2
    assert result_of(result)["config"]["runner.infer_train_epoch"] == 2
    assert not scores.exists()
