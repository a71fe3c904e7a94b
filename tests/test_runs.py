"""One run per save folder: true resume after a kill, overwrite that keeps
the old run until the new one has an epoch, checkpoints checked against the
run's manifest."""
import json
import shutil
import signal
import subprocess

import pytest

from helpers import ROOT, checksums, kill_at, run_tool, tool_command, tool_env
from runkit.runs import MANIFEST

SMALL = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
         "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
         "hyper_parameters.batch_size=512", "runner.print_interval=1",
         "runner.epochs=2"]


def train(folder, *extra):
    return run_tool("trainer.py", SMALL + ["runner.model_save_path=%s" % folder]
                    + list(extra))


def kill_when(folder, text):
    """Start a training run into ``folder`` and SIGKILL it at the first
    output line holding ``text``."""
    return kill_at(tool_command(
        "trainer.py", SMALL + ["runner.model_save_path=%s" % folder]), text)


@pytest.fixture(scope="module")
def uninterrupted_small_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "a"
    done = train(folder)
    assert done.returncode == 0, done.stdout[-3000:]
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["epoch: 1, batch_id: 9", "saved"])
def test_a_killed_run_resumes_to_the_same_checkpoints(uninterrupted_small_run, tmp_path,
                                                      moment):
    folder = tmp_path / "b"
    assert kill_when(folder, moment) == -signal.SIGKILL
    assert "1" not in [p.name for p in folder.iterdir()]
    resumed = train(folder, "runner.resume=True")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "resuming %s from epoch" % folder in resumed.stdout
    want = checksums(uninterrupted_small_run)
    assert len(want) == 4   # 2 epochs x (rec.pdparams, rec.pdopt)
    assert checksums(folder) == want   # byte-identical


@pytest.mark.slow
def test_resume_refuses_another_config_and_a_folder_without_manifest(
        uninterrupted_small_run, tmp_path):
    folder = tmp_path / "c"
    shutil.copytree(uninterrupted_small_run, folder)
    other = train(folder, "runner.resume=True", "hyper_parameters.local_lr=0.5")
    assert other.returncode == 2
    assert "differs" in other.stdout and "hyper_parameters.local_lr" in other.stdout
    (folder / MANIFEST).unlink()
    bare = train(folder, "runner.resume=True")
    assert bare.returncode == 2 and "has no run.json" in bare.stdout


@pytest.mark.slow
def test_overwrite_keeps_the_old_run_until_its_first_epoch(uninterrupted_small_run,
                                                           tmp_path):
    folder = tmp_path / "d"
    shutil.copytree(uninterrupted_small_run, folder)
    old = checksums(folder)
    # killed before its first save: the old run is whole
    proc = subprocess.Popen(
        tool_command("trainer.py", SMALL + ["runner.model_save_path=%s" % folder,
                                            "runner.overwrite=True"]),
        cwd=str(ROOT), env=tool_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "epoch: 0, batch_id: 3" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert checksums(folder) == old
    done = train(folder, "runner.overwrite=True", "runner.epochs=1",
                 "hyper_parameters.local_lr=0.5")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "removed the earlier run's" in done.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["0", MANIFEST]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert list(manifest["epochs"]) == ["0"]
    assert manifest["config"]["hyper_parameters.local_lr"] == 0.5


@pytest.mark.slow
def test_meta_test_refuses_a_damaged_or_foreign_checkpoint(uninterrupted_small_run,
                                                           tmp_path):
    folder = tmp_path / "e"
    shutil.copytree(uninterrupted_small_run, folder)
    common = SMALL + ["runner.infer_load_path=%s" % folder,
                      "runner.infer_result_path=%s" % (tmp_path / "r.json")]
    params = folder / "0" / "rec.pdparams"
    data = bytearray(params.read_bytes())
    data[len(data) // 2] ^= 0xFF   # one flipped byte
    params.write_bytes(bytes(data))
    damaged = run_tool("infer_meta.py", common)
    assert damaged.returncode == 1
    assert "%s does not match its checksum" % params in damaged.stdout
    shutil.rmtree(folder)
    shutil.copytree(uninterrupted_small_run, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    del manifest["epochs"]["1"]       # epoch 1 now belongs to no run here
    (folder / MANIFEST).write_text(json.dumps(manifest))
    foreign = run_tool("infer_meta.py", common + ["runner.infer_start_epoch=1",
                                                  "runner.infer_end_epoch=2"])
    assert foreign.returncode == 1
    assert "is not part of the run described by" in foreign.stdout
    (folder / MANIFEST).unlink()
    old_style = run_tool("infer_meta.py", common)
    assert old_style.returncode == 0, old_style.stdout[-3000:]
    assert "has no run.json" in old_style.stdout
