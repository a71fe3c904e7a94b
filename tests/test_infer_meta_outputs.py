"""The meta-test's outputs (tools/infer_meta.py, run in-process on a tiny
generated set and an untrained checkpoint):

* ``runner.save_scores`` writes beside its own result file
  (``r.json`` -> ``r.scores/``), under the result file's refusal and
  overwrite rules, so a second meta-test never replaces a first one's
  scores;
* a test folder without the stage files its reader needs fails before the
  first campaign, naming the key, the folder and the file.
"""
import json
import os

import pytest

from support.meta_test import file_hashes, meta_test

def test_two_result_files_of_one_folder_keep_their_own_scores(meta_test_setup, tmp_path,
                                                              caplog):
    caplog.set_level("INFO")
    assert meta_test(meta_test_setup, tmp_path / "a.json", "runner.save_scores=True") == 0
    first = file_hashes(tmp_path / "a.scores")
    # what the refusal of a taken result file suggests: another file name
    assert meta_test(meta_test_setup, tmp_path / "b.json", "runner.save_scores=True") == 0
    assert file_hashes(tmp_path / "a.scores") == first
    assert not (tmp_path / "scores").exists()
    result = json.loads((tmp_path / "b.json").read_text())["epochs"]["0"]
    for name in ("hot", "cold"):
        aids = sorted(str(r["aid"]) for r in result[name]["campaigns"])
        folder = tmp_path / "b.scores" / "0" / name
        assert sorted(os.listdir(folder)) == aids
        for row in result[name]["campaigns"]:
            lines = (folder / str(row["aid"]) / "scores.csv").read_text()
            assert lines.startswith("uid,score,label\n")
            assert len(lines.splitlines()) == row["candidates"] + 1
    assert "wrote the candidates' scores to %s" % (tmp_path / "b.scores") \
        in caplog.text
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


@pytest.mark.parametrize("save_scores", [True, False])
def test_scores_of_an_earlier_meta_test_are_refused_before_any_work(
        meta_test_setup, tmp_path, caplog, save_scores):
    caplog.set_level("INFO")
    result = tmp_path / "r.json"
    assert meta_test(meta_test_setup, result, "runner.save_scores=True") == 0
    result.unlink()   # the result moved away; its scores are still there
    before = file_hashes(tmp_path / "r.scores")
    caplog.clear()
    rc = meta_test(meta_test_setup, result, "runner.save_scores=%s" % save_scores)
    assert rc == 2
    assert "%s holds the candidates' scores of an earlier meta-test" % (
        tmp_path / "r.scores") in caplog.text
    assert "runner.infer_result_path" in caplog.text
    assert "runner.overwrite=True" in caplog.text
    assert "[hot]" not in caplog.text and not result.exists()
    assert file_hashes(tmp_path / "r.scores") == before


@pytest.mark.slow
def test_overwrite_replaces_the_scores_only_once_complete(meta_test_setup, tmp_path,
                                                          monkeypatch):
    from tools import infer_meta
    result = tmp_path / "r.json"
    assert meta_test(meta_test_setup, result, "runner.save_scores=True") == 0
    scores = tmp_path / "r.scores"
    # marked in a file it wrote: what it did not write stops --overwrite
    marked = min(p for p in file_hashes(scores) if p.endswith("scores.csv"))
    (scores / marked).write_text("the earlier meta-test's")
    before = file_hashes(scores), result.read_bytes()

    real = infer_meta.run_test_set

    def cold_fails(name, *args, **kwargs):
        if name == "cold":
            raise ValueError("the disk went away")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(infer_meta, "run_test_set", cold_fails)
    assert meta_test(meta_test_setup, result, "runner.save_scores=True",
                     "runner.overwrite=True") == 1
    assert (file_hashes(scores), result.read_bytes()) == before
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]

    monkeypatch.setattr(infer_meta, "run_test_set", real)
    assert meta_test(meta_test_setup, result, "runner.save_scores=True",
                     "runner.overwrite=True") == 0
    after = file_hashes(scores)
    assert after[marked] != before[0][marked]
    assert set(after) == set(before[0])


def test_overwrite_without_scores_drops_the_replaced_results_scores(
        meta_test_setup, tmp_path, caplog):
    caplog.set_level("INFO")
    result = tmp_path / "r.json"
    assert meta_test(meta_test_setup, result, "runner.save_scores=True") == 0
    assert meta_test(meta_test_setup, result, "runner.overwrite=True") == 0
    # scores of another run beside the new result would pass for its own
    assert not (tmp_path / "r.scores").exists()
    assert "removed %s" % (tmp_path / "r.scores") in caplog.text


@pytest.mark.parametrize("content,missing", [
    ({}, "*_stage1.pkl"),
    ({"test_stage1.pkl": "seeds"}, "*_stage2.pkl"),
    ({"test_stage1.pkl": "seeds", "test_stage2.pkl": ""}, "test_stage2.pkl"),
])
def test_a_cold_folder_without_its_stage_files_fails_before_the_first_campaign(
        meta_test_setup, tmp_path, caplog, content, missing):
    caplog.set_level("INFO")
    cold = tmp_path / "cold"
    cold.mkdir()
    real = meta_test_setup / "data" / "test_cold" / "test_cold_stage1.pkl"
    for name, what in content.items():
        # a real stage file, or an empty one (a copy cut short)
        (cold / name).write_bytes(real.read_bytes() if what else b"")
    rc = meta_test(meta_test_setup, tmp_path / "r.json", cold=cold)
    assert rc == 1
    line = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(line) == 1, caplog.text
    assert "runner.test_cold_data_dir" in line[0] and str(cold) in line[0]
    assert missing in line[0]
    assert "[hot]" not in caplog.text and "[cold]" not in caplog.text
    assert not (tmp_path / "r.json").exists()


def test_a_file_where_the_scores_go_is_refused_even_with_overwrite(
        meta_test_setup, tmp_path, caplog):
    (tmp_path / "r.scores").write_text("someone's notes")
    rc = meta_test(meta_test_setup, tmp_path / "r.json", "runner.save_scores=True",
                   "runner.overwrite=True")
    assert rc == 2
    assert "%s is a file" % (tmp_path / "r.scores") in caplog.text
    assert "[hot]" not in caplog.text
    assert (tmp_path / "r.scores").read_text() == "someone's notes"


def test_overwrite_without_scores_keeps_a_users_file_in_the_replaced_scores(
        meta_test_setup, tmp_path, caplog):
    result = tmp_path / "r.json"
    assert meta_test(meta_test_setup, result, "runner.save_scores=True") == 0
    notes = tmp_path / "r.scores" / "notes.txt"
    notes.write_text("mine")
    before = result.read_bytes()
    # the scores folder would be removed with the user's file in it: refused
    assert meta_test(meta_test_setup, result, "runner.overwrite=True") == 2
    assert "notes.txt" in caplog.text
    assert notes.read_text() == "mine" and result.read_bytes() == before
