"""tools/benchmark_quality.py: the --smoke run (every method, tiny data) and
the shape of its outputs; its methods, specs and tables
(baselines/comparison.py). Says nothing about quality."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, tool_env
from baselines import comparison as bq
from synthetic import datasets

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
        cwd=str(ROOT), env=tool_env(), capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    keys = [m["key"] for m in bq.METHODS]
    labels = [m["label"] for m in bq.METHODS]
    assert bq.DEFAULT_SPECS == ["benchmark", "sparse"]
    for spec in bq.DEFAULT_SPECS:
        results = json.loads((out / spec / "results.json").read_text())
        assert list(results["methods"]) == keys
        assert results["smoke"] is True
        oracle = results["data"]["oracle_gauc"]
        assert 0.5 < oracle["test_cold_stage2"] <= 1.0
        for key in keys:
            info = results["methods"][key]
            assert [r["seed"] for r in info["runs"]] == results["seeds"]
            assert results["seeds"] == [2021, 2022]
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
    assert "## benchmark (" in both and "## sparse (" in both
    assert "training rows" in both and "## GAUC by spec" in both
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
        datasets.make_data(str(folder), bq.SMOKE_SPECS["benchmark"], 1)
    assert (folder / "keep.txt").read_text() == "mine"


def test_paper_row_takes_the_paper_settings_from_config_big():
    from runkit.config import paper_profile
    from runkit.config_schema import BY_NAME
    overrides = dict(o.split("=", 1) for o in bq.paper_overrides())
    assert set(overrides) == set(bq.PAPER_KEYS)
    profile = paper_profile()
    assert {k: json.loads(v) for k, v in overrides.items()} == \
        {k: profile[k] for k in bq.PAPER_KEYS}
    # and they are the paper's, not the defaults the row is compared with
    assert json.loads(overrides["hyper_parameters.local_lr"]) != \
        BY_NAME["hyper_parameters.local_lr"].default


def test_large_sparse_spec_differs_from_sparse_only_in_size():
    small, large = (dataclasses.asdict(s) for s in
                    (bq.SPECS["sparse"], bq.SPECS["sparse_large"]))
    differ = {k for k in small if small[k] != large[k]}
    assert differ == {"n_users", "train_rows_total"}
    assert large["train_rows_total"] >= 10 * small["train_rows_total"]
    # as rare a user per training row as the sparse spec
    assert large["n_users"] / large["train_rows_total"] == \
        small["n_users"] / small["train_rows_total"]
    # not tuned on its own draws: the sparse spec's settings
    assert bq.SPEC_SHARED["sparse_large"] == bq.SPEC_SHARED["sparse"]
    assert bq.LR_C["sparse_large"] == bq.LR_C["sparse"]
    assert "sparse_large" not in bq.DEFAULT_SPECS


def fake_results(rows, gauc):
    summary = {name: {"gauc": bq.mean_std([gauc, gauc + 0.02])}
               for name in bq.SETS}
    return {"data": {"train_stage1": {"rows": rows, "campaigns": 60}},
            "spec": {"n_users": 10 * rows},
            "methods": {"metaheac": {"label": "MetaHeac", "summary": summary},
                        "lr_campaign": {"label": "LR", "summary": summary}}}


def test_size_table_puts_the_specs_side_by_side():
    every = {"sparse": fake_results(15000, 0.6),
             "sparse_large": fake_results(150000, 0.7)}
    del every["sparse"]["methods"]["lr_campaign"]
    table = bq.size_table(every)
    lines = table.splitlines()
    assert lines[0] == ("| method | sparse hot GAUC | sparse cold GAUC | "
                        "sparse_large hot GAUC | sparse_large cold GAUC |")
    rows = {line.split("|")[1].strip(): [c.strip() for c in
                                         line.strip("|").split("|")[1:]]
            for line in lines[2:] if line.startswith("| ")}
    # in METHODS order, a method missing on one spec says so
    assert list(rows) == ["LR per campaign", "MetaHeac (project settings)"]
    assert rows["LR per campaign"][:2] == ["not run", "not run"]
    assert rows["MetaHeac (project settings)"] == ["0.610 ± 0.014"] * 2 + \
        ["0.710 ± 0.014"] * 2
    assert "training rows: sparse 15000, sparse_large 150000" in table
    assert bq.size_text(every["sparse_large"]) == \
        "150000 training rows, 60 campaigns, 1500000 users"


def test_large_spec_leaves_out_the_ablations_unless_asked():
    def keys(spec, methods=None):
        return [m["key"] for m in bq.spec_methods(spec, methods)], \
            bq.fewer_methods_note(spec, methods)
    every, note = keys("sparse")
    assert every == bq.METHOD_KEYS and note == ""
    large, note = keys("sparse_large")
    assert set(every) - set(large) == {"metaheac_1st", "metaheac_paper"}
    assert bq.TARGET in large and set(bq.BASELINES) <= set(large)
    assert "not run: metaheac_1st, metaheac_paper" in note
    # the re-tested methods keep their sources
    sources = [m["source"] for m in bq.METHODS
               if m["key"] in large and m["kind"] == "retest"]
    assert set(sources) <= set(large)
    # --methods decides on every spec, without a note
    assert keys("sparse_large", ["metaheac_paper"]) == (["metaheac_paper"], "")
