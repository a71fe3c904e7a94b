"""What the trainer shows of its run: PaddleRec's per-interval line
extended with ``epoch e/E, batch b/B (p %)`` and an ETA, each epoch's mean
loss, AUC and time in run.json, the resolved config in run.json rather than
the log, VisualDL curves (``runner.use_visual``: written and read back with
VisualDL's own reader when it is installed; through a stand-in writer
otherwise), and one line when VisualDL is asked for but missing."""
import json
import logging
import re
import sys
import types

import pytest

from helpers import errors, messages
from runkit import curves
from support.training import config_for, train_here

# PaddleRec's fields, untouched, then ours
INTERVAL = re.compile(
    r"^epoch: (?P<epoch>\d+), batch_id: (?P<batch_id>\d+), "
    r"loss: (?P<loss>[\d.]+), AUC: (?P<auc>[\d.]+), "
    r"avg_reader_cost: [\d.]+ sec, avg_batch_cost: [\d.]+ sec, "
    r"ips: [\d.]+ ins/s; epoch (?P<e>\d+)/(?P<E>\d+), "
    r"batch (?P<b>\d+)/(?P<B>\d+) \((?P<p>\d+) %\), ETA (?P<eta>.+)$")


DURATION = r"(\d+ s|\d+ min \d\d s|\d+ h \d\d min)"


def interval_lines(caplog):
    return [m for m in (INTERVAL.match(line) for line in messages(caplog))
            if m]


class StandIn:
    """A visualdl module whose LogWriter keeps what it is given."""

    def __init__(self):
        self.scalars, self.closed = [], False
        self.module = types.ModuleType("visualdl")
        self.module.LogWriter = self.writer

    def writer(self, logdir):
        self.logdir = logdir
        stand_in = self

        class Writer:
            def add_scalar(self, tag, step, value):
                stand_in.scalars.append((tag, step, value))

            def close(self):
                stand_in.closed = True
        return Writer()

    def tagged(self, tag):
        return [(step, value) for t, step, value in self.scalars if t == tag]


def test_the_log_shows_where_the_training_is_and_run_json_its_curve(
        tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    stand_in = StandIn()   # curves off (the default): VisualDL untouched
    monkeypatch.setitem(sys.modules, "visualdl", stand_in.module)
    folder = tmp_path / "m"
    assert train_here(folder, "runner.epochs=2") == 0
    assert stand_in.scalars == [] and not hasattr(stand_in, "logdir")
    lines = interval_lines(caplog)
    # the sample's 9 407 rows (less the held-out campaigns, none here) in
    # meta-batches of 512: 19 per epoch, a line each (print_interval 1)
    assert len(lines) == 2 * 19
    for m in lines:
        assert int(m.group("e")) == int(m.group("epoch")) + 1
        assert int(m.group("b")) == int(m.group("batch_id")) + 1
        assert (m.group("E"), m.group("B")) == ("2", "19")
        assert int(m.group("p")) == 100 * int(m.group("b")) // 19
        assert re.match(DURATION + "$", m.group("eta")), m.group("eta")
    assert lines[-1].group("eta") == "0 s"
    done = [line for line in messages(caplog) if " done, mean loss" in line]
    assert re.search("; epoch 1/2, ETA %s$" % DURATION, done[0]), done[0]
    assert done[1].endswith("; epoch 2/2")

    manifest = json.loads((folder / "run.json").read_text())
    for epoch, line in enumerate(done):
        record = manifest["epochs"][str(epoch)]["metrics"]
        assert set(record) == {"mean_loss", "auc", "seconds", "meta_batches"}
        logged = re.search(r"mean loss: ([\d.]+), AUC: ([\d.]+), epoch time: "
                           r"([\d.]+) s", line)
        assert record["mean_loss"] == float(logged.group(1))
        assert record["auc"] == float(logged.group(2))
        assert record["seconds"] == pytest.approx(float(logged.group(3)),
                                                  abs=0.01)
        assert record["meta_batches"] == 19
    # the config: one short line naming run.json, which holds it
    (said, ) = [line for line in messages(caplog)
                if line.startswith("config")]
    assert len(said) < 200 and str(folder / "run.json") in said
    assert not [line for line in messages(caplog) if "{" in line]
    assert manifest["config"]["runner.epochs"] == 2


def test_no_training_step_leaves_no_metrics(tmp_path, caplog):
    folder = tmp_path / "m"
    assert train_here(folder, "hyper_parameters.method=scratch") == 0
    assert "metrics" not in json.loads(
        (folder / "run.json").read_text())["epochs"]["0"]


# --------------------------------------------------------------- VisualDL
@pytest.mark.slow
def test_curves_go_to_visualdl_as_paddlerecs_trainer_writes_them(
        tmp_path, monkeypatch, caplog):
    """Through a stand-in LogWriter: what is written, with which tags and
    steps, whether VisualDL is installed or not."""
    caplog.set_level(logging.INFO)
    stand_in = StandIn()
    monkeypatch.setitem(sys.modules, "visualdl", stand_in.module)
    folder = tmp_path / "m"
    assert train_here(folder, "runner.epochs=2", "runner.use_visual=True",
                      "runner.visual_log_path=%s" % (tmp_path / "vdl"),
                      "tuning.share=0.1", "tuning.learning_rates=[0.001]",
                      "tuning.passes=[1]", "tuning.max_seeds=64",
                      "tuning.max_candidates=64") == 0
    assert stand_in.logdir == str(tmp_path / "vdl" / "train")
    assert stand_in.closed
    lines = interval_lines(caplog)
    loss = stand_in.tagged("train/loss")
    # a point per logged interval, at the meta-batches trained so far
    assert [step for step, _ in loss] == list(range(1, len(lines) + 1))
    assert [round(v, 6) for _, v in loss] == [float(m.group("loss"))
                                              for m in lines]
    assert [round(v, 6) for _, v in stand_in.tagged("train/AUC")] == [
        float(m.group("auc")) for m in lines]
    manifest = json.loads((folder / "run.json").read_text())
    assert [(s, round(v, 6)) for s, v in stand_in.tagged("epoch/loss")] == [
        (e, manifest["epochs"][str(e)]["metrics"]["mean_loss"])
        for e in (0, 1)]
    grid = manifest["meta_validation"]["grid"]
    assert [v for _, v in stand_in.tagged("meta_validation/mean_gauc")] == \
        pytest.approx([row["score"] for row in grid])
    (chosen, ) = stand_in.tagged("meta_validation/chosen_mean_gauc")
    assert chosen[0] == len(lines)   # at the training's last step
    assert stand_in.tagged("meta_validation/chosen_infer_train_epoch") == [
        (len(lines), 1)]
    assert manifest["visual_log"] == str(tmp_path / "vdl" / "train")


def test_visualdl_missing_is_one_line_before_any_work(tmp_path, monkeypatch,
                                                      caplog):
    monkeypatch.setitem(sys.modules, "visualdl", None)   # not importable
    folder = tmp_path / "m"
    assert train_here(folder, "runner.use_visual=True") == 1
    (line, ) = errors(caplog)
    assert line == curves.NEEDS and "pip install visualdl" in line
    assert not folder.exists()


def test_a_visualdl_that_does_not_import_is_one_line_before_any_work(
        tmp_path, monkeypatch, caplog):
    """Installed (found) but broken, as a protobuf or numpy mismatch
    leaves it: one line naming the failure, before any work."""
    import importlib.util
    broken = tmp_path / "site" / "visualdl"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('protobuf "
                                        "mismatch')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "visualdl", raising=False)
    assert importlib.util.find_spec("visualdl") is not None
    folder = tmp_path / "m"
    assert train_here(folder, "runner.use_visual=True") == 1
    (line, ) = errors(caplog)
    assert "visualdl is installed but does not import" in line
    assert "protobuf mismatch" in line
    assert not folder.exists()


@pytest.mark.slow
def test_the_visualdl_log_reads_back_with_visualdls_own_reader(tmp_path,
                                                               caplog):
    pytest.importorskip("visualdl", reason="visualdl is optional (pip "
                        "install visualdl); not in requirements.txt")
    from visualdl import LogReader
    caplog.set_level(logging.INFO)
    logdir = tmp_path / "vdl"
    assert train_here(tmp_path / "m", "runner.use_visual=True",
                      "runner.visual_log_path=%s" % logdir) == 0
    (record, ) = list((logdir / "train").iterdir())
    reader = LogReader(file_path=str(record))
    assert {"train/loss", "train/AUC", "epoch/loss", "epoch/AUC"} <= set(
        reader.get_tags()["scalar"])
    lines = interval_lines(caplog)
    loss = reader.get_data("scalar", "train/loss")
    assert [p.id for p in loss] == list(range(1, len(lines) + 1))
    assert [p.value for p in loss] == pytest.approx(
        [float(m.group("loss")) for m in lines], abs=1e-6)
    auc = reader.get_data("scalar", "train/AUC")
    assert [p.value for p in auc] == pytest.approx(
        [float(m.group("auc")) for m in lines], abs=1e-6)


def test_the_visual_keys_are_declared_with_paddlerecs_defaults():
    config = config_for("unused")
    assert config.get("runner.use_visual") is False
    # relative to the config's folder, as PaddleRec's visualDL_log
    assert config.get("runner.visual_log_path") == str(
        __import__("helpers").CONFIG.parent / "visualDL_log")
    assert curves.folder(config).endswith("visualDL_log/train")
