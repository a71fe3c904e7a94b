"""Ctrl-C (or SIGTERM) while a tool is still starting, importing numpy,
pandas and paddle (its first 2-3 s): one line naming what the tool was
doing and what it leaves, exit 130 / 143, no traceback.

The signal is sent by the tool process to itself at a chosen import (an
import hook), so the moment is exact, not a matter of timing."""
import os
import signal
import subprocess
import sys

import pytest

from helpers import ROOT, SMALL_MAX_IDXS, tool_env, yaml_list

ARCH = ["hyper_parameters.max_idxs=%s" % yaml_list(SMALL_MAX_IDXS),
        "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
        "hyper_parameters.num_expert=3", "hyper_parameters.num_output=2"]

# runs a tool as `python tools/<tool>.py ...` would, after installing a hook
# that signals the process when the module `trigger` starts importing
LAUNCH = """
import os, runpy, signal, sys
trigger, number, script = sys.argv[1:4]
class Hook:
    def find_spec(self, name, path=None, target=None):
        if name == trigger:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), int(number))
        return None
sys.meta_path.insert(0, Hook())
sys.argv = [script] + sys.argv[4:]
runpy.run_path(script, run_name="__main__")
"""


def interrupted(tool, trigger, sig, args):
    script = str(ROOT / "tools" / (tool + ".py"))
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, trigger, str(int(sig)), script, "-m",
         str(ROOT / "config.yaml")] + [str(a) for a in args],
        cwd=str(ROOT), env=tool_env(), capture_output=True, text=True,
        timeout=300)


def one_line(done):
    out = done.stdout + done.stderr
    assert "Traceback" not in out and "Error:" not in out, out[-3000:]
    assert "FatalError" not in out, out[-3000:]
    errors = [line for line in out.splitlines() if " - ERROR - " in line]
    assert len(errors) == 1, out[-3000:]
    return errors[0]


@pytest.mark.slow
def test_ctrl_c_while_the_first_modules_load(tmp_path):
    out = tmp_path / "aud"
    done = interrupted("expand", "yaml", signal.SIGINT, [
        "--seeds", "s.pkl", "--candidates", "c.pkl", "--out", out])
    line = one_line(done)
    assert done.returncode == 130
    assert "interrupted by Ctrl-C" in line and "nothing was written" in line
    assert not out.exists()


@pytest.mark.slow
def test_ctrl_c_while_paddle_loads_names_the_expansions_output(tmp_path):
    out = tmp_path / "aud"
    done = interrupted("expand", "paddle.base", signal.SIGINT, [
        "--seeds", "s.pkl", "--candidates", "c.pkl", "--out", out, "-o"]
        + ARCH)
    line = one_line(done)
    assert done.returncode == 130
    assert "no output was written; %s not made" % out in line
    assert "checkpoint" not in line   # the trainer's words
    assert not out.exists() and os.listdir(tmp_path) == []


@pytest.mark.slow
def test_sigterm_while_paddle_loads_in_export_keeps_the_earlier_output(
        tmp_path):
    out = tmp_path / "srv"
    out.mkdir()
    (out / "export.json").write_text('{"tool": "export"}')   # an earlier one
    done = interrupted("export", "paddle.base", signal.SIGTERM, [
        "--out", out, "--overwrite", "-o"] + ARCH)
    line = one_line(done)
    assert done.returncode == 143
    assert "interrupted by SIGTERM" in line
    assert "no output was written; %s left as it was" % out in line
    assert os.listdir(out) == ["export.json"]
    assert sorted(os.listdir(tmp_path)) == ["srv"]


@pytest.mark.slow
def test_ctrl_c_while_paddle_loads_in_the_meta_test_names_its_result(
        tmp_path):
    result = tmp_path / "r.json"
    done = interrupted("infer_meta", "paddle.base", signal.SIGINT, [
        "-o"] + ARCH + ["runner.infer_result_path=%s" % result])
    line = one_line(done)
    assert done.returncode == 130
    assert "no output was written; %s not made" % result in line
