"""Runs, meta-test results, export and plot: what a stop at the wrong
moment, a diverged training or a missing requirement leaves, and what the
user is told (the tools in-process where possible):

* an export given the expansion's --exclude serves the expansion's model
  (without it, export.json says where its negatives came from);
* a meta-test stopped between putting its scores in place and its result
  file: the next start puts the finished result in place (or drops it),
  so a result never stands beside another run's scores;
* --plot is checked by drawing, before any work; a plot that fails after
  all loses no audience;
* resume of a folder without run.json says what it is and what to do; the
  manifest is on disk before the epoch it lists is renamed into place;
* a diverged training (loss above ln 2, predictions at 0 or 1) is warned
  about and recorded in run.json;
* a Python without the requirements, or a meta-test before any training,
  gets one line saying what to run.
"""
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import CONFIG, Killed, ROOT, errors, tool_env
from runkit import runs
from runkit.cli import Refused
from support.expansion import stage_files, tool
from support.meta_test import meta_test
from support.training import config_for, train_here


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING]


# ------------------------------------------- 6: export and --exclude
def exclusion_file(tmp_path, uids):
    path = tmp_path / "exclude.csv"
    path.write_text("uid\n" + "".join("%d\n" % u for u in uids))
    return path


def served_scores(folder, uids):
    """The exported model's scores of stage_files' candidates ``uids``."""
    from helpers import random_inputs
    from support.expansion import predict
    rng = np.random.default_rng(3)   # as stage_files draws them
    random_inputs(rng, 30)
    x_c = random_inputs(rng, 50)
    return predict(folder, [a[uids - 500] for a in x_c])


def test_export_with_the_expansions_exclude_serves_its_model(
        tmp_path, checkpoint, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    seeds, cands = stage_files(tmp_path, labels="positive")
    exclude = exclusion_file(tmp_path, range(500, 520))
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--exclude", exclude, "--out", tmp_path / "aud") == 0
    scores = pd.read_csv(tmp_path / "aud" / "9" / "scores.csv")
    assert tool("export", checkpoint, "--aid", 9, "--seeds", seeds,
                "--candidates", cands, "--exclude", exclude,
                "--out", tmp_path / "same") == 0
    got = served_scores(tmp_path / "same", scores.uid.to_numpy())
    np.testing.assert_allclose(got, scores.score.to_numpy(), rtol=0,
                               atol=1e-5)
    meta = json.loads((tmp_path / "same" / "export.json").read_text())
    assert meta["exclude"] == str(exclude) and meta["excluded"] == 20
    assert "the 20 users of --exclude" in meta["negatives_drawn_from"]
    # without it: other negatives, another model, and export.json says so
    assert tool("export", checkpoint, "--aid", 9, "--seeds", seeds,
                "--candidates", cands, "--out", tmp_path / "other") == 0
    other = served_scores(tmp_path / "other", scores.uid.to_numpy())
    assert np.abs(other - scores.score.to_numpy()).max() > 1e-3
    meta = json.loads((tmp_path / "other" / "export.json").read_text())
    assert "(no --exclude)" in meta["negatives_drawn_from"]
    assert "same --candidates and --exclude" in meta["negatives_drawn_from"]


def test_export_exclude_without_aid_is_refused_before_any_work(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)
    exclude = exclusion_file(tmp_path, [1, 2])
    # no checkpoint there: any work would fail on it first
    assert tool("export", tmp_path / "nowhere", "--exclude", exclude,
                "--out", tmp_path / "exp") == 1
    (line, ) = errors(caplog)
    assert "--exclude applies to a campaign's model: give --aid" in line
    assert not (tmp_path / "exp").exists()


# ------------------------- 7: a result and its scores are put in place as one
def result_of(path):
    return json.loads(path.read_text())


def summary_of(scores):
    return json.loads((scores / "summary.json").read_text())


@pytest.fixture
def earlier_meta_test(meta_test_setup, tmp_path):  # noqa: F811
    """A finished meta-test with scores: r.json and r.scores/."""
    result = tmp_path / "r.json"
    assert meta_test(meta_test_setup, result, "runner.save_scores=True") == 0
    return result, tmp_path / "r.scores"


def test_a_meta_test_killed_after_placing_its_scores_completes_next_start(
        meta_test_setup, earlier_meta_test, monkeypatch, caplog):  # noqa: F811
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
    assert any("put %s in place" % result in w for w in warnings_of(caplog))
    assert not [n for n in os.listdir(result.parent) if n.startswith(".")]


def test_a_meta_test_killed_before_placing_its_scores_keeps_the_earlier_pair(
        meta_test_setup, earlier_meta_test, monkeypatch, caplog):  # noqa: F811
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
               for w in warnings_of(caplog))
    assert (result.read_bytes(), summary_of(scores)) == before
    assert result_of(result)["run_id"] == summary_of(scores)["run_id"]


def test_an_overwrite_without_scores_killed_before_its_result_completes(
        meta_test_setup, earlier_meta_test, monkeypatch, caplog):  # noqa: F811
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


# -------------------------------------------------- 9: --plot, checked
def test_plot_check_draws_as_the_plot_does(monkeypatch):
    from audience import plot
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ValueError, match="--plot cannot draw reach.png") as e:
        plot.require()
    assert "matplotlib.pyplot" in str(e.value)
    assert "leave out --plot" in str(e.value)


def test_plot_without_pyplot_stops_before_any_work(tmp_path, monkeypatch,
                                                   caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    seeds, cands = stage_files(tmp_path)
    # no checkpoint there: any work would fail on it first
    assert tool("expand", tmp_path / "nowhere", "--seeds", seeds,
                "--candidates", cands, "--plot", "--out",
                tmp_path / "aud") == 1
    (line, ) = errors(caplog)
    assert line.startswith("--plot cannot draw")
    assert not (tmp_path / "aud").exists()


def test_a_plot_failing_after_the_work_loses_no_audience(
        tmp_path, checkpoint, monkeypatch, caplog):  # noqa: F811
    from audience import plot
    caplog.set_level(logging.INFO)

    def broken(*args, **kwargs):
        raise RuntimeError("the font cache is unreadable")
    monkeypatch.setattr(plot, "reach_png", broken)
    seeds, cands = stage_files(tmp_path)
    out = tmp_path / "aud"
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--plot", "--out", out) == 0
    assert sorted(os.listdir(out)) == ["9", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plot"] == ("not drawn: RuntimeError: the font cache is "
                               "unreadable")
    assert any("reach.png not drawn" in w for w in warnings_of(caplog))


# --------------------------------------- 11: a save folder without run.json
def test_resume_of_epochs_without_run_json_says_what_they_are(tmp_path):
    folder = tmp_path / "m"
    (folder / "0").mkdir(parents=True)
    (folder / "0" / "rec.pdparams").write_bytes(b"weights")
    (folder / "0" / "rec.pdopt").write_bytes(b"moments")
    with pytest.raises(Refused) as refused:
        runs.Run(str(folder), config_for(folder, "runner.resume=True"), [])
    line = str(refused.value)
    assert "%s has no run.json, though it holds checkpoints (0)" % folder \
        in line
    assert "predate" not in line
    assert "whose run.json was lost" in line
    assert "runner.model_init_path=%s" % (folder / "0") in line
    assert "runner.overwrite=True" in line
    assert os.listdir(folder) == ["0"]


def test_run_json_is_on_disk_before_its_epoch_is_renamed_in(tmp_path,
                                                            monkeypatch):
    folder = tmp_path / "m"
    run = runs.Run(str(folder), config_for(folder), [])
    synced, seen = [], {}
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        synced.append(os.readlink("/proc/self/fd/%d" % fd))
        real_fsync(fd)

    def replace(src, dst):
        if os.path.basename(dst) == "0":
            seen["synced"] = list(synced)
        real_replace(src, dst)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)

    def write(tmp):
        with open(os.path.join(tmp, "rec.pdparams"), "wb") as f:
            f.write(b"weights")
    run.save_epoch(0, write, {"state": 1})
    # the manifest's temporary file, then the folder its rename is in
    assert seen["synced"][-2:] == [str(folder / "run.json.tmp"), str(folder)]


# ------------------------------------------- 11: a diverged training
def test_a_diverged_training_is_warned_and_recorded(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    folder = tmp_path / "m"
    assert train_here(folder, "hyper_parameters.optimizer."
                      "global_learning_rate=1000") == 0
    (line, ) = [w for w in warnings_of(caplog) if "diverged" in w]
    assert line.startswith("training looks diverged at epoch 0: mean loss")
    assert "hyper_parameters.optimizer.global_learning_rate (now 1000)" in line
    assert "training AUC" in line
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["epochs"]["0"]["warning"] == line
    caplog.clear()
    # saved as ever, and every tool that loads it says what it recorded
    runs.verify_checkpoint(str(folder / "0"))
    (told, ) = warnings_of(caplog)
    assert str(folder / "0") in told and line in told


def test_a_healthy_training_is_not_called_diverged(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    folder = tmp_path / "m"
    assert train_here(folder, "runner.use_auc=False") == 0
    assert not [w for w in warnings_of(caplog) if "diverged" in w]
    assert "warning" not in json.loads(
        (folder / "run.json").read_text())["epochs"]["0"]


def test_the_divergence_rule():
    from tools.trainer import looks_diverged
    config = config_for("unused")
    # the demo's first epoch (loss 0.42), confident or not: healthy
    assert looks_diverged(config, 0, 0.42, 0.9) is None
    # a coin's loss, predictions spread: not diverged, only unlearnt
    assert looks_diverged(config, 0, 0.70, 0.1) is None
    # global_learning_rate 1000: loss 3.9, every prediction at 0 or 1
    assert "diverged" in looks_diverged(config, 0, 3.9, 0.99)


# ------------------------------------------------ newcomers' errors
def test_a_missing_requirement_is_one_line():
    from runkit import runtime
    line = runtime.missing_requirement(
        ModuleNotFoundError("No module named 'paddle'", name="paddle"))
    assert "has no module 'paddle'" in line
    assert os.path.join(".venv", "bin", "python") in line
    assert runtime.missing_requirement(
        ModuleNotFoundError("No module named 'mine'", name="mine")) is None
    assert runtime.missing_requirement(ValueError("x")) is None


BLOCK_PADDLE = """
import runpy, sys

class NoPaddle:   # as in a Python without paddle installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "paddle":
            raise ModuleNotFoundError("No module named 'paddle'",
                                      name="paddle")

sys.meta_path.insert(0, NoPaddle())
sys.argv = {argv!r}
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["no paddle", "no site-packages"])
def test_a_python_without_the_requirements_is_told_which_to_use(tmp_path,
                                                                 how):
    argv = [str(ROOT / "tools" / "trainer.py"), "-m", str(CONFIG), "-o",
            "runner.model_save_path=%s" % (tmp_path / "m")]
    if how == "no paddle":
        command = [sys.executable, "-c", BLOCK_PADDLE.format(argv=argv)]
        module = "paddle"
    else:   # -S: numpy, yaml and paddle all missing
        command = [sys.executable, "-S"] + argv
        module = "numpy"
    done = subprocess.run(command, cwd=str(ROOT), env=tool_env(),
                          capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "Traceback" not in out
    (line, ) = [l for l in out.splitlines() if " - ERROR - " in l]
    assert "has no module" in line and repr(module) in line
    assert ".venv/bin/python" in line and "trainer.py" in line
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
@pytest.mark.parametrize("tool,args", [
    ("preprocess.py", ["--help"]),
    ("sample_user_table.py", ["--out", "OUT"]),
    ("make_sample_data.py", ["--out", "OUT"]),
    ("overlap.py", ["DIR", "--out", "OUT/o.csv"]),
])
def test_the_data_tools_without_the_requirements_say_which_python(
        tmp_path, tool, args):
    argv = [str(ROOT / "tools" / tool)] + [
        a.replace("OUT", str(tmp_path / "out")).replace("DIR", str(tmp_path))
        for a in args]
    done = subprocess.run([sys.executable, "-S"] + argv, cwd=str(ROOT),
                          env=tool_env(), capture_output=True, text=True,
                          timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "Traceback" not in out
    (line, ) = [l for l in out.splitlines() if " - ERROR - " in l]
    assert "has no module" in line and ".venv/bin/python" in line
    assert tool in line
    assert not (tmp_path / "out").exists()


def test_meta_test_before_any_training_says_to_train_first(
        meta_test_setup, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    result = tmp_path / "r.json"
    none = tmp_path / "none"
    assert meta_test(meta_test_setup, result, "runner.infer_load_path=%s" % none) == 1
    (line, ) = errors(caplog)
    assert "no checkpoint %s" % (none / "0" / "rec.pdparams") in line
    assert "no model was trained there" in line
    assert "train one first with tools/trainer.py" in line
    assert "-o runner.infer_load_path=DIR" in line
    assert "[hot]" not in caplog.text and not result.exists()


def test_expand_before_any_training_says_to_train_first(tmp_path, caplog):
    from audience.expansion import load_model
    from runkit.config import load_config
    config = load_config(str(CONFIG), [
        "runner.infer_load_path=%s" % (tmp_path / "none")])
    caplog.set_level(logging.INFO)
    with pytest.raises(FileNotFoundError) as err:
        load_model(config)
    assert "train one first" in str(err.value)
    # nothing said about the settings of a run that does not exist
    assert "meta-validated" not in caplog.text
