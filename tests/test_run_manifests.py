"""Run manifests: overwrite removes only what the earlier run
wrote; a checkpoint given as a file is checked against its run; resume
checks every epoch and records what it changed; a save killed at any point
resumes to the same checkpoints; clear lines for a diverging loss, a missing
training folder and an out-of-range seed; the write probe leaves nothing;
resume of epochs without run.json says what they are; run.json is on disk
before its epoch is renamed in; a diverged training is warned about and
recorded in run.json.

Most runs are in-process (``tools.trainer.main``, a second or two each);
byte-identity needs fresh processes (``rec.pdopt`` is keyed by Paddle's
internal parameter names, numbered per process)."""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import pytest

from helpers import CONFIG, ROOT, checksums, kill_at, tool_env, warnings
from dataio import atomic
from runkit import runs
from runkit.checkpoint import CheckpointError
from runkit.cli import Refused
from runkit.config import ConfigError, load_config
from runkit.runs import MANIFEST
from support.training import FAST, config_for, flip_a_byte, train_here


def listing(folder):
    return sorted(os.listdir(folder))


# ---------------------------------------------------- what overwrite removes
def add_user_files(folder):
    (folder / "notes.txt").write_text("my notes")
    (folder / "mydata").mkdir()
    (folder / "mydata" / "important.csv").write_text("a,b\n1,2\n")
    (folder / "infer_result.json").write_text("{}")   # infer_meta's default
    (folder / "scores").mkdir()
    (folder / "scores" / "hot.csv").write_text("uid,score\n")
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file() and
            p.relative_to(folder).parts[0] in ("notes.txt", "mydata",
                                                "infer_result.json", "scores")}


@pytest.mark.slow
def test_overwrite_removes_only_the_earlier_runs_files(copy_of, caplog):
    caplog.set_level(logging.INFO)
    folder = copy_of()
    shutil.copytree(folder / "1", folder / "1.prev")   # the run's own backup
    user = add_user_files(folder)
    old_id = json.loads((folder / MANIFEST).read_text())["run_id"]
    assert train_here(folder, "runner.overwrite=True", "runner.epochs=1") == 0
    assert listing(folder) == ["0", "infer_result.json", "mydata", "notes.txt",
                               MANIFEST, "scores"]
    for name, data in user.items():
        assert (folder / name).read_bytes() == data
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["run_id"] != old_id and list(manifest["epochs"]) == ["0"]
    log = caplog.text
    assert "removed the earlier run's epoch 0, epoch 1, 1.prev" in log
    assert "kept infer_result.json, mydata, notes.txt, scores" in log


@pytest.mark.slow
def test_overwrite_of_a_run_without_manifest_removes_only_checkpoints(
        copy_of, caplog):
    caplog.set_level(logging.INFO)
    folder = copy_of()
    (folder / MANIFEST).unlink()                       # a pre-manifest run
    (folder / "7").mkdir()                             # not a checkpoint
    (folder / "7" / "readme.txt").write_text("mine")
    (folder / "notes.txt").write_text("my notes")
    assert train_here(folder, "runner.overwrite=True", "runner.epochs=1") == 0
    assert listing(folder) == ["0", "7", "notes.txt", MANIFEST]
    assert (folder / "7" / "readme.txt").read_text() == "mine"
    assert "removed the earlier run's epoch 0, epoch 1" in caplog.text


def fake_run(folder, epochs=(0, )):
    """A run with a manifest, made by hand: epoch folders of a few bytes."""
    folder.mkdir()
    record = {}
    for epoch in epochs:
        (folder / str(epoch)).mkdir()
        epoch_dir = folder / str(epoch)
        (epoch_dir / "rec.pdparams").write_bytes(b"weights %d" % epoch)
        record[str(epoch)] = {"files": runs.file_record(str(epoch_dir)),
                              "reader_rng": None}
    config = config_for(folder)
    (folder / MANIFEST).write_text(json.dumps(
        {"run_id": "x", "config": config, "param_names": [], "processes": 1,
         "epochs": record}))
    return folder


@pytest.mark.parametrize("manifest", [True, False])
@pytest.mark.parametrize("name, kind", [("1", "file"), ("1", "folder"),
                                        ("0.prev", "folder")])
def test_overwrite_refuses_what_is_in_the_way(tmp_path, manifest, name, kind):
    folder = fake_run(tmp_path / "m")
    if not manifest:
        (folder / MANIFEST).unlink()
    path = folder / name
    if kind == "file":
        path.write_text("not a checkpoint")
    else:
        path.mkdir()
        (path / "mine.txt").write_text("not a checkpoint")
    before = sorted(str(p) for p in folder.rglob("*"))
    config = config_for(folder, "runner.overwrite=True", "runner.epochs=2")
    with pytest.raises(Refused) as refused:
        runs.Run(str(folder), config, [])
    message = str(refused.value)
    assert "%s is in the way" % path in message
    assert "runner.model_save_path" in message and "move it" in message
    assert sorted(str(p) for p in folder.rglob("*")) == before


def test_a_fresh_run_refuses_a_file_named_like_an_epoch(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0").write_text("my file")
    with pytest.raises(Refused, match="%s is in the way" % (folder / "0")):
        runs.Run(str(folder), config_for(folder), [])


# ------------------------------------------ a checkpoint given as a file
def test_a_damaged_checkpoint_file_is_refused_by_warm_start_and_expansion(
        copy_of, caplog):
    from audience import expansion
    folder = copy_of()
    params = folder / "0" / "rec.pdparams"
    flip_a_byte(params)
    caplog.set_level(logging.INFO)
    warm = folder.parent / "w"
    assert train_here(warm, "runner.model_init_path=%s" % params) == 1
    assert "%s does not match its checksum" % params in caplog.text
    assert not (warm / "0").exists()
    with pytest.raises(CheckpointError, match="%s does not match" % params):
        expansion.load_model(config_for(folder), str(params))


@pytest.mark.slow
def test_export_refuses_a_damaged_checkpoint_file(copy_of, tmp_path):
    from helpers import run_tool
    params = copy_of() / "1" / "rec.pdparams"
    flip_a_byte(params)
    out = tmp_path / "export"
    done = run_tool("export.py", FAST + ["expand.checkpoint=%s" % params],
                    extra=["--out", str(out)])
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "%s does not match its checksum" % params in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert not out.exists()


def test_a_checkpoint_file_is_checked_against_its_run(copy_of, caplog):
    folder = copy_of()
    params = folder / "0" / "rec.pdparams"
    assert runs.verify_checkpoint(str(params))["run_id"]
    assert "has no run.json" not in caplog.text
    # the .prev copy of an epoch is checked against that epoch
    shutil.copytree(folder / "1", folder / "1.prev")
    assert runs.verify_checkpoint(str(folder / "1.prev" / "rec.pdparams"))
    flip_a_byte(folder / "1.prev" / "rec.pdopt")
    with pytest.raises(CheckpointError, match="1.prev/rec.pdopt"):
        runs.verify_checkpoint(str(folder / "1.prev"))


# -------------------------------------- resume checks every epoch, records
def test_resume_refuses_a_missing_earlier_epoch_naming_its_copy(copy_of):
    folder = copy_of()
    os.rename(folder / "0", folder / "0.prev")   # an interrupted overwrite
    config = config_for(folder, "runner.resume=True", "runner.epochs=3",
                        "runner.seed=7")
    with pytest.raises(CheckpointError) as error:
        runs.Run(str(folder), config, [])
    message = str(error.value)
    assert "epoch 0 of the run in %s is missing (no folder %s)" % (
        folder, folder / "0") in message
    assert "%s" % (folder / "0.prev") in message and "rename" in message


def test_resume_refuses_a_damaged_earlier_epoch(copy_of):
    folder = copy_of()
    flip_a_byte(folder / "0" / "rec.pdopt")
    config = config_for(folder, "runner.resume=True", "runner.epochs=3",
                        "runner.seed=7")
    with pytest.raises(CheckpointError,
                       match="%s does not match its checksum" %
                       (folder / "0" / "rec.pdopt")):
        runs.Run(str(folder), config, [])


@pytest.mark.slow
def test_run_json_records_what_each_resume_changed(copy_of, tmp_path):
    folder = copy_of()
    data = tmp_path / "data2"
    shutil.copytree(ROOT / "data" / "train", data / "train")
    shutil.copy(ROOT / "data" / "max_idxs.yaml", data / "max_idxs.yaml")
    assert train_here(folder, "runner.resume=True", "runner.epochs=3",
                      "runner.seed=7",
                      "runner.train_data_dir=%s" % (data / "train")) == 0
    manifest = json.loads((folder / MANIFEST).read_text())
    assert list(manifest["epochs"]) == ["0", "1", "2"]
    (resume, ) = manifest["resumes"]
    assert resume["from_epoch"] == 2 and resume["time"]
    assert resume["changed"]["runner.epochs"] == [2, 3]
    assert resume["changed"]["runner.train_data_dir"] == [
        str(ROOT / "data" / "train"), str(data / "train")]
    assert "runner.resume" not in resume["changed"]
    # the config it started with stays as it was
    assert manifest["config"]["runner.epochs"] == 2


# ---------------------------------- a save killed at any point resumes
KILL_AT = """
import os, signal, sys
epoch, when = {epoch!r}, {when!r}
real = os.replace

def replace(src, dst):
    is_epoch = os.path.basename(dst) == epoch and os.path.isdir(src)
    if is_epoch and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
    if is_epoch and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace
from tools import trainer
sys.exit(trainer.main({argv!r}))
"""


def trainer_argv(folder, *extra):
    return ["-m", str(CONFIG), "-o"] + FAST + [
        "runner.model_save_path=%s" % folder, "runner.epochs=2"] + list(extra)


def in_subprocess(argv, kill_epoch=None, when=None):
    if kill_epoch is None:
        command = [sys.executable, str(ROOT / "tools" / "trainer.py")] + argv
    else:
        command = [sys.executable, "-c", KILL_AT.format(
            epoch=str(kill_epoch), when=when, argv=argv)]
    return subprocess.run(command, cwd=str(ROOT), env=tool_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted_fast_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole") / "m"
    done = in_subprocess(trainer_argv(folder))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("epoch", [0, 1])
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_save_killed_around_its_rename_resumes_to_the_same_checkpoints(
        uninterrupted_fast_run, tmp_path, epoch, when):
    folder = tmp_path / "m"
    killed = in_subprocess(trainer_argv(folder), epoch, when)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-3000:]
    resumed = in_subprocess(trainer_argv(folder, "runner.resume=True"))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert checksums(folder) == checksums(uninterrupted_fast_run)
    assert len(checksums(folder)) == 4
    assert listing(folder) == ["0", "1", MANIFEST]


@pytest.mark.slow
def test_a_run_killed_before_its_first_save_resumes_from_the_start(
        uninterrupted_fast_run, tmp_path):
    folder = tmp_path / "m"
    returncode = kill_at([sys.executable, str(ROOT / "tools" / "trainer.py")]
                         + trainer_argv(folder), "epoch: 0, batch_id: 2")
    assert returncode == -signal.SIGKILL
    assert not (folder / "0").exists()
    resumed = in_subprocess(trainer_argv(folder, "runner.resume=True"))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert "resuming %s from the start" % folder in resumed.stdout
    assert checksums(folder) == checksums(uninterrupted_fast_run)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before", "after"])
def test_an_overwrite_killed_around_its_first_rename_resumes(
        earlier_run, uninterrupted_fast_run, tmp_path, when):
    folder = tmp_path / "m"
    shutil.copytree(earlier_run, folder)        # another run (seed 7)
    (folder / "notes.txt").write_text("my notes")
    killed = in_subprocess(trainer_argv(folder, "runner.overwrite=True"), 0,
                           when)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-3000:]
    resumed = in_subprocess(trainer_argv(folder, "runner.resume=True"))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert checksums(folder) == checksums(uninterrupted_fast_run)
    assert listing(folder) == ["0", "1", "notes.txt", MANIFEST]


def test_save_epoch_lists_the_epoch_before_its_folder_is_in_place(tmp_path,
                                                                  monkeypatch):
    """The manifest names the epoch (as being saved) before the rename, so
    that no kill leaves an epoch folder the manifest does not know."""
    folder = tmp_path / "m"
    run = runs.Run(str(folder), config_for(folder), [])
    seen = {}
    real = os.replace

    def replace(src, dst):
        if os.path.basename(dst) == "0":
            seen["manifest"] = json.loads((folder / MANIFEST).read_text())
        real(src, dst)
    monkeypatch.setattr(os, "replace", replace)

    def write(tmp):
        with open(os.path.join(tmp, "rec.pdparams"), "wb") as f:
            f.write(b"weights")
    run.save_epoch(0, write, {"state": 1})
    assert seen["manifest"]["epochs"]["0"]["saving"] is True
    final = json.loads((folder / MANIFEST).read_text())
    assert "saving" not in final["epochs"]["0"]
    runs.verify_checkpoint(str(folder / "0"))


# --------------------------------------------------- clear one-line errors
@pytest.mark.parametrize("auc", [True, False])
def test_a_diverging_loss_stops_with_one_line_and_no_checkpoint(
        tmp_path, caplog, monkeypatch, auc):
    # the bounded BCE keeps even global_learning_rate=1000 finite now
    # (dygraph_model.PROB_FLOOR), so the third meta-batch's loss is made NaN
    import dygraph_model
    real = dygraph_model.DygraphModel.meta_loss
    calls = []

    def diverging(self, *args):
        loss, pred = real(self, *args)
        calls.append(1)
        return (loss * float("nan"), pred) if len(calls) >= 3 else (loss, pred)

    monkeypatch.setattr(dygraph_model.DygraphModel, "meta_loss", diverging)
    caplog.set_level(logging.INFO)
    folder = tmp_path / "m"
    rc = train_here(folder, "hyper_parameters.optimizer.global_learning_rate"
                    "=1000", "runner.use_auc=%s" % auc)
    assert rc == 1
    (line, ) = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.ERROR]
    assert "NaN" in line or "inf" in line
    assert "epoch 0, meta-batch" in line
    assert "hyper_parameters.optimizer.global_learning_rate" in line
    assert "hyper_parameters.local_lr" in line
    assert "cannot convert" not in line
    assert not [n for n in os.listdir(folder) if n[0].isdigit()]


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_auto_max_idxs_names_a_missing_or_empty_training_folder(tmp_path,
                                                                 state):
    from runkit.config import resolve_max_idxs
    train = tmp_path / "train"
    if state == "empty":
        train.mkdir()
    config = load_config(str(CONFIG), ["runner.train_data_dir=%s" % train])
    with pytest.raises((ValueError, FileNotFoundError)) as error:
        resolve_max_idxs(config)
    message = str(error.value)
    assert "runner.train_data_dir %s" % train in message
    assert ("does not exist" if state == "missing" else "no .pkl") in message
    assert "max_idxs.yaml" not in message.split(":")[0]
    # and how to get the data: the readme's section and the preprocessor
    assert "\"Full data\"" in message
    assert "tools/preprocess.py --raw" in message


def test_full_data_config_on_a_fresh_clone_says_how_to_get_the_data(tmp_path):
    """config_big.yaml's training folder is not in a clone: the trainer's
    check names it and says where the data come from."""
    from dataio.vocabulary import check_train_data
    train = tmp_path / "Lookalike" / "train_data"
    config = load_config(str(ROOT / "config_big.yaml"),
                         ["runner.train_data_dir=%s" % train])
    with pytest.raises(ValueError) as error:
        check_train_data(config)
    message = str(error.value)
    assert "runner.train_data_dir %s does not exist" % train in message
    assert "\"Full data\"" in message and "datasets/Lookalike" in message
    assert "tools/preprocess.py --raw RAW_DIR" in message
    assert "\n" not in message  # one line


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 2 ** 40])
def test_seed_out_of_range_names_key_value_and_range(seed):
    with pytest.raises(ConfigError) as error:
        load_config(str(CONFIG), ["runner.seed=%d" % seed])
    message = str(error.value)
    assert "runner.seed" in message and str(seed) in message
    assert ">= 0" in message and "< 4294967296" in message


def test_seed_edges_are_accepted():
    for seed in (0, 2 ** 32 - 1):
        assert load_config(str(CONFIG), ["runner.seed=%d" % seed])[
            "runner.seed"] == seed


def test_trainer_exits_2_on_an_out_of_range_seed(tmp_path, capsys):
    from tools import trainer
    with pytest.raises(SystemExit) as stop:
        trainer.main(["-m", str(CONFIG), "-o", "runner.seed=-3",
                      "runner.model_save_path=%s" % (tmp_path / "m")])
    assert stop.value.code == 2
    assert "runner.seed" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


# -------------------------------------------------- the write probe
def test_the_write_probe_is_removed_when_its_write_fails(tmp_path,
                                                         monkeypatch):
    class FullDisk:
        def __init__(self, path):
            self.file = open(path, "w")     # created, as on a full disk

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, text):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "open", lambda path, mode: FullDisk(path),
                        raising=False)
    with pytest.raises(ValueError, match="No space left on device"):
        atomic.check_writable(str(tmp_path), "runner.model_save_path")
    assert os.listdir(tmp_path) == []


# ------------------------------------ a save folder without run.json
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


# ---------------------------------------------- a diverged training
def test_a_diverged_training_is_warned_and_recorded(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    folder = tmp_path / "m"
    assert train_here(folder, "hyper_parameters.optimizer."
                      "global_learning_rate=1000") == 0
    (line, ) = [w for w in warnings(caplog) if "diverged" in w]
    assert line.startswith("training looks diverged at epoch 0: mean loss")
    assert "hyper_parameters.optimizer.global_learning_rate (now 1000)" in line
    assert "training AUC" in line
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["epochs"]["0"]["warning"] == line
    caplog.clear()
    # saved as ever, and every tool that loads it says what it recorded
    runs.verify_checkpoint(str(folder / "0"))
    (told, ) = warnings(caplog)
    assert str(folder / "0") in told and line in told


def test_a_healthy_training_is_not_called_diverged(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    folder = tmp_path / "m"
    assert train_here(folder, "runner.use_auc=False") == 0
    assert not [w for w in warnings(caplog) if "diverged" in w]
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
