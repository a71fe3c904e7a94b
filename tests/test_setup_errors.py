"""What a user who has not set up yet is told: a Python without the
requirements gets one line naming the Python to use (the tools as
subprocesses), and a meta-test or an expansion before any training says to
train first."""
import logging
import os
import subprocess
import sys
import sysconfig

import pytest

from helpers import CONFIG, ROOT, errors, tool_env
from support.meta_test import meta_test


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
@pytest.mark.parametrize("how", ["no paddle", "no site-packages",
                                 "no project"])
def test_a_python_without_the_requirements_is_told_which_to_use(tmp_path,
                                                                 how):
    argv = [str(ROOT / "tools" / "trainer.py"), "-m", str(CONFIG), "-o",
            "runner.model_save_path=%s" % (tmp_path / "m")]
    env = tool_env(project=False)
    if how == "no paddle":
        command = [sys.executable, "-c", BLOCK_PADDLE.format(argv=argv)]
        env = tool_env()
        modules = ["'paddle'"]
    elif how == "no site-packages":   # -S: the project, numpy, paddle missing
        command = [sys.executable, "-S"] + argv
        modules = ["'runkit' (the project itself)", "'numpy'", "'paddle'"]
    else:   # the requirements without the project: its install's .pth unread
        command = [sys.executable, "-S"] + argv
        env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
        modules = ["module 'runkit' (the project itself), which"]
    done = subprocess.run(command, cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "Traceback" not in out
    (line, ) = [l for l in out.splitlines() if " - ERROR - " in l]
    assert "has no module" in line
    assert all(m in line for m in modules), line
    # the command to use, from wherever the tool was started
    assert str(ROOT / ".venv" / "bin" / "python") in line, line
    assert str(ROOT / "tools" / "trainer.py") in line, line
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
                          env=tool_env(project=False), capture_output=True,
                          text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "Traceback" not in out
    (line, ) = [l for l in out.splitlines() if " - ERROR - " in l]
    assert "has no module" in line and ".venv/bin/python" in line
    assert tool in line
    assert not (tmp_path / "out").exists()


def test_meta_test_before_any_training_says_to_train_first(
        meta_test_setup, tmp_path, caplog):
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
