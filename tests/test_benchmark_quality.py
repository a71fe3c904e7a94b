"""tools/benchmark_quality.py: the --smoke run (every method, tiny data) and
the shape of its outputs. Says nothing about quality."""
import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT
from tools import benchmark_quality as bq

HEADER = ("| method | hot AUC | hot GAUC | hot P@5% | hot R@5% | cold AUC | "
          "cold GAUC | cold P@5% | cold R@5% | train s | meta-test s |")


def test_mean_std_and_format():
    stat = bq.mean_std([0.5, 0.7, None])
    assert stat["n"] == 2
    assert abs(stat["mean"] - 0.6) < 1e-12
    assert abs(stat["std"] - 0.1414213562) < 1e-9  # ddof 1
    assert bq.fmt(stat) == "0.600 ± 0.141"
    assert bq.fmt(bq.mean_std([None])) == "n/a"


@pytest.mark.slow
def test_smoke_runs_every_method_on_both_specs(tmp_path):
    out = tmp_path / "quality"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "benchmark_quality.py"),
         "--smoke", "--out", str(out)],
        cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    keys = [m["key"] for m in bq.METHODS]
    labels = [m["label"] for m in bq.METHODS]
    for spec in bq.SPECS:
        results = json.loads((out / spec / "results.json").read_text())
        assert list(results["methods"]) == keys
        assert results["smoke"] is True
        oracle = results["data"]["oracle_gauc"]
        assert 0.5 < oracle["test_cold_stage2"] <= 1.0
        for key in keys:
            info = results["methods"][key]
            assert [r["seed"] for r in info["runs"]] == results["seeds"]
            assert len(results["seeds"]) == 3
            for name in ("hot", "cold"):
                for metric, _ in bq.METRICS:
                    stat = info["summary"][name][metric]
                    assert isinstance(stat["mean"], float), (key, name, metric)
                    # the summary is the mean and spread of the runs it lists
                    values = np.array([r[name][metric] for r in info["runs"]])
                    assert stat["mean"] == pytest.approx(values.mean())
                    assert stat["std"] == pytest.approx(values.std(ddof=1))
                assert all(r[name]["evaluated_campaigns"] > 0
                           for r in info["runs"]), (key, name)
        for name in ("hot", "cold"):
            answer = results["answer"][name]
            assert answer["best_baseline"] in bq.BASELINES
            assert set(answer["versus"]) == set(keys) - {bq.TARGET}
        # zero-shot re-tests the same checkpoints without fine-tuning
        zero = results["methods"]["metaheac_zeroshot"]
        assert zero["overrides"][-1] == "runner.infer_train_epoch=0"
        assert all(r["train_s"] == 0 for r in zero["runs"])

        lines = (out / spec / "table.md").read_text().strip().splitlines()
        assert lines[0] == HEADER
        assert set(lines[1].replace("|", "").split()) <= {"---", "---:"}
        rows = lines[2:]
        assert [r.split("|")[1].strip() for r in rows] == labels
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert len(cells) == 11
            assert all(" ± " in c for c in cells[1:]), row
    both = (out / "tables.md").read_text()
    assert "## benchmark" in both and "## sparse" in both
    assert both.startswith("SMOKE RUN") and "SMOKE RUN" in proc.stdout
    assert "ccache" not in proc.stdout + proc.stderr
    # the tables printed are the tables written
    assert HEADER in proc.stdout
    assert "cold GAUC" in proc.stdout


def test_data_folder_it_did_not_write_is_never_deleted(tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="spec.json"):
        bq.make_data(str(folder), bq.SMOKE_SPECS["benchmark"], 1)
    assert (folder / "keep.txt").read_text() == "mine"


def test_paper_row_takes_the_paper_settings_from_config_big():
    overrides = dict(o.split("=", 1) for o in bq.paper_overrides())
    assert set(overrides) == set(bq.PAPER_KEYS)
    assert float(overrides["hyper_parameters.local_lr"]) == 0.0002
    assert float(overrides[
        "hyper_parameters.optimizer.local_test_learning_rate"]) == 0.001
    assert int(overrides["runner.infer_min_positives"]) == 0
