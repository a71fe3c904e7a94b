"""Expansion and export overwrite rules (the tools in-process,
support.expansion.tool):

* --overwrite replaces only an earlier output of the tool (a folder
  holding its summary file), never a folder of the user's; an empty
  folder may be used;
* seeds with no positive that are fine-tuned anyway
  (runner.infer_min_positives 0) are warned about and recorded;
* a loose checkpoint file's warning names its own folder;
* export: no uid warning without --candidates, the seeds' absolute path.
"""
import json
import logging
import os

import numpy as np
import pandas as pd
import pytest

from helpers import errors, messages, small_config
from runkit import runs
from support.expansion import (expand_one, finished, hidden, stage_files, tag,
                               tool, unlabelled_pool_campaign)


# ---------------------------------------------- --overwrite onto a folder
@pytest.mark.parametrize("name", ["expand", "export"])
def test_overwrite_onto_a_folder_of_the_users_is_refused_before_any_work(
        tmp_path, name, caplog):
    caplog.set_level(logging.INFO)
    mine = tmp_path / "mydocs"
    mine.mkdir()
    (mine / "thesis.txt").write_text("four years")
    seeds, cands = stage_files(tmp_path)
    args = ["--seeds", seeds, "--out", mine, "--overwrite"]
    args += ["--candidates", cands] if name == "expand" else []
    # no checkpoint there: any work would fail on it first
    assert tool(name, tmp_path / "nowhere", *args) == 2
    (line, ) = errors(caplog)
    summary = "summary.json" if name == "expand" else "export.json"
    assert str(mine) in line and "no %s" % summary in line
    assert "choose another --out" in line
    assert os.listdir(mine) == ["thesis.txt"]
    assert (mine / "thesis.txt").read_text() == "four years"
    assert hidden(tmp_path) == []


def test_overwrite_onto_another_tools_output_is_refused(tmp_path, checkpoint,
                                                        caplog):
    caplog.set_level(logging.INFO)
    exported = tmp_path / "serving"
    finished(str(exported), "export", summary="export.json")
    seeds, cands = stage_files(tmp_path)
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", exported, "--overwrite") == 2
    assert tag(str(exported), "export.json") == "export"
    assert "no summary.json" in errors(caplog)[0]


@pytest.mark.slow
@pytest.mark.parametrize("overwrite", [False, True])
def test_an_empty_folder_may_be_the_output(tmp_path, checkpoint, caplog,
                                           overwrite):
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    out.mkdir()
    seeds, cands = stage_files(tmp_path)
    extra = ["--overwrite"] if overwrite else []
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", out, *extra) == 0
    assert sorted(os.listdir(out)) == ["9", "audiences.csv", "report.html", "summary.json"]
    assert any("%s exists and is empty" % out in m for m in messages(caplog))
    assert hidden(tmp_path) == []


@pytest.mark.slow
def test_overwrite_still_replaces_an_earlier_output(tmp_path,
                                                    checkpoint):
    out = tmp_path / "out"
    finished(str(out), "old")
    seeds, cands = stage_files(tmp_path)
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", out, "--overwrite") == 0
    assert "tag" not in json.loads((out / "summary.json").read_text())
    assert hidden(tmp_path) == []


def test_files_put_into_the_empty_output_folder_meanwhile_are_kept(
        tmp_path, caplog):
    from audience.output import OutputDir
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    out.mkdir()
    run = OutputDir(str(out))
    (out / "notes.txt").write_text("written during the run")
    run.commit({"tag": "new"})
    assert tag(str(out)) == "new"
    (kept, ) = [n for n in hidden(tmp_path) if n.endswith(".old")]
    assert (tmp_path / kept / "notes.txt").read_text() == \
        "written during the run"
    assert any(kept in m and "kept" in m
               for m in messages(caplog, logging.WARNING))


# ------------------------------- fine-tuned on seeds without any positive
@pytest.mark.slow
def test_seeds_without_a_positive_fine_tuned_anyway_are_warned_about(caplog):
    caplog.set_level(logging.INFO)
    config = small_config("hyper_parameters.batch_size=16",
                          "runner.infer_min_positives=0")
    s = expand_one(unlabelled_pool_campaign(seed_y="negative"), config).summary
    assert s["fine_tuned"] is True and s["seed_positives"] == 0
    assert "no positive" in s["warning"]
    assert "runner.infer_min_positives" in s["warning"]
    (warned, ) = [m for m in messages(caplog, logging.WARNING)
                  if "campaign 5" in m]
    assert "no positive" in warned and "negatives only" in warned
    # seeds with positives carry no warning
    assert "warning" not in expand_one(unlabelled_pool_campaign(seed_y="mixed"),
                                       config).summary


@pytest.mark.slow
def test_export_records_seeds_without_a_positive(tmp_path, checkpoint,
                                                 caplog):
    from helpers import CONFIG as CONFIG_FILE
    from support.expansion import OVERRIDES
    from tools import export
    caplog.set_level(logging.INFO)
    seeds, _ = stage_files(tmp_path, labels="negative")
    out = tmp_path / "exp"
    assert export.main(["-m", str(CONFIG_FILE), "--aid", "9", "--seeds",
                        str(seeds), "--out", str(out), "-o"] + OVERRIDES +
                       ["expand.checkpoint=%s" % checkpoint,
                        "runner.infer_min_positives=0"]) == 0
    meta = json.loads((out / "export.json").read_text())
    assert meta["fine_tuned"] is True and meta["seed_positives"] == 0
    assert "no positive" in meta["warning"]
    assert any("campaign 9" in m and "no positive" in m
               for m in messages(caplog, logging.WARNING))


# ---------------------------------------- a loose checkpoint file's folder
def test_a_loose_checkpoint_file_is_named_with_its_own_folder(tmp_path,
                                                              caplog):
    caplog.set_level(logging.INFO)
    loose = tmp_path / "x.pdparams"
    loose.write_bytes(b"not a checkpoint")
    assert runs.verify_checkpoint(str(loose)) is None
    (warned, ) = [m for m in messages(caplog, logging.WARNING)
                  if str(loose) in m]
    assert "its folder %s is not a run's epoch folder" % tmp_path in warned
    assert "%s has no" % tmp_path.parent not in warned


# --------------------------------------------------------------- export
@pytest.mark.slow
def test_export_without_candidates_says_nothing_of_uids_and_records_paths(
        tmp_path, checkpoint, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    seeds, _ = stage_files(tmp_path)
    frame = pd.read_pickle(seeds).drop(columns="uid")
    frame.to_pickle(seeds)
    monkeypatch.chdir(tmp_path)
    assert tool("export", checkpoint, "--aid", 9, "--seeds", "seeds.pkl",
                "--out", "exp") == 0
    assert not [m for m in messages(caplog) if "uid column" in m]
    meta = json.loads((tmp_path / "exp" / "export.json").read_text())
    assert meta["seeds"] == str(seeds)
    assert os.path.isabs(meta["checkpoint"])
    np.testing.assert_equal(meta["fine_tuned"], True)
