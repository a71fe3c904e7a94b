"""End to end, through the command-line tools.

* the shipped demo (config.yaml as it is; outputs in a temporary folder):
  checkpoints, and meta-test quality above thresholds;
* determinism and kept checkpoints, on a tiny synthetic data set;
* the released PaddleRec sample, whose labels are all 1: single-class
  campaigns are reported as such, never scored 0.5;
* the demo's checkpoint through tools/expand.py, and its saved scores.

The demo run (fixture ``demo``, conftest.py) is shared by the tests of this
module only, so that the two workers of make test never both train it.
"""
import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers import CONFIG, FIXTURES, FULL_MAX_IDXS, ROOT, run_tool, yaml_list
from runkit.config import load_config
from support.training import tiny_data, tiny_overrides, without_timing

pytestmark = pytest.mark.slow  # trains and meta-tests through the tools

SHIPPED = load_config(str(CONFIG))
EPOCHS = SHIPPED["runner.epochs"]
INFER_EPOCHS = range(SHIPPED["runner.infer_start_epoch"],
                     SHIPPED["runner.infer_end_epoch"])

# The demo's pass gate: GAUC (the mean of the campaigns' own AUCs, the
# headline metric) on both test sets. The pooled AUC over all candidates
# is not gated: it ranks scores of separately fine-tuned models together.
# Measured (AMD EPYC, one thread, seed 2021, config.yaml as shipped):
#   meta-trained:                      hot GAUC 0.8025, cold GAUC 0.7903
#   (with the rank blend it replaced: 0.7996 / 0.7717);
#   untrained weights fine-tuned on the seeds (hyper_parameters.method=
#   scratch, meta-validated Adam 0.01 x 2, seed blend 0.5): hot 0.7936,
#   cold 0.6819 (without the blend 0.7847 / 0.6616);
#   a random scorer: 0.5, standard error about 0.015 for 8 campaigns of
#   300 candidates.
# The hot campaigns' 200-400 seeds rank well without any meta-training, so
# the cold set is what fails a run whose meta-training learned nothing:
# 0.75 is 0.07 above the untrained cold GAUC and 0.02 under the trained one
# (the readme's table is checked within 0.02 as well).
DEMO_MIN_GAUC = 0.75


# ------------------------------------------------------------ tiny run
def test_same_seed_twice_gives_identical_results_and_loses_nothing(tmp_path):
    from runkit.runs import sha256
    data = tiny_data(tmp_path / "data")
    model, result = tmp_path / "m", tmp_path / "r.json"
    overrides = tiny_overrides(data, model, result)

    first = run_tool("trainer.py", overrides)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (model / "0" / "rec.pdparams").is_file()
    assert (model / "0" / "rec.pdopt").is_file()
    infer1 = run_tool("infer_meta.py", overrides)
    assert infer1.returncode == 0, infer1.stdout + infer1.stderr
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and
                   "data" not in p.parts)
    before = {p: sha256(p) for p in files}
    r1 = json.loads(result.read_text())

    # the same run again, into the same folders: refused, nothing touched
    second = run_tool("trainer.py", overrides)
    assert second.returncode == 2
    assert "runner.resume=True" in second.stdout and \
        "runner.overwrite=True" in second.stdout
    again = run_tool("infer_meta.py", overrides)
    assert again.returncode == 2 and "runner.overwrite=True" in again.stdout
    assert {p: sha256(p) for p in files} == before

    # replaced on request: training is deterministic, byte for byte
    third = run_tool("trainer.py", overrides + ["runner.overwrite=True"])
    assert third.returncode == 0, third.stdout + third.stderr
    assert "removed the earlier run's" in third.stdout
    assert sha256(model / "0" / "rec.pdparams") == \
        before[model / "0" / "rec.pdparams"]
    infer2 = run_tool("infer_meta.py", overrides + ["runner.overwrite=True"])
    assert infer2.returncode == 0, infer2.stdout + infer2.stderr
    # and so is the meta-test: every number but the timings
    r2 = json.loads(result.read_text())
    s1 = r1["epochs"]["0"]
    assert set(s1) == {"hot", "cold"}
    assert s1["hot"]["summary"]["evaluated_campaigns"] == 2
    assert without_timing(r1["epochs"]) == without_timing(r2["epochs"])


# ------------------------------------------------------- single class
def test_single_class_test_set_is_reported_not_scored(tmp_path):
    source = FIXTURES / "paddlerec_sample_stage1.pkl"
    if not source.is_file():
        pytest.skip("shared fixture %s is not available" % source)
    data = tmp_path / "sample"
    data.mkdir()
    # PaddleRec ships this one file as both seeds and candidates
    (data / "x_stage1.pkl").symlink_to(source)
    (data / "x_stage2.pkl").symlink_to(source)
    model, result = tmp_path / "m", tmp_path / "r.json"
    overrides = [
        "runner.test_data_dir=%s" % data, "runner.test_cold_data_dir=null",
        "runner.infer_load_path=%s" % model,
        "runner.infer_result_path=%s" % result,
        "runner.infer_start_epoch=0", "runner.infer_end_epoch=1",
        "runner.infer_train_epoch=1",
        "hyper_parameters.max_idxs=%s" % yaml_list(FULL_MAX_IDXS),
        "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[4,4]",
        "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
    ]
    # an untrained checkpoint of the full data's table sizes
    from dygraph_model import DygraphModel
    from runkit.checkpoint import save_checkpoint
    config = load_config(str(CONFIG), overrides)
    model_class = DygraphModel()
    net = model_class.create_model(config)
    save_checkpoint(net, model_class.create_optimizer(net, config), str(model), 0)

    proc = run_tool("infer_meta.py", overrides)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "single class" in out
    assert "Traceback" not in out
    summary = json.loads(result.read_text())["epochs"]["0"]["hot"]["summary"]
    import pandas as pd
    want = sorted(int(a) for a in pd.read_pickle(source)["aid"].unique())
    assert len(want) == 5
    assert summary["campaigns"] == 5
    assert summary["evaluated_campaigns"] == 0
    assert sorted(summary["single_class_campaigns"]) == want
    for key in ("auc", "gauc", "weighted_gauc", "precision_at_5pct",
                "recall_at_5pct"):
        assert summary[key] is None, key
    rows = json.loads(result.read_text())["epochs"]["0"]["hot"]["campaigns"]
    assert all(r["auc"] is None and "single class" in r["note"] for r in rows)
    assert "0.5000" not in out
    assert "GAUC n/a" in out


# --------------------------------------------------------- shipped demo
def test_demo_trains_and_saves_checkpoints(demo):
    assert demo["train_rc"] == 0, demo["train_log"][-3000:]
    model = demo["model_dir"]
    for epoch in range(EPOCHS):
        assert (model / str(epoch) / "rec.pdparams").is_file()
        assert (model / str(epoch) / "rec.pdopt").is_file()
    assert "epoch: %d done" % (EPOCHS - 1) in demo["train_log"]
    assert "saved %s" % (model / str(EPOCHS - 1)) in demo["train_log"]
    assert "Traceback" not in demo["train_log"]
    # config.yaml as make demo runs it, meta-validation included: the
    # readme's figures come from that run
    assert "meta-validation on" in demo["train_log"]


@pytest.mark.parametrize("test_set", ["hot", "cold"])
def test_demo_meta_test_quality(demo, test_set):
    assert demo["train_rc"] == 0, demo["train_log"][-3000:]
    assert demo.get("infer_rc") == 0, demo.get("infer_log", "")[-3000:]
    result = demo["json"]
    assert sorted(result["epochs"]) == sorted(str(e) for e in INFER_EPOCHS)
    for epoch in INFER_EPOCHS:
        summary = result["epochs"][str(epoch)][test_set]["summary"]
        assert summary["campaigns"] > 0
        assert summary["evaluated_campaigns"] == summary["campaigns"]
        assert summary["single_class_campaigns"] == []
        assert summary["gauc"] >= DEMO_MIN_GAUC, summary
        assert 0 < summary["precision_at_5pct"] <= 1
        assert 0 < summary["recall_at_5pct"] <= 1


def documented_results():
    """The readme's results table of the demo: {set: {metric: value}},
    its columns found by their header (GAUC first)."""
    text = (ROOT / "readme.md").read_text()
    table = text[text.index("## Results"):]
    names = {"GAUC": "gauc", "weighted GAUC": "weighted_gauc",
             "P@5%": "precision_at_5pct", "R@5%": "recall_at_5pct",
             "pooled AUC": "auc"}
    header, rows = None, {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "test set":
            header = cells
        elif header and cells and cells[0] in ("hot", "cold"):
            rows[cells[0]] = {names[h]: float(c) for h, c in
                              zip(header, cells) if h in names}
        if len(rows) == 2:
            assert header[2] == "GAUC", "GAUC is the readme's first metric"
            assert set(rows["hot"]) == set(names.values())
            return rows
    raise AssertionError("no hot/cold rows in the readme's results table")


def test_demo_matches_the_readme_within_tolerance(demo):
    """The demo runs on 2 threads, as the readme's make demo on 2 cores.
    Float sums differ with the thread count and the CPU, and fine-tuning
    carries the difference on. Seed 2021, hot / cold GAUC: AMD EPYC without
    AVX-512 0.7996 / 0.7717 on one thread, 0.7993 / 0.7720 on two (the
    readme); AMD EPYC with AVX-512 0.787 / 0.789 on one, 0.7987 / 0.7734 on
    two; P@5 % moved by up to 0.05 (one swapped candidate moves a
    campaign's by 1/15). So the documented figures are met within 0.03
    (P@5 % within 0.08), not to the last digit."""
    assert demo["train_rc"] == 0, demo["train_log"][-3000:]
    for name, want in documented_results().items():
        got = demo["json"]["epochs"]["0"][name]["summary"]
        for metric, value in want.items():
            tolerance = 0.08 if metric == "precision_at_5pct" else 0.03
            assert got[metric] == pytest.approx(value, abs=tolerance), \
                (name, metric)


# --------------- the demo's checkpoint through tools/expand.py and the scores
@pytest.mark.slow
def test_expansion_on_the_sample_finds_the_held_back_positives(demo, tmp_path):
    """The candidates' labels are removed from the file the tool gets, then
    the audience is checked against them; per campaign the tool's AUC is the
    meta-test's (one code path)."""
    assert demo["train_rc"] == 0, demo["train_log"][-3000:]
    for name, folder, stem in (("hot", "test", "test"),
                               ("cold", "test_cold", "test_cold")):
        truth = pd.read_pickle(ROOT / "data" / folder / ("%s_stage2.pkl" % stem))
        unlabelled = tmp_path / ("%s_candidates.pkl" % name)
        truth.drop(columns="label").to_pickle(unlabelled)
        out = tmp_path / name
        done = run_tool("expand.py", [
            "expand.checkpoint=%s" % (demo["model_dir"] / "0")], extra=[
            "--seeds", str(ROOT / "data" / folder / ("%s_stage1.pkl" % stem)),
            "--candidates", str(unlabelled), "--out", str(out)])
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        lifts = []
        for aid, group in truth.groupby("aid"):
            audience = pd.read_csv(out / str(aid) / "audience.csv")
            assert len(audience) == 15   # 5 % of 300
            rate = truth.label.to_numpy()[audience.uid.to_numpy()].mean()
            lifts.append(rate / group.label.mean())
        assert np.mean(lifts) > 1.5, lifts
        aucs = {c["aid"]: c["auc"] for c in
                demo["json"]["epochs"]["0"][name]["campaigns"]}
        # same code path as the meta-test: same scores, so the same AUC
        for aid, group in truth.groupby("aid"):
            scores = pd.read_csv(out / str(aid) / "scores.csv")
            auc = roc_auc_score(truth.label.to_numpy()[scores.uid.to_numpy()],
                                scores.score)
            assert auc == pytest.approx(aucs[aid], abs=1e-3)


@pytest.mark.slow
def test_infer_meta_saves_every_candidates_score(demo, tmp_path):
    assert demo["train_rc"] == 0, demo["train_log"][-3000:]
    result = tmp_path / "r.json"
    done = run_tool("infer_meta.py", [
        "runner.infer_load_path=%s" % demo["model_dir"],
        "runner.infer_result_path=%s" % result, "runner.save_scores=True",
        "runner.test_cold_data_dir=null"])
    assert done.returncode == 0, done.stdout[-3000:]
    rows = json.loads(result.read_text())["epochs"]["0"]["hot"]["campaigns"]
    folder = tmp_path / "r.scores" / "0" / "hot"
    assert sorted(os.listdir(folder)) == sorted(str(r["aid"]) for r in rows)
    for row in rows:
        scores = pd.read_csv(folder / str(row["aid"]) / "scores.csv")
        assert list(scores.columns) == ["uid", "score", "label"]
        assert len(scores) == row["candidates"]
        assert roc_auc_score(scores.label, scores.score) == pytest.approx(
            row["auc"], abs=1e-4)
