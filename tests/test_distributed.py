"""Collective runs (paddle.distributed.launch, gloo on CPU): 2 ranks x t
tasks train what 1 process with the same 2t campaigns trains; a 2-process
meta-test writes the 1-process summary; two one-process "machines"
(--nnodes 2 on one host) equal --nproc_per_node 2; misuse is refused
before any work."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, tool_env
from runkit import distributed
from runkit.checkpoint import load_state
from runkit.cli import Refused
from runkit.runs import Run
from support.launcher import finish, launch, same_outputs, single
from support.training import tiny_data, tiny_overrides, without_timing

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny data trained by 1 process (4 tasks a meta-batch) and by 2
    ranks (2 tasks each): three meta-steps, one epoch."""
    base = tmp_path_factory.mktemp("dist")
    data = tiny_data(base / "data")

    def overrides(name, tasks):
        o = tiny_overrides(data, base / name, base / (name + ".json"))
        return [x for x in o if not x.startswith("hyper_parameters.task_count")] + [
            "hyper_parameters.task_count=%d" % tasks, "runner.print_interval=1",
            "runner.infer_train_epoch=2"]
    single("trainer.py", overrides("one", 4))
    launch("trainer.py", overrides("two", 2), base / "log_two")
    return base, overrides


def test_two_ranks_train_what_one_process_with_their_tasks_trains(runs):
    base, _ = runs
    one, two = load_state(str(base / "one" / "0")), load_state(
        str(base / "two" / "0"))
    assert set(one) == set(two)
    moved = 0.0
    for name in one:
        np.testing.assert_allclose(np.asarray(two[name]), np.asarray(one[name]),
                                   rtol=0, atol=2e-6, err_msg=name)
    # and training did move the weights (the comparison is not of inits)
    init = base / "init"
    single("trainer.py", runs[1]("init", 4) + ["hyper_parameters.method=scratch"])
    start = load_state(str(init / "0"))
    moved = max(float(np.abs(np.asarray(one[n]) - np.asarray(start[n])).max())
                for n in one)
    assert moved > 1e-3
    # only rank 0 wrote: one manifest, the run's process count in it
    manifest = json.loads((base / "two" / "run.json").read_text())
    assert manifest["processes"] == 2 and list(manifest["epochs"]) == ["0"]
    worker1 = (base / "log_two" / "workerlog.1").read_text()
    assert "saved" not in worker1 and "epoch: 0, batch_id" not in worker1


def test_two_process_meta_test_writes_the_one_process_summary(runs):
    base, overrides = runs
    common = overrides("two", 2)
    one = common + ["runner.infer_result_path=%s" % (base / "r1.json")]
    two = common + ["runner.infer_result_path=%s" % (base / "r2.json")]
    single("infer_meta.py", one)
    launch("infer_meta.py", two, base / "log_infer")
    r1 = json.loads((base / "r1.json").read_text())["epochs"]["0"]
    r2 = json.loads((base / "r2.json").read_text())["epochs"]["0"]
    assert without_timing(r1) == without_timing(r2)
    assert r1["hot"]["summary"]["evaluated_campaigns"] >= 1


def test_two_machines_on_one_host_equal_two_local_processes(runs):
    base, overrides = runs
    master = "127.0.0.1:%d" % free_port()
    procs = [launch("trainer.py", overrides("nodes", 2), base / ("log_n%d" % i),
                    nproc=1, nnodes=2, master=master, wait=False)
             for i in range(2)]
    for i, proc in enumerate(procs):
        finish(proc, base / ("log_n%d" % i))
    a, b = load_state(str(base / "two" / "0")), load_state(
        str(base / "nodes" / "0"))
    for name in a:
        np.testing.assert_allclose(np.asarray(b[name]), np.asarray(a[name]),
                                   rtol=0, atol=1e-6, err_msg=name)


def test_two_process_expansion_splits_campaigns_and_writes_one_output(runs):
    base, overrides = runs
    common = overrides("two", 2) + ["expand.min_seeds=5"]
    extra = ["--seeds", str(base / "data" / "test" / "test_stage1.pkl"),
             "--candidates", str(base / "data" / "test" / "test_stage2.pkl"),
             "--top", "0.1"]
    single("expand.py", common, extra=extra + ["--out", str(base / "aud1")])
    launch("expand.py", common, base / "log_aud",
           extra=extra + ["--out", str(base / "aud2")])
    files = same_outputs(str(base / "aud1"), str(base / "aud2"))
    aids = [f.split(os.sep)[0] for f in files if f.endswith("audience.csv")]
    assert len(aids) == 2
    # rank 0 reports every campaign, also those rank 1 expanded
    log = (base / "log_aud" / "workerlog.0").read_text(errors="replace")
    assert all("campaign %s: seeds" % aid in log for aid in aids), log[-2000:]


def test_two_process_user_table_expansion_splits_the_chunks(tmp_path):
    import pandas as pd
    from helpers import preprocessed, small_config
    from runkit.checkpoint import save_checkpoint
    from dataio.vocabulary import read_max_idxs_file
    from synthetic.raw_format import RawSize
    from support.expansion import small_model
    raw, out = preprocessed(tmp_path, RawSize(users=1500, train_rows=3000,
                                              test_rows=1000, campaigns=6),
                            2, "--user-table", "--workers", "1")
    max_idxs = read_max_idxs_file(str(out / "max_idxs.yaml"))
    seeds = pd.read_csv(raw / "train.csv")
    aids = sorted(seeds.aid.unique())[:2]
    seeds[seeds.aid.isin(aids)].groupby("aid").head(30)[
        ["aid", "uid", "label"]].to_csv(tmp_path / "seeds.csv", index=False)
    arch = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
            "hyper_parameters.num_expert=3", "hyper_parameters.num_output=2"]
    _, model, _ = small_model(small_config(*arch, max_idxs=max_idxs))
    checkpoint = save_checkpoint(model, None, str(tmp_path / "m"), 0)
    overrides = arch + [
        "runner.train_data_dir=%s" % (out / "train_data"),
        "hyper_parameters.max_idxs=auto", "expand.negative_ratio=2",
        "expand.chunk_rows=200", "expand.checkpoint=%s" % checkpoint]
    extra = ["--users", str(out / "users"), "--seeds",
             str(tmp_path / "seeds.csv"), "--ads", str(out / "ads.csv"),
             "--all-scores", "--top-users", "50"]
    big = ROOT / "config_big.yaml"
    single("expand.py", overrides, config=big,
           extra=extra + ["--out", str(tmp_path / "aud1")])
    launch("expand.py", overrides, tmp_path / "log", config=big,
           extra=extra + ["--out", str(tmp_path / "aud2")])
    files = same_outputs(str(tmp_path / "aud1"), str(tmp_path / "aud2"))
    assert sum(f.endswith("scores.csv") for f in files) == 2
    scored = pd.read_csv(tmp_path / "aud2" / str(aids[0]) / "scores.csv")
    assert len(scored) > 2 * 200    # more chunks than ranks: both scored


def test_a_rank_that_dies_stops_the_others_with_a_clear_error(runs):
    import signal
    import time
    base, overrides = runs
    log_dir = base / "log_dies"
    proc = launch("trainer.py", overrides("dies", 2) + [
        "runner.epochs=500", "runner.print_interval=1000"], log_dir,
        wait=False)
    worker0 = log_dir / "workerlog.0"
    deadline = time.time() + 90
    while time.time() < deadline:   # rank 0 has saved an epoch: training
        if worker0.exists() and "saved" in worker0.read_text(errors="replace"):
            break
        time.sleep(0.5)
    found = subprocess.run(["pgrep", "-f", "model_save_path=%s" % (
        base / "dies")], capture_output=True, text=True).stdout.split()
    workers = [int(p) for p in found if int(p) != proc.pid]
    assert len(workers) >= 2, found
    # rank 1: the worker whose environment says so
    rank1 = [p for p in workers if b"PADDLE_TRAINER_ID=1\0" in open(
        "/proc/%d/environ" % p, "rb").read()]
    assert len(rank1) == 1
    os.kill(rank1[0], signal.SIGKILL)
    proc.communicate(timeout=60)    # the survivors stop: no hang
    assert proc.returncode != 0
    text = worker0.read_text(errors="replace")
    # rank 0 stops by either path, whichever comes first on a busy machine:
    # gloo reports the lost peer (PeerLost), or the launcher's SIGTERM
    # arrives first; both lines name the cause and the way on
    assert "another process of the run has stopped" in text
    assert "Traceback" not in text
    assert "continue with -o runner.resume=True" in text


def test_sigterm_in_a_collective_run_names_the_lost_process(caplog):
    from runkit import cli, runtime
    runtime.STATUS.clear()
    runtime.STATUS.update(collective=(0, 2), signal="SIGTERM",
                          last_checkpoint="/m/0",
                          on_interrupt="last complete checkpoint: /m/0 "
                                       "(continue with -o runner.resume=True)")
    try:
        with caplog.at_level("ERROR", logger="metaheac"):
            assert cli._stopped(runtime.Terminated()) == 143
    finally:
        runtime.STATUS.clear()
    line = caplog.text
    assert "rank 0 of 2" in line
    assert "another process of the run has stopped" in line
    assert "continue with -o runner.resume=True" in line
    # alone, a SIGTERM is a stop someone asked for: no word of other ranks
    runtime.STATUS.update(signal="SIGTERM")
    caplog.clear()
    try:
        with caplog.at_level("ERROR", logger="metaheac"):
            cli._stopped(runtime.Terminated())
    finally:
        runtime.STATUS.clear()
    assert "another process" not in caplog.text


# -------------------------------------------------- refused before any work
def test_a_launch_without_use_fleet_is_refused(monkeypatch):
    from helpers import small_config
    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
    monkeypatch.setenv("PADDLE_TRAINER_ID", "1")
    with pytest.raises(ValueError, match="runner.use_fleet"):
        distributed.start(small_config())
    with pytest.raises(ValueError, match="same result file"):
        distributed.start(small_config(), "meta-test")
    with pytest.raises(ValueError, match="same output folder"):
        distributed.start(small_config(), "expand")
    with pytest.raises(ValueError, match="lazy_mode"):
        distributed.start(small_config(
            "runner.use_fleet=True",
            "hyper_parameters.optimizer.lazy_mode=True"))


def test_single_process_is_alone_and_shares_everything():
    group = distributed.Group()
    assert not group.active and group.leader
    assert group.share(5) == [0, 1, 2, 3, 4]
    assert group.gather({"a": 1}) == [{"a": 1}]
    ranks = [distributed.Group(r, 3) for r in range(3)]
    shares = [g.share(7) for g in ranks]
    assert sorted(sum(shares, [])) == list(range(7))
    assert [len(s) for s in shares] == [3, 2, 2]


def test_resume_with_another_process_count_is_refused(tmp_path):
    from helpers import small_config
    config = small_config("runner.resume=True")
    save = tmp_path / "m"
    save.mkdir()
    (save / "run.json").write_text(json.dumps(
        {"config": {k: v for k, v in config.items()}, "processes": 2,
         "param_names": [], "epochs": {}}))
    with pytest.raises(Refused, match="2 process"):
        Run(str(save), config, [], processes=1)


def test_scaling_benchmark_smoke(tmp_path):
    """tools/benchmark_scaling.py runs one process and two launched ones on
    tiny data and prints both step times and their ratio (measures
    nothing: the readme's figures come from a full run)."""
    import re
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "benchmark_scaling.py"),
         "--smoke", "--out", str(tmp_path)], cwd=str(ROOT), env=tool_env(),
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    times = re.findall(r"([0-9.]+) s per meta-batch", proc.stdout)
    assert len(times) == 2 and all(float(t) > 0 for t in times)
    ratio = float(re.search(r"speed-up ([0-9.]+)x", proc.stdout).group(1))
    assert ratio == pytest.approx(float(times[0]) / float(times[1]), abs=0.01)
    assert "CPU:" in proc.stdout
