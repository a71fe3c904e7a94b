"""A disk that fills up during a save: the tool stops with one line naming
the path and how to go on, the earlier checkpoint stays intact and
verifiable, and the failed save leaves nothing behind. Needs root to mount a
small tmpfs; skipped with the reason otherwise."""
import os
import subprocess

import pytest

from dataio.vocabulary import read_max_idxs_file
from helpers import ROOT, run_tool, yaml_list
from runkit.runs import read_manifest, verify_epoch


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=72m", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.strip())
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_keeps_the_earlier_checkpoint(small_disk):
    # a kw1 table of 500k rows (embed 8) makes a checkpoint of about 48 MB
    # (weights and Adam's two moments) at little compute: the first fits on
    # the 72 MB disk, the second does not
    maxima = [list(m) for m in read_max_idxs_file(str(ROOT / "data" /
                                                      "max_idxs.yaml"))]
    maxima[1][3] = 499999
    save = small_disk / "m"
    done = run_tool("trainer.py", [
        "runner.model_save_path=%s" % save, "runner.epochs=2",
        "hyper_parameters.max_idxs=%s" % yaml_list(maxima),
        "hyper_parameters.embed_dim=8", "hyper_parameters.mlp_dims=[8,8]",
        "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
        "hyper_parameters.batch_size=2048"])
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "No space left on device" in out and "Traceback" not in out
    assert "continue with -o runner.resume=True" in out
    assert sorted(os.listdir(save)) == ["0", "run.json"]   # nothing partial
    verify_epoch(str(save), 0, read_manifest(str(save)))
