"""Failures come before the work: an unwritable save folder stops the
trainer before it reads the data or takes a step; a missing test folder,
checkpoint or unwritable result folder stops the meta-test before its first
campaign. Each names the key and the path, with no traceback."""
import pytest

from helpers import run_tool

SMALL = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
         "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
         "hyper_parameters.batch_size=256"]


@pytest.mark.slow
def test_an_unwritable_save_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    done = run_tool("trainer.py", SMALL + [
        "runner.model_save_path=%s" % (blocker / "models")])
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-2000:]
    assert "runner.model_save_path %s" % (blocker / "models") in out
    assert "not writable" in out and "Traceback" not in out
    assert "read " not in out and "epoch:" not in out   # no data, no step


@pytest.mark.slow
def test_meta_test_checks_its_inputs_before_the_first_campaign(tmp_path):
    done = run_tool("infer_meta.py", SMALL + [
        "runner.infer_load_path=%s" % (tmp_path / "none"),
        "runner.infer_result_path=%s" % (tmp_path / "r.json")])
    out = done.stdout + done.stderr
    assert done.returncode == 1
    assert "no checkpoint %s" % (tmp_path / "none" / "0" / "rec.pdparams") in out
    assert "[hot]" not in out and "Traceback" not in out
    missing = run_tool("infer_meta.py", SMALL + [
        "runner.test_cold_data_dir=%s" % (tmp_path / "nope"),
        "runner.infer_load_path=%s" % (tmp_path / "none")])
    assert missing.returncode == 1
    assert "the cold test folder %s does not exist" % (tmp_path / "nope") in \
        missing.stdout + missing.stderr
