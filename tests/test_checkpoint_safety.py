"""Checkpoints are data, not code: every tool that reads a checkpoint
refuses a pickle that asks for anything but arrays and containers, before
it runs, naming the global and the file."""
import os
import pickle

import numpy as np
import pytest

from helpers import (SMALL_MAX_IDXS, random_inputs, run_tool, small_config,
                     write_frame, yaml_list)
from runkit.checkpoint import CheckpointError, load_state, save_checkpoint


class Payload:
    def __init__(self, call, arg):
        self.call, self.arg = call, arg

    def __reduce__(self):
        return self.call, (self.arg, )


def hostile_checkpoint(folder, marker, kind):
    import subprocess
    calls = {"os.system": (os.system, "touch %s" % marker),
             "exec": (exec, "open(%r, 'w').close()" % str(marker)),
             "subprocess": (subprocess.getoutput, "touch %s" % marker)}
    call, arg = calls[kind]
    folder.mkdir(parents=True, exist_ok=True)
    state = {"embedding.static_emb.embeddings.0.weight": Payload(call, arg)}
    for name in ("rec.pdparams", "rec.pdopt"):
        with open(folder / name, "wb") as f:
            pickle.dump(state, f)
    return folder


ARCH = ["hyper_parameters.max_idxs=%s" % yaml_list(SMALL_MAX_IDXS),
        "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
        "hyper_parameters.num_expert=3", "hyper_parameters.num_output=2",
        "hyper_parameters.batch_size=16"]


def test_own_checkpoints_load_as_arrays(tmp_path):
    from dygraph_model import DygraphModel
    model = DygraphModel().create_model(small_config())
    path = save_checkpoint(model, None, str(tmp_path), 0)
    state = load_state(path)
    assert set(state) == set(model.state_dict())
    assert all(isinstance(v, np.ndarray) for v in state.values())


@pytest.mark.parametrize("kind", ["os.system", "exec", "subprocess"])
def test_a_hostile_checkpoint_is_refused_before_it_runs(tmp_path, kind):
    marker = tmp_path / "ran"
    folder = hostile_checkpoint(tmp_path / "m" / "0", marker, kind)
    with pytest.raises(CheckpointError, match="refused to load global"):
        load_state(str(folder))
    assert not marker.exists()


@pytest.mark.slow
def test_every_tool_refuses_a_hostile_checkpoint(tmp_path):
    marker = tmp_path / "ran"
    model = hostile_checkpoint(tmp_path / "m" / "0", marker, "os.system").parent
    rng = np.random.default_rng(0)
    seeds = tmp_path / "s.pkl"
    write_frame(seeds, random_inputs(rng, 20), np.arange(20) % 2, 3,
                uid=np.arange(20))
    runs = {
        "infer_meta.py": (ARCH + ["runner.infer_load_path=%s" % model,
                                  "runner.infer_result_path=%s" % (tmp_path / "r.json")], []),
        "trainer.py": (ARCH + ["runner.model_init_path=%s" % (model / "0"),
                               "runner.model_save_path=%s" % (tmp_path / "new")], []),
        "expand.py": (ARCH + ["expand.checkpoint=%s" % (model / "0")],
                      ["--seeds", str(seeds), "--candidates", str(seeds),
                       "--out", str(tmp_path / "aud")]),
        "export.py": (ARCH + ["expand.checkpoint=%s" % (model / "0")],
                      ["--out", str(tmp_path / "exp")]),
    }
    for script, (overrides, extra) in runs.items():
        done = run_tool(script, overrides, extra=extra)
        out = done.stdout + done.stderr
        assert done.returncode == 1, (script, out[-2000:])
        assert "refused to load global posix.system" in out or \
            "refused to load global os.system" in out, (script, out[-2000:])
        assert "rec.pdparams" in out and "Traceback" not in out, script
        assert not marker.exists(), script
    assert not (tmp_path / "aud").exists() and not (tmp_path / "exp").exists()


@pytest.mark.slow
def test_resume_refuses_a_hostile_optimiser_state(tmp_path):
    """rec.pdopt is read on resume only; a hostile one, even with a manifest
    rewritten to match it, is refused before it runs."""
    import json
    from runkit.runs import MANIFEST, sha256
    small = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
             "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
             "hyper_parameters.batch_size=512"]
    save, marker = tmp_path / "m", tmp_path / "ran"
    first = run_tool("trainer.py", small + ["runner.model_save_path=%s" % save])
    assert first.returncode == 0, first.stdout[-2000:]
    opt = save / "0" / "rec.pdopt"
    with open(opt, "wb") as f:
        pickle.dump({"x": Payload(os.system, "touch %s" % marker)}, f)
    manifest = json.loads((save / MANIFEST).read_text())
    manifest["epochs"]["0"]["files"]["rec.pdopt"] = {
        "size": opt.stat().st_size, "sha256": sha256(opt)}
    (save / MANIFEST).write_text(json.dumps(manifest))
    resumed = run_tool("trainer.py", small + ["runner.model_save_path=%s" % save,
                                              "runner.resume=True",
                                              "runner.epochs=2"])
    assert resumed.returncode == 1, resumed.stdout[-2000:]
    assert "refused to load global" in resumed.stdout
    assert str(opt) in resumed.stdout and not marker.exists()
