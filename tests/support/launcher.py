"""Tools under the collective launcher (paddle.distributed.launch, gloo on
CPU) and in one process, and the comparison of their expansion outputs."""
import json
import os
import subprocess
import sys

from helpers import ROOT, tool_command, tool_env
from support.training import without_timing


def launch(script, overrides, log_dir, nproc=2, nnodes=None, master=None,
           wait=True, config=None, extra=()):
    """tools/<script> under the launcher (``runner.use_fleet=True``); with
    ``wait``, its output and its ranks' logs once it passed, else the
    running process."""
    command = [sys.executable, "-m", "paddle.distributed.launch",
               "--nproc_per_node", str(nproc), "--log_dir", str(log_dir)]
    if nnodes:
        command += ["--nnodes", str(nnodes), "--master", master]
    kwargs = {"config": config} if config else {}
    command += tool_command(script, list(overrides) +
                            ["runner.use_fleet=True"], extra=extra,
                            **kwargs)[1:]
    proc = subprocess.Popen(command, cwd=str(ROOT), env=tool_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    return finish(proc, log_dir) if wait else proc


def finish(proc, log_dir, timeout=180):
    """Wait for a launch; it passed; its output and its ranks' logs."""
    out, _ = proc.communicate(timeout=timeout)
    logs = ""
    if os.path.isdir(log_dir):
        for name in sorted(os.listdir(log_dir)):
            with open(os.path.join(log_dir, name), errors="replace") as f:
                logs += "\n--- %s\n%s" % (name, f.read()[-3000:])
    assert proc.returncode == 0, out[-3000:] + logs
    return out + logs


def single(script, overrides, config=None, extra=()):
    """tools/<script> in one process; it passed."""
    kwargs = {"config": config} if config else {}
    proc = subprocess.run(tool_command(script, overrides, extra=extra,
                                       **kwargs), cwd=str(ROOT),
                          env=tool_env(), capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def same_outputs(a, b):
    """Two expansion folders hold the same files; summaries equal but for
    the timings, the time of the run and the key that launched it
    (``runner.use_fleet`` in the provenance's config). report.html is
    drawn from the summary, times included, so only the summary is
    compared for it."""
    files = sorted(os.path.relpath(os.path.join(d, f), a)
                   for d, _, fs in os.walk(a) for f in fs)
    assert files == sorted(os.path.relpath(os.path.join(d, f), b)
                           for d, _, fs in os.walk(b) for f in fs)
    for name in files:
        if name == "report.html":
            continue
        x = open(os.path.join(a, name)).read()
        y = open(os.path.join(b, name)).read()
        if name == "summary.json":
            x, y = [without_timing(json.loads(t)) for t in (x, y)]
            for doc in (x, y):
                made = doc.get("provenance", {})
                made.pop("created", None)
                made.get("config", {}).pop("runner.use_fleet", None)
        assert x == y, name
    return files
