"""A disk that fills up during a save: the tool stops with one line naming
the path and how to go on, the earlier checkpoint stays intact and
verifiable, and the failed save leaves nothing behind. Needs root to mount a
small tmpfs; skipped with the reason otherwise."""
import os

import pytest

from dataio.vocabulary import read_max_idxs_file
from helpers import ROOT, run_tool, tmpfs, yaml_list
from runkit.runs import read_manifest, verify_epoch


@pytest.fixture
def disk_72m(tmp_path):
    yield from tmpfs(tmp_path, "72m")


@pytest.mark.slow
def test_a_full_disk_keeps_the_earlier_checkpoint(disk_72m):
    # a kw1 table of 500k rows (embed 8) makes a checkpoint of about 48 MB
    # (weights and Adam's two moments) at little compute: the first fits on
    # the 72 MB disk, the second does not
    maxima = [list(m) for m in read_max_idxs_file(str(ROOT / "data" /
                                                      "max_idxs.yaml"))]
    maxima[1][3] = 499999
    save = disk_72m / "m"
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
