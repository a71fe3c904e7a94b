"""The full-data path end to end on small generated raw files:
tools/preprocess.py -> tools/trainer.py -> tools/infer_meta.py with
config_big.yaml, as the readme documents it."""
import json

import numpy as np
import pytest
import yaml

from helpers import ROOT, preprocessed, run_tool
from synthetic.raw_format import RawSize


@pytest.mark.slow
def test_preprocess_train_meta_test(tmp_path):
    # campaigns here have 9..64 positive seeds: 25 splits the test ones
    # into hot and cold
    _, out = preprocessed(tmp_path, RawSize(users=3000, train_rows=9000,
                                            test_rows=3000, campaigns=14),
                          5, "--cold-threshold", "25")
    max_idxs = yaml.safe_load((out / "max_idxs.yaml").read_text())[
        "hyper_parameters"]["max_idxs"]
    model = tmp_path / "m"
    overrides = [
        "runner.train_data_dir=%s" % (out / "train_data"),
        "runner.test_data_dir=%s" % (out / "test_hot_data"),
        "runner.test_cold_data_dir=%s" % (out / "test_cold_data"),
        "runner.model_save_path=%s" % model, "runner.infer_load_path=%s" % model,
        "runner.infer_result_path=%s" % (tmp_path / "r.json"),
        # as the readme says: the maxima the preprocessor wrote
        "hyper_parameters.max_idxs=auto",
        # small and quick; the path, not the architecture, is under test
        "hyper_parameters.batch_size=64", "hyper_parameters.embed_dim=8",
        "hyper_parameters.mlp_dims=[8,8]", "runner.infer_train_epoch=1",
    ]
    config = ROOT / "config_big.yaml"
    train = run_tool("trainer.py", overrides, config=config)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert (model / "0" / "rec.pdparams").exists()
    assert "max_idxs from %s: %s" % (out / "max_idxs.yaml", max_idxs) in \
        train.stdout
    infer = run_tool("infer_meta.py", overrides, config=config)
    assert infer.returncode == 0, infer.stdout[-3000:] + infer.stderr[-3000:]
    result = json.loads((tmp_path / "r.json").read_text())["epochs"]["0"]
    for name in ("hot", "cold"):
        summary, rows = result[name]["summary"], result[name]["campaigns"]
        assert summary["campaigns"] == len(rows) >= 1
        evaluated = [r["auc"] for r in rows if r["auc"] is not None]
        assert summary["evaluated_campaigns"] == len(evaluated) >= 1
        # GAUC is the unweighted mean of the per-campaign AUCs
        assert summary["gauc"] == pytest.approx(np.mean(evaluated), abs=1e-4)
