"""tools/export.py: the saved inference model, loaded with Paddle's
predictor (oneDNN on, as served), scores as the dygraph model does."""
import json

import numpy as np
import pandas as pd
import paddle
import pytest

from audience import serving
from helpers import (CONFIG, SMALL_MAX_IDXS, random_inputs,
                     randomize_parameters,
                     run_tool, small_config, write_frame, yaml_list)

OVERRIDES = ["hyper_parameters.max_idxs=%s" % yaml_list(SMALL_MAX_IDXS),
             "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
             "hyper_parameters.num_expert=3", "hyper_parameters.num_output=2",
             "hyper_parameters.batch_size=16"]


def predict(folder, x):
    config = paddle.inference.Config(str(folder / "model.json"),
                                     str(folder / "model.pdiparams"))
    config.disable_glog_info()
    predictor = paddle.inference.create_predictor(config)
    for name, array in zip(serving.INPUT_NAMES, x):
        handle = predictor.get_input_handle(name)
        handle.reshape(array.shape)
        handle.copy_from_cpu(array)
    predictor.run()
    return predictor.get_output_handle(
        predictor.get_output_names()[0]).copy_to_cpu()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from dygraph_model import DygraphModel
    from runkit.checkpoint import save_checkpoint
    model = DygraphModel().create_model(small_config())
    randomize_parameters(model, np.random.default_rng(0), scale=0.3)
    folder = tmp_path_factory.mktemp("model")
    path = save_checkpoint(model, None, str(folder), 0)
    return model, path


@pytest.mark.slow
def test_meta_trained_model_round_trip(model_dir, tmp_path):
    model, checkpoint = model_dir
    out = tmp_path / "export"
    done = run_tool("export.py", OVERRIDES + ["expand.checkpoint=%s" % checkpoint],
                    extra=["--out", str(out)])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    meta = json.loads((out / "export.json").read_text())
    assert meta["aid"] is None and meta["checkpoint"] == checkpoint
    x = random_inputs(np.random.default_rng(5), 300)
    want = model([paddle.to_tensor(a) for a in x]).numpy()
    got = predict(out, x)
    assert got.shape == (300, )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    again = run_tool("export.py", OVERRIDES + ["expand.checkpoint=%s" % checkpoint],
                     extra=["--out", str(out)])
    assert again.returncode == 2   # refused, the export stays


@pytest.mark.slow
def test_campaign_model_scores_as_the_expansion(model_dir, tmp_path):
    """The exported model of one campaign gives the scores tools/expand.py
    wrote for its candidates: the same fine-tuning, served."""
    _, checkpoint = model_dir
    rng = np.random.default_rng(6)
    seeds, cands = tmp_path / "s.pkl", tmp_path / "c.pkl"
    x_s, x_c = random_inputs(rng, 40), random_inputs(rng, 60)
    write_frame(seeds, x_s, np.arange(40) % 2, 4, uid=np.arange(40))
    write_frame(cands, x_c, np.arange(60) % 2, 4, uid=np.arange(100, 160))
    common = OVERRIDES + ["expand.checkpoint=%s" % checkpoint]
    done = run_tool("expand.py", common, extra=[
        "--seeds", str(seeds), "--candidates", str(cands),
        "--out", str(tmp_path / "aud")])
    assert done.returncode == 0, done.stdout[-3000:]
    done = run_tool("export.py", common, extra=[
        "--aid", "4", "--seeds", str(seeds), "--out", str(tmp_path / "exp")])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scores = pd.read_csv(tmp_path / "aud" / "4" / "scores.csv")
    got = predict(tmp_path / "exp", [a[scores.uid.to_numpy() - 100] for a in x_c])
    np.testing.assert_allclose(got, scores.score.to_numpy(), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_positives_only_seeds_need_candidates(model_dir, tmp_path):
    _, checkpoint = model_dir
    seeds = tmp_path / "s.pkl"
    write_frame(seeds, random_inputs(np.random.default_rng(7), 20),
                np.ones(20), 4, uid=np.arange(20))
    done = run_tool("export.py", OVERRIDES + ["expand.checkpoint=%s" % checkpoint],
                    extra=["--aid", "4", "--seeds", str(seeds),
                           "--out", str(tmp_path / "exp")])
    assert done.returncode == 1
    assert "--candidates" in done.stdout
    assert not (tmp_path / "exp").exists()


@pytest.mark.slow
@pytest.mark.parametrize("seeds_kind", ["labelled", "positives only, excluded",
                                        "valued"])
def test_the_exported_campaign_model_is_the_audience(model_dir, tmp_path,
                                                     seeds_kind):
    """With the seed blend on, the served program computes the whole
    campaign model (network, seeds' regression, blend): its scores are
    scores.csv's and its top k is audience.csv."""
    from tools import expand, export
    _, checkpoint = model_dir
    rng = np.random.default_rng(8)
    seeds, cands = tmp_path / "s.pkl", tmp_path / "c.pkl"
    x_s, x_c = random_inputs(rng, 40), random_inputs(rng, 80)
    if seeds_kind == "labelled":
        write_frame(seeds, x_s, np.arange(40) % 2, 4, uid=np.arange(40))
    else:   # positives only: no label column; valued: a value each
        from dataio.frames import arrays_to_frame, write_pickle
        df = arrays_to_frame(np.ones(40), np.full(40, 4), *x_s).drop(
            columns="label")
        df.insert(0, "uid", np.arange(40))
        if seeds_kind == "valued":
            df["value"] = rng.uniform(0.5, 3.0, 40)
        write_pickle(df, str(seeds))
    write_frame(cands, x_c, np.arange(80) % 2, 4, uid=np.arange(100, 180))
    options = []
    if seeds_kind.endswith("excluded"):
        (tmp_path / "ex.txt").write_text("100\n101\n150\n")
        options = ["--exclude", str(tmp_path / "ex.txt")]
    common = ["-m", str(CONFIG), "-o"] + OVERRIDES + [
        "expand.checkpoint=%s" % checkpoint, "runner.infer_seed_blend=0.5",
        "expand.diagnose=False"]
    assert expand.main(common + [
        "--seeds", str(seeds), "--candidates", str(cands),
        "--out", str(tmp_path / "aud")] + options) == 0
    assert export.main(common + [
        "--aid", "4", "--seeds", str(seeds), "--candidates", str(cands),
        "--out", str(tmp_path / "exp")] + options) == 0
    meta = json.loads((tmp_path / "exp" / "export.json").read_text())
    assert meta["blend"]["seed_weight"] == 0.5
    scores = pd.read_csv(tmp_path / "aud" / "4" / "scores.csv")
    got = predict(tmp_path / "exp", [a[scores.uid.to_numpy() - 100]
                                     for a in x_c])
    np.testing.assert_allclose(got, scores.score.to_numpy(), rtol=0,
                               atol=1e-5)
    audience = pd.read_csv(tmp_path / "aud" / "4" / "audience.csv")
    served_top = scores.uid.to_numpy()[np.argsort(-got, kind="stable")][
        :len(audience)]
    assert set(served_top) == set(audience.uid)
