"""A disk that fills up during a save: the tool stops with one line naming
the path and how to go on, the earlier checkpoint stays intact and
verifiable, and the failed save leaves nothing behind. Needs root to mount a
small tmpfs; skipped with the reason otherwise."""
import os
import subprocess

import pytest

from helpers import run_tool
from runkit.runs import read_manifest, verify_epoch


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.strip())
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_keeps_the_earlier_checkpoint(small_disk):
    # a checkpoint of the default network on the sample's vocabularies is
    # about 6.5 MB: the first fits on the 10 MB disk, the second does not
    save = small_disk / "m"
    done = run_tool("trainer.py", ["runner.model_save_path=%s" % save,
                                   "runner.epochs=2",
                                   "hyper_parameters.batch_size=512"])
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "No space left on device" in out and "Traceback" not in out
    assert "continue with -o runner.resume=True" in out
    assert sorted(os.listdir(save)) == ["0", "run.json"]   # nothing partial
    verify_epoch(str(save), 0, read_manifest(str(save)))
