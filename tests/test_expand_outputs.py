"""Expansion and export outputs: an output swap
killed at any point is recovered at the next start, campaigns that were not
fine-tuned or were skipped are recorded, and bad --out paths or empty CSVs
are refused with one line naming the file. The tools run in-process
(``tools.expand.main``), to keep these tests fast."""
import json
import logging
import os
import shutil

import numpy as np
import pytest

from audience import output
from audience.expansion import expand
from dataio.campaign import TableCampaign
from audience.output import OutputDir
from audience.sources import frame_campaigns, user_table_campaigns
from dataio import schema
from dataio.frames import arrays_to_frame
from dataio.stage_files import DataError
from dygraph_model import DygraphModel
from helpers import Killed, messages, random_inputs, small_config
from runkit.cli import Refused
from support.expansion import (expand_one, finished, hidden, small_model,
                               stage_files, tag, tool,
                               unlabelled_pool_campaign)

CONFIG = small_config("hyper_parameters.batch_size=16")


# --------------------------------------------------- a swap killed midway
def test_killed_while_filling_only_the_unfinished_temporary_goes(tmp_path,
                                                                 caplog):
    caplog.set_level(logging.INFO)
    out = finished(str(tmp_path / "out"), "old")
    partial = tmp_path / ".out.tmp-a1"
    (partial / "9").mkdir(parents=True)
    (partial / "9" / "audience.csv").write_text("uid,score\n")
    new = OutputDir(out, overwrite=True)
    assert not partial.exists() and tag(out) == "old"
    assert any(str(partial) in m and "unfinished" in m
               for m in messages(caplog))
    new.abandon()
    assert hidden(tmp_path) == []


def test_killed_before_the_first_rename_the_finished_output_is_put_in_place(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = finished(str(tmp_path / "out"), "old")
    done = finished(str(tmp_path / ".out.tmp-b2"), "new")
    new = OutputDir(out, overwrite=True)
    assert tag(out) == "new"
    assert any(done in m and out in m for m in messages(caplog))
    new.abandon()
    assert hidden(tmp_path) == []


@pytest.mark.parametrize("next_run", ["fails", "refused"])
def test_killed_between_the_renames_nothing_finished_is_lost(tmp_path, caplog,
                                                             next_run):
    """The probe's case: DIR moved aside (.tmp-*.old), the new output not
    yet renamed. The next run must not delete both before reading its
    inputs: if it then failed, everything would be lost."""
    caplog.set_level(logging.INFO)
    out = str(tmp_path / "out")
    done = finished(str(tmp_path / ".out.tmp-c3"), "new")
    finished(done + ".old", "old")
    if next_run == "fails":
        new = OutputDir(out, overwrite=True)
        new.abandon()   # as the tools do when a run fails
    else:
        with pytest.raises(Refused, match="--overwrite"):
            OutputDir(out)   # restored first, so it is refused
    assert tag(out) == "new"
    restored = [m for m in messages(caplog) if done in m and out in m]
    assert len(restored) == 1, messages(caplog)
    assert hidden(tmp_path) == []


def test_killed_after_the_second_rename_the_replaced_output_goes(tmp_path,
                                                                 caplog):
    caplog.set_level(logging.INFO)
    out = finished(str(tmp_path / "out"), "new")
    old = tmp_path / ".out.tmp-d4.old"
    (old / "9").mkdir(parents=True)   # half removed: its summary is gone
    OutputDir(out, overwrite=True).abandon()
    assert tag(out) == "new" and not old.exists()
    assert any(str(old) in m for m in messages(caplog))
    assert hidden(tmp_path) == []


def test_an_old_output_alone_is_put_back(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = str(tmp_path / "out")
    old = finished(str(tmp_path / ".out.tmp-e5.old"), "old")
    partial = tmp_path / ".out.tmp-f6"
    partial.mkdir()
    OutputDir(out, overwrite=True).abandon()
    assert tag(out) == "old" and not partial.exists()
    assert any(old in m and out in m for m in messages(caplog))


def test_a_first_output_killed_before_its_rename_is_put_in_place(tmp_path):
    out = str(tmp_path / "exp")
    finished(str(tmp_path / ".exp.tmp-g7"), "new", "export.json")
    with pytest.raises(Refused):
        OutputDir(out)
    assert tag(out, "export.json") == "new"


@pytest.mark.parametrize("kill_at", [
    ("replace", 1),   # the summary's own atomic rename: not written
    ("replace", 2),   # summary written, DIR not yet moved aside
    ("replace", 3),   # DIR moved aside, the new one not yet in place
    ("rmtree", 1),    # the new one in place, the old one not yet removed
])
@pytest.mark.parametrize("earlier", [True, False])
def test_a_commit_killed_anywhere_is_recovered(tmp_path, monkeypatch, kill_at,
                                               earlier):
    """The real commit, stopped before its n-th rename or its removal;
    then the next run starts (and fails): the new output if its summary
    was written, else the earlier one, is in place, and nothing is left
    hidden."""
    out = str(tmp_path / "out")
    if earlier:
        finished(out, "old")
    run = OutputDir(out, overwrite=True)
    run.write(os.path.join("9", "audience.csv"), "uid,score,rank,top_percent\n")
    name, when = kill_at
    calls = {"replace": 0, "rmtree": 0}
    real = {"replace": os.replace, "rmtree": shutil.rmtree}

    def stop(kind):
        def wrapped(*args, **kwargs):
            calls[kind] += 1
            if kind == name and calls[kind] == when:
                raise Killed()
            return real[kind](*args, **kwargs)
        return wrapped
    monkeypatch.setattr(os, "replace", stop("replace"))
    monkeypatch.setattr(shutil, "rmtree", stop("rmtree"))
    stopped = False
    try:
        run.commit({"tag": "new"})
    except Killed:
        stopped = True
    monkeypatch.undo()
    if not earlier and kill_at in (("replace", 3), ("rmtree", 1)):
        assert not stopped    # no DIR to move aside: one rename fewer
        assert tag(out) == "new"
        return
    assert stopped
    OutputDir(out, overwrite=True).abandon()   # the next run, which fails
    summary_written = kill_at != ("replace", 1)
    if summary_written:
        assert tag(out) == "new"
    elif earlier:
        assert tag(out) == "old"
    else:
        assert not os.path.exists(out)
    assert hidden(tmp_path) == []


def test_only_what_was_removed_is_said_removed(tmp_path, caplog):
    """Item 9e: regular files named like temporaries (the old code's
    ``rmtree(ignore_errors=True)`` skipped them while the log said they were
    removed). A hidden ``.old`` file is what the old code did to a file
    given as --out with --overwrite: the user's file, kept, or put back."""
    caplog.set_level(logging.INFO)
    out = finished(str(tmp_path / "out"), "old")
    (tmp_path / ".out.tmp-h8.old").write_text("the user's file")
    (tmp_path / ".out.tmp-i9").write_text("not a folder either")
    (tmp_path / ".out.tmp-k1").mkdir()
    OutputDir(out, overwrite=True).abandon()
    said = [m for m in messages(caplog) if m.startswith("removed ")]
    assert [m for m in said if str(tmp_path / ".out.tmp-k1") in m]
    assert not (tmp_path / ".out.tmp-k1").exists()
    for name in (".out.tmp-h8.old", ".out.tmp-i9"):
        path = str(tmp_path / name)
        assert os.path.exists(path)
        assert not any(path in m for m in said)
        assert any(path in m for m in messages(caplog, logging.WARNING))
    assert tag(out) == "old"
    shutil.rmtree(out)
    with pytest.raises(Refused, match="is a file"):
        OutputDir(out, overwrite=True)   # the file is back where it was
    assert open(out).read() == "the user's file"


def test_a_temporary_that_cannot_be_removed_is_not_said_removed(
        tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    out = finished(str(tmp_path / "out"), "old")
    stuck = tmp_path / ".out.tmp-j0"
    stuck.mkdir()

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(shutil, "rmtree", refuse)
    run = OutputDir(out, overwrite=True)
    monkeypatch.undo()
    run.abandon()
    assert stuck.exists()
    about = [m for m in messages(caplog) if str(stuck) in m]
    assert about and not any(m.startswith("removed ") for m in about)
    assert any("Permission denied" in m for m in about)


def test_two_runs_into_one_folder_at_once_are_refused(tmp_path):
    out = str(tmp_path / "out")
    first = OutputDir(out)
    with pytest.raises(Refused, match="another run"):
        OutputDir(out, overwrite=True)
    assert os.path.isdir(first.tmp)   # the live run's folder is untouched
    first.commit({"tag": "first"})
    assert tag(out) == "first"
    OutputDir(out, overwrite=True).abandon()   # free again once committed
    assert hidden(tmp_path) == []


# --------------------------------------------------- --out paths refused
def test_out_below_a_regular_file_is_refused_naming_it(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(Refused) as err:
        OutputDir(str(blocker / "sub" / "out"))
    assert str(blocker) in str(err.value) and "not a folder" in str(err.value)
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("overwrite", [True, False])
def test_out_that_is_a_regular_file_is_refused(tmp_path, overwrite):
    target = tmp_path / "out"
    target.write_text("mine")
    with pytest.raises(Refused) as err:
        OutputDir(str(target), overwrite=overwrite)
    text = str(err.value)
    assert str(target) in text and "is a file" in text
    assert target.read_text() == "mine" and hidden(tmp_path) == []


def test_commit_knows_the_summary_names():
    """The next start recognises a finished output by its summary file."""
    assert set(output.SUMMARY_FILES) >= {"summary.json", "export.json"}


# ---------------------------------------- campaigns that were not fine-tuned
def test_seeds_without_a_positive_are_recorded_as_not_fine_tuned(caplog):
    caplog.set_level(logging.INFO)
    result = expand_one(unlabelled_pool_campaign(seed_y="negative"))
    s = result.summary
    assert s["seed_positives"] == 0 and s["fine_tuned"] is False
    assert "0 positive seed" in s["not_fine_tuned_because"]
    assert "runner.infer_min_positives" in s["not_fine_tuned_because"]
    warned = [m for m in messages(caplog, logging.WARNING) if "campaign 5" in m]
    assert any("not fine-tuned" in m and "infer_min_positives" in m
               for m in warned), messages(caplog)
    # true: its scores are the meta-trained model's
    untouched = expand_one(unlabelled_pool_campaign(seed_y="negative"),
                           small_config("hyper_parameters.batch_size=16",
                                        "runner.infer_train_epoch=0"))
    np.testing.assert_array_equal(result.score, untouched.score)
    assert "runner.infer_train_epoch" in \
        untouched.summary["not_fine_tuned_because"]


@pytest.mark.slow
@pytest.mark.parametrize("labels", ["positive", None, "mixed"])
def test_seeds_with_positives_are_recorded_as_fine_tuned(labels):
    """Positives-only or unlabelled seeds get drawn negatives: the seeds
    are the positives, so the campaign is fine-tuned."""
    s = expand_one(unlabelled_pool_campaign(seed_y=labels)).summary
    assert s["fine_tuned"] is True and "not_fine_tuned_because" not in s
    assert s["seed_positives"] == (15 if labels == "mixed" else 30)


def test_a_hold_out_that_keeps_no_pass_is_recorded(monkeypatch):
    def no_pass_kept(self, *args, **kwargs):
        return 0
    monkeypatch.setattr(DygraphModel, "_passes", no_pass_kept)
    config = small_config("hyper_parameters.batch_size=16",
                          "runner.infer_holdout=0.2")
    s = expand_one(unlabelled_pool_campaign(seed_y="mixed"), config).summary
    assert s["fine_tuned"] is False
    assert "runner.infer_holdout" in s["not_fine_tuned_because"]


@pytest.mark.slow
def test_form_two_records_a_campaign_that_was_not_fine_tuned(users, caplog):
    caplog.set_level(logging.INFO)
    _, table = users
    campaign = TableCampaign(3, np.arange(20), np.zeros(20, np.float32),
                             np.array([3, 3, 3, 3, 3, 3]))
    (result, ), _ = expand(CONFIG, [campaign], 0.1, *small_model(), table=table)
    assert result.summary["fine_tuned"] is False
    assert "runner.infer_min_positives" in \
        result.summary["not_fine_tuned_because"]
    assert any("campaign 3" in m and "not fine-tuned" in m
               for m in messages(caplog, logging.WARNING))
    positives = TableCampaign(3, np.arange(20), None,
                              np.array([3, 3, 3, 3, 3, 3]))
    (result, ), _ = expand(CONFIG, [positives], 0.1, *small_model(),
                           table=table)
    assert result.summary["fine_tuned"] is True


# ----------------------------------------------------- skips are recorded
def frames(seed_aids, cand_aids, rng_seed=8):
    rng = np.random.default_rng(rng_seed)
    n_s, n_c = 12 * len(seed_aids), 20 * len(cand_aids)
    seeds = arrays_to_frame(np.arange(n_s) % 2, np.repeat(seed_aids, 12),
                            *random_inputs(rng, n_s))
    cands = arrays_to_frame(np.zeros(n_c), np.repeat(cand_aids, 20),
                            *random_inputs(rng, n_c)).drop(columns="label")
    return seeds, cands


def test_a_campaign_without_candidates_is_recorded_as_skipped(caplog):
    caplog.set_level(logging.INFO)
    config = small_config("hyper_parameters.batch_size=16",
                          "expand.min_seeds=5")
    seeds, cands = frames([3, 4], [4])
    results, skipped = expand(config, frame_campaigns(seeds, cands, config),
                              0.25, *small_model(config))
    assert [r.aid for r in results] == [4]
    (skip, ) = skipped
    assert skip.aid == 3 and "no candidates in candidates" in skip.reason
    assert sum("campaign 3" in m for m in messages(caplog, logging.WARNING)) == 1


@pytest.mark.slow
def test_form_two_a_campaign_missing_from_ads_is_recorded_as_skipped(
        users, tmp_path):
    folder, table = users
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("aid,uid\n" + "".join("%d,%d\n" % (aid, 5 * i)
                                           for aid in (3, 8) for i in range(12)))
    campaigns = user_table_campaigns(table, str(seeds), str(folder / "ads.csv"))
    results, skipped = expand(CONFIG, campaigns, 0.1, *small_model(),
                              table=table)
    assert [r.aid for r in results] == [3]
    assert [s.aid for s in skipped] == [8]
    assert "ads.csv" in skipped[0].reason


# --------------------------------------------------- empty CSV inputs
@pytest.mark.parametrize("which", ["seeds", "candidates", "ads"])
@pytest.mark.parametrize("content", ["", "header"])
def test_an_empty_csv_names_the_file_and_what_it_must_hold(users, tmp_path,
                                                           which, content):
    folder, table = users
    paths = {"seeds": tmp_path / "seeds.csv", "candidates": tmp_path / "c.csv",
             "ads": tmp_path / "ads.csv"}
    paths["seeds"].write_text("aid,uid\n3,0\n3,5\n")
    paths["candidates"].write_text("uid\n10\n15\n")
    shutil.copy(folder / "ads.csv", paths["ads"])
    header = {"seeds": "aid,uid,label", "candidates": "uid",
              "ads": "aid," + ",".join(schema.AD_FIELDS)}[which]
    paths[which].write_text("" if content == "" else header + "\n")
    with pytest.raises(DataError) as err:
        list(user_table_campaigns(table, str(paths["seeds"]),
                                  str(paths["ads"]), str(paths["candidates"])))
    text = str(err.value)
    assert str(paths[which]) in text
    assert ("is empty" if content == "" else "no rows") in text
    assert {"seeds": "aid,uid", "candidates": "uid",
            "ads": "advertiserId"}[which] in text


# ------------------------------------- the tools, in-process: exit and files
@pytest.mark.slow
def test_expand_records_skips_in_the_summary_and_the_count(tmp_path, checkpoint,
                                                           caplog):
    caplog.set_level(logging.INFO)
    seeds, cands = stage_files(tmp_path, seed_aids=(9, 7), cand_aids=(9, ))
    out = tmp_path / "out"
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", out) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [c["aid"] for c in summary["campaigns"]] == [9]
    assert [s["aid"] for s in summary["skipped"]] == [7]
    assert "no candidates" in summary["skipped"][0]["reason"]
    assert any("1 campaign(s)" in m and "(1 skipped)" in m
               for m in messages(caplog))


@pytest.mark.parametrize("earlier", [False, True])
def test_expand_that_writes_no_campaign_fails_and_keeps_nothing(
        tmp_path, checkpoint, caplog, earlier):
    caplog.set_level(logging.INFO)
    seeds, cands = stage_files(tmp_path, seed_aids=(7, ), cand_aids=(9, ))
    out = tmp_path / "out"
    if earlier:
        finished(str(out), "old")
    extra = ["--overwrite"] if earlier else []
    code = tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", out, *extra)
    assert code == 1
    errors = messages(caplog, logging.ERROR)
    assert len(errors) == 1 and "no campaign" in errors[0]
    assert "campaign 7" in errors[0] and "no candidates" in errors[0]
    assert tag(str(out)) == "old" if earlier else not out.exists()
    assert hidden(tmp_path) == []


@pytest.mark.parametrize("name", ["expand", "export"])
def test_out_below_a_file_is_refused_before_any_work(tmp_path, name, caplog):
    caplog.set_level(logging.INFO)
    blocker = tmp_path / "f"
    blocker.write_text("x")
    seeds, cands = stage_files(tmp_path)
    args = ["--seeds", seeds, "--out", blocker / "out"]
    args += ["--candidates", cands] if name == "expand" else []
    # no checkpoint there: any work would fail on it first
    assert tool(name, tmp_path / "nowhere", *args) == 2
    (error, ) = messages(caplog, logging.ERROR)
    assert str(blocker) in error and "not a folder" in error
    assert "Errno" not in error


@pytest.mark.parametrize("name", ["expand", "export"])
def test_overwrite_onto_a_file_is_refused_before_any_work(tmp_path, name,
                                                          caplog):
    caplog.set_level(logging.INFO)
    target = tmp_path / "out"
    target.write_text("mine")
    seeds, cands = stage_files(tmp_path)
    args = ["--seeds", seeds, "--out", target, "--overwrite"]
    args += ["--candidates", cands] if name == "expand" else []
    assert tool(name, tmp_path / "nowhere", *args) == 2
    (error, ) = messages(caplog, logging.ERROR)
    assert str(target) in error and "is a file" in error
    assert "--overwrite" in error
    assert target.read_text() == "mine" and hidden(tmp_path) == []


@pytest.mark.slow
def test_export_records_a_campaign_that_was_not_fine_tuned(tmp_path,
                                                           checkpoint, caplog):
    caplog.set_level(logging.INFO)
    seeds, _ = stage_files(tmp_path, labels="negative")
    out = tmp_path / "exp"
    assert tool("export", checkpoint, "--aid", 9, "--seeds", seeds,
                "--out", out) == 0
    meta = json.loads((out / "export.json").read_text())
    assert meta["aid"] == 9 and meta["fine_tuned"] is False
    assert "runner.infer_min_positives" in meta["not_fine_tuned_because"]
    assert meta["seed_positives"] == 0
    assert any("campaign 9" in m and "not fine-tuned" in m
               for m in messages(caplog, logging.WARNING))


@pytest.mark.slow
def test_export_records_a_fine_tuned_campaign(tmp_path, checkpoint):
    seeds, cands = stage_files(tmp_path, labels="positive")
    out = tmp_path / "exp"
    assert tool("export", checkpoint, "--aid", 9, "--seeds", seeds,
                "--candidates", cands, "--out", out) == 0
    meta = json.loads((out / "export.json").read_text())
    assert meta["fine_tuned"] is True and "not_fine_tuned_because" not in meta
    assert meta["negatives_drawn"] == 25   # capped at half the 50 candidates


def test_the_next_tool_run_restores_a_swap_killed_between_renames(
        tmp_path, checkpoint, caplog):
    """The probe's sequence through the tool: an --overwrite killed between
    its renames, then a run that fails (it expands no campaign): the
    finished output is in place, not lost."""
    caplog.set_level(logging.INFO)
    out = str(tmp_path / "out")
    done = finished(str(tmp_path / ".out.tmp-z9"), "new")
    finished(done + ".old", "old")
    seeds, cands = stage_files(tmp_path, seed_aids=(7, ), cand_aids=(9, ))
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", out, "--overwrite") == 1
    assert tag(out) == "new" and hidden(tmp_path) == []
    assert any(m.startswith("restored %s from %s" % (out, done))
               for m in messages(caplog))
