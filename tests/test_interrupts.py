"""Clean stops: Ctrl-C and SIGTERM during training give one line and exit
130 / 143, no traceback, no C++ dump, nothing half-written; leftovers of an
interrupted save are removed (and named) at the next start."""
import os
import signal
import subprocess
import time

import pytest

from helpers import ROOT, run_tool, tool_command, tool_env

SMALL = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
         "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
         "hyper_parameters.batch_size=256", "runner.print_interval=5"]


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, name", [(signal.SIGINT, 130, "Ctrl-C"),
                                             (signal.SIGTERM, 143, "SIGTERM")])
def test_an_interrupted_training_stops_with_one_line(tmp_path, sig, code, name):
    model = tmp_path / "m"
    proc = subprocess.Popen(
        tool_command("trainer.py", SMALL + ["runner.epochs=50",
                                            "runner.model_save_path=%s" % model]),
        cwd=str(ROOT), env=tool_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:   # wait until it trains
            lines.append(line)
            if "saved" in line:
                break
        time.sleep(0.5)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + out
    assert proc.returncode == code, out[-3000:]
    assert "interrupted by %s" % name in out
    assert "last complete checkpoint: %s" % (model / "0") in out
    assert "Traceback" not in out and "FatalError" not in out
    assert not [n for n in os.listdir(model) if ".tmp-" in n]
    assert (model / "0" / "rec.pdparams").exists()


@pytest.mark.slow
def test_leftovers_of_an_interrupted_save_are_removed(tmp_path):
    model = tmp_path / "m"
    (model / ".0.tmp-abcd").mkdir(parents=True)
    (model / ".0.tmp-abcd" / "rec.pdparams").write_bytes(b"half")
    done = run_tool("trainer.py", SMALL + ["runner.model_save_path=%s" % model])
    assert done.returncode == 0, done.stdout[-3000:]
    assert "removed leftovers of an interrupted save in %s: .0.tmp-abcd" % model \
        in done.stdout
    assert sorted(os.listdir(model)) == ["0", "run.json"]
