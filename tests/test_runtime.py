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


@pytest.mark.slow
def test_tools_apply_it_before_paddle_and_log_it_once():
    """prepare() in a fresh process: paddle sees the flag, one log line."""
    code = (
        "from runkit import runtime\n"
        "from runkit.config import load_config\n"
        "runtime.setup_logging()\n"
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
