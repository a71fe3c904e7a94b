"""The CPU fast path: set before paddle is imported, AMD-only for MKL, and
never over a value the user set."""
import subprocess
import sys

import pytest

from helpers import ROOT
from runkit import runtime


@pytest.mark.parametrize("vendor, mkl", [("AuthenticAMD", "5"),
                                         ("GenuineIntel", None)])
def test_fast_path_sets_mkl_only_on_amd(monkeypatch, vendor, mkl):
    monkeypatch.setattr(runtime, "cpu_vendor", lambda: vendor)
    env = {}
    runtime.cpu_fast_path(env)
    assert env.get("MKL_DEBUG_CPU_TYPE") == mkl
    assert env["FLAGS_use_stride_kernel"] == "0"


def test_fast_path_keeps_the_users_values(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_vendor", lambda: "AuthenticAMD")
    env = {"MKL_DEBUG_CPU_TYPE": "2", "FLAGS_use_stride_kernel": "1"}
    runtime.cpu_fast_path(env)
    assert env == {"MKL_DEBUG_CPU_TYPE": "2", "FLAGS_use_stride_kernel": "1"}


def test_the_fast_path_is_logged_at_debug_only(monkeypatch, caplog):
    """Every tool sets it and a user has nothing to do about it: not in
    the INFO log a run shows."""
    import logging
    from support.training import config_for
    monkeypatch.setattr(runtime, "FAST_PATH", {"FLAGS_use_stride_kernel": "0"})
    monkeypatch.setattr(runtime, "_fast_path_logged", [])
    caplog.set_level(logging.DEBUG, logger="metaheac")
    runtime.setup_device(config_for("unused"))
    (record, ) = [r for r in caplog.records
                  if r.getMessage().startswith("CPU fast path")]
    assert record.levelno == logging.DEBUG
    assert "FLAGS_use_stride_kernel=0" in record.getMessage()


@pytest.mark.slow
def test_tools_apply_it_before_paddle_and_log_it_once():
    """prepare() in a fresh process: paddle sees the flag, one line in the
    debug log, none at the tools' INFO level."""
    code = (
        "import logging\n"
        "from runkit import runtime\n"
        "from runkit.config import load_config\n"
        "runtime.setup_logging()\n"
        "logging.getLogger().setLevel(logging.DEBUG)\n"
        "config = load_config(%r)\n"
        "runtime.prepare(config); runtime.prepare(config)\n"
        "import paddle\n"
        "print('flag', paddle.get_flags(['FLAGS_use_stride_kernel'])"
        "['FLAGS_use_stride_kernel'])\n" % str(ROOT / "config.yaml"))
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("FLAGS_use_stride_kernel", "MKL_DEBUG_CPU_TYPE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, env=env, cwd=str(ROOT), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "flag False" in out.stdout
    assert out.stdout.count("CPU fast path") == 1
    assert out.stdout.count("DEBUG - CPU fast path") == 1


def test_paddles_own_log_is_kept_to_errors_unless_the_user_says_otherwise():
    env = {}
    runtime.quiet_paddle_log(env)
    assert env == {"GLOG_minloglevel": "2"}
    env = {"GLOG_minloglevel": "0"}
    runtime.quiet_paddle_log(env)
    assert env == {"GLOG_minloglevel": "0"}
