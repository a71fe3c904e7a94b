"""Helpers used all over the suite: small configs and random inputs, tool
subprocesses and the demo run, stage files, disks, logs. Helpers of one
area are in ``support/``; fixtures in ``conftest.py``."""
import logging
import os
from pathlib import Path

import numpy as np

from runkit.config import load_config
from synthetic.inputs import SMALL_MAX_IDXS, random_inputs  # noqa: F401
from tuning import choice

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config.yaml"
FIXTURES = ROOT.parent / "shared" / "fixtures"

# the full data's maxima, as config_big.yaml states them
FULL_MAX_IDXS = load_config(str(ROOT / "config_big.yaml"))[
    "hyper_parameters.max_idxs"]


def yaml_list(value):
    return str(value).replace(" ", "")


def small_config(*extra, embed_dim=4, mlp_dims=(8, 8), num_expert=3,
                 num_output=2, max_idxs=SMALL_MAX_IDXS):
    overrides = [
        "hyper_parameters.embed_dim=%d" % embed_dim,
        "hyper_parameters.mlp_dims=%s" % yaml_list(list(mlp_dims)),
        "hyper_parameters.num_expert=%d" % num_expert,
        "hyper_parameters.num_output=%d" % num_output,
        "hyper_parameters.max_idxs=%s" % yaml_list(max_idxs),
    ] + list(extra)
    # no run to take meta-validated settings from: the fallback
    config, _ = choice.resolved(load_config(str(CONFIG), overrides), None,
                                announce=False)
    return config


def randomize_parameters(model, rng, scale=0.5):
    """Replace every weight (biases included, which Paddle inits to 0)."""
    for _, p in model.named_parameters():
        dtype = p.numpy().dtype
        p.set_value(rng.normal(0.0, scale, size=p.shape).astype(dtype))


# ------------------------------------------------------ tool subprocesses
def tool_env(project=True):
    """Environment of a tool subprocess: one CPU thread (two workers share
    2 cores), unless the run sets ``runner.num_threads`` (the demo: 2).

    The tools import the project installed in the venv (make venv: an
    editable install of one checkout); ``PYTHONPATH`` puts this checkout
    first, as pytest's ``pythonpath = .`` does for the tests, so that a
    venv shared by several checkouts runs the code under test. Without
    ``project``, neither: a Python started with ``-S`` then has no
    project, as a Python it is not installed in."""
    import os
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env.pop("PYTHONPATH", None)
    if project:
        env["PYTHONPATH"] = str(ROOT)
    return env


# Meta-validation adds seconds to every training run; it is tested by
# test_meta_validation and the demo, so other trainer runs go without it
# unless they set a tuning.* key themselves
NO_TUNING = "tuning.share=0"


def training_overrides(overrides):
    overrides = list(overrides)
    if not any(o.startswith("tuning.") for o in overrides):
        overrides.append(NO_TUNING)
    return overrides


def tool_command(script, overrides, config=CONFIG, extra=(), tuning=False):
    """The command line of a tool run; a training run goes without
    meta-validation (``NO_TUNING``) unless ``tuning``."""
    import sys
    command = [sys.executable, str(ROOT / "tools" / script), "-m", str(config)]
    command += list(extra)
    if script == "trainer.py" and not tuning:
        overrides = training_overrides(overrides)
    return command + (["-o"] + list(overrides) if overrides else [])


def run_tool(script, overrides, config=CONFIG, timeout=600, extra=()):
    import subprocess
    return subprocess.run(tool_command(script, overrides, config, extra),
                          cwd=str(ROOT), env=tool_env(), capture_output=True,
                          text=True, timeout=timeout)


class DemoRun:
    """The shipped demo (config.yaml as it is, outputs redirected to a
    temporary folder): ``tools/trainer.py`` then ``tools/infer_meta.py``.

    ``start`` launches the trainer in the background, so that it runs
    beside the unit tests; ``result`` waits for it, runs the meta-test and
    returns what the end-to-end tests check.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.model_dir = self.folder / "m"
        self.result_path = self.folder / "r.json"
        self.paths = ["runner.model_save_path=%s" % self.model_dir,
                      "runner.infer_load_path=%s" % self.model_dir,
                      "runner.infer_result_path=%s" % self.result_path,
                      # the readme's table: make demo on 2 cores, whose
                      # float sums (and figures) differ from one thread's
                      "runner.num_threads=2"]
        self.proc = None
        self._result = None

    def start(self):
        import subprocess
        self.log = open(self.folder / "train.log", "w")
        self.proc = subprocess.Popen(
            # config.yaml as make demo runs it: meta-validation included
            tool_command("trainer.py", self.paths, tuning=True),
            cwd=str(ROOT),
            env=tool_env(), stdout=self.log, stderr=subprocess.STDOUT,
            text=True)

    def result(self, timeout=900):
        import json
        if self._result is None:
            if self.proc is None:
                self.start()
            train_rc = self.proc.wait(timeout=timeout)
            self.log.close()
            out = {"train_rc": train_rc, "model_dir": self.model_dir,
                   "train_log": (self.folder / "train.log").read_text()}
            if train_rc == 0:
                infer = run_tool("infer_meta.py", self.paths, timeout=timeout)
                out.update(infer_rc=infer.returncode,
                           infer_log=infer.stdout + infer.stderr)
                if infer.returncode == 0:
                    out["json"] = json.loads(self.result_path.read_text())
            self._result = out
        return self._result

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and not self.log.closed:
            self.log.close()


def write_frame(path, x, y, aid, uid=None, label=True):
    """A stage file of rows ``x`` (four arrays), labels ``y``, one campaign;
    optionally without the label column, or with a uid column."""
    import numpy as np
    from dataio.frames import arrays_to_frame, write_pickle
    df = arrays_to_frame(y, np.full(len(y), aid), *x)
    if not label:
        df = df.drop(columns="label")
    if uid is not None:
        df.insert(0, "uid", uid)
    write_pickle(df, str(path))


def preprocessed(folder, size, seed, *args):
    """Raw competition files of ``size`` under ``folder/raw``, turned into
    stage files under ``folder/out`` by tools/preprocess.py ``args``;
    returns (raw folder, out folder)."""
    import subprocess
    import sys
    from synthetic.raw_format import write_raw
    raw, out = Path(folder) / "raw", Path(folder) / "out"
    write_raw(str(raw), size, seed=seed)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "preprocess.py"), "--raw",
         str(raw), "--out", str(out)] + list(args),
        env=tool_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return raw, out


# ------------------------------------------------------- shared fixtures
def tmpfs(tmp_path, size):
    """A tmpfs of ``size`` (mount's notation, e.g. "512k") mounted at
    ``tmp_path/disk`` for a full-disk test, as a generator for a pytest
    fixture to ``yield from``; skips where mounting is not allowed."""
    import os
    import subprocess
    import pytest
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size,
                              "tmpfs", str(folder)], capture_output=True,
                             text=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.strip())
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def checksums(folder):
    """SHA-256 of every checkpoint file below ``folder``, by relative path."""
    from runkit.runs import sha256
    return {p.relative_to(folder).as_posix(): sha256(p)
            for p in sorted(Path(folder).rglob("rec.pd*"))}


def kill_at(command, text, timeout=120):
    """Run ``command`` (argv) from the project root, SIGKILL it at the
    first output line holding ``text``; its return code."""
    import signal
    import subprocess
    proc = subprocess.Popen(command, cwd=str(ROOT), env=tool_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        for line in proc.stdout:
            if text in line:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode


# ------------------------------------------------------------------- logs
def messages(caplog, level=logging.INFO):
    """The captured log messages at ``level`` or above."""
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def errors(caplog):
    """The captured messages at ERROR or above."""
    return messages(caplog, logging.ERROR)


def warnings(caplog):
    """The captured messages at WARNING exactly (errors left out)."""
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING]


# ------------------------------------------------------------------ files
def write(path, text):
    """Write ``text`` to ``path`` (its folders made); returns the path as a
    string, as the tools take it."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


class Killed(BaseException):
    """SIGKILL, as far as the code under test can tell: raised from a
    patched call, nothing after it runs, no handler or clean-up sees it."""
