"""tools/export.py: the saved inference model, loaded with Paddle's
predictor (oneDNN on, as served), scores as the dygraph model does."""
import json
import re

import numpy as np
import pandas as pd
import paddle
import pytest

from helpers import (CONFIG, random_inputs, randomize_parameters, run_tool,
                     small_config, write_frame, yaml_list)
from support.expansion import OVERRIDES, predict

# a line of Paddle's C++ log (glog): W1205 23:55:36.540450 24426 file.cc:1]
GLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")

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
    # Paddle's own log kept to its errors: the tool's few lines only
    printed = (done.stdout + done.stderr).splitlines()
    assert not [line for line in printed if GLOG.match(line)], printed
    assert len(printed) <= 6, printed
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


@pytest.fixture(scope="module")
def sample_model(tmp_path_factory):
    """A small network over the sample data's ids, weights random: the
    equality below holds for any weights."""
    from dygraph_model import DygraphModel
    from runkit.checkpoint import save_checkpoint
    from runkit.config import load_config
    folder = tmp_path_factory.mktemp("sample_model")
    config = load_config(str(CONFIG), SAMPLE_ARCH + [
        "hyper_parameters.max_idxs=%s" % yaml_list(sample_max_idxs())])
    model = DygraphModel().create_model(config)
    randomize_parameters(model, np.random.default_rng(1), scale=0.3)
    return save_checkpoint(model, None, str(folder), 0)


SAMPLE_ARCH = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8]",
               "hyper_parameters.num_expert=2",
               "hyper_parameters.num_output=2",
               "hyper_parameters.batch_size=32"]


def sample_max_idxs():
    from dataio.vocabulary import read_max_idxs_file
    from helpers import ROOT
    return read_max_idxs_file(str(ROOT / "data" / "max_idxs.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("form", ["feature rows", "user table"])
def test_expand_export_writes_each_campaigns_audience_model(
        sample_model, tmp_path, form):
    """expand --export: each campaign's program, loaded by Paddle's
    predictor, scores every candidate as scores.csv says (1e-5) and its
    top k is audience.csv, in both input forms, with --exclude and
    positives-only seeds (form 2: the sample's labels dropped)."""
    from dataio import schema
    from dataio.user_table import UserTable
    from helpers import ROOT
    from tools import expand, sample_user_table
    common = ["-m", str(CONFIG), "-o"] + SAMPLE_ARCH + [
        "expand.checkpoint=%s" % sample_model, "runner.infer_seed_blend=0.5",
        "runner.infer_train_epoch=1", "expand.diagnose=False",
        "expand.min_seeds=3"]
    (tmp_path / "ex.txt").write_text("3\n17\n100\n")
    out = tmp_path / "aud"
    if form == "feature rows":
        data = ROOT / "data" / "test_cold"
        inputs = ["--seeds", str(data / "test_cold_stage1.pkl"),
                  "--candidates", str(data / "test_cold_stage2.pkl")]
    else:
        sample_user_table.main(["--set", "cold", "--out", str(tmp_path)])
        seeds = pd.read_csv(tmp_path / "seeds.csv")
        seeds[seeds.label == 1][["aid", "uid"]].to_csv(
            tmp_path / "positives.csv", index=False)
        inputs = ["--users", str(tmp_path / "users"), "--ads",
                  str(tmp_path / "ads.csv"), "--seeds",
                  str(tmp_path / "positives.csv"), "--all-scores"]
    assert expand.main(common + inputs + [
        "--exclude", str(tmp_path / "ex.txt"), "--export", "--out",
        str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    maxima = schema.IdMaxima.from_config(sample_max_idxs())
    checked = 0
    for campaign in summary["campaigns"][:3]:
        aid = campaign["aid"]
        assert campaign["model"]["blend"]["seed_weight"] == 0.5
        scores = pd.read_csv(out / str(aid) / "scores.csv")
        if form == "feature rows":
            frame = pd.read_pickle(data / "test_cold_stage2.pkl")
            rows = frame.index[frame.aid == aid].to_numpy()
            from dataio.stage_files import read_stage
            stage = read_stage(str(data / "test_cold_stage2.pkl"), maxima,
                               use_cache=False)
            x = [a[scores.uid.to_numpy()] for a in stage.inputs()]
            assert set(scores.uid) <= set(rows)
        else:
            table = UserTable(str(tmp_path / "users"), maxima)
            ads = pd.read_csv(tmp_path / "ads.csv").set_index("aid")
            x = table.inputs(table.positions(scores.uid.to_numpy()),
                             ads.loc[aid].to_numpy())
        assert not set(scores.uid) & {3, 17, 100}   # excluded
        got = predict(out / str(aid), [np.ascontiguousarray(a, np.int64)
                                       for a in x])
        np.testing.assert_allclose(got, scores.score.to_numpy(), rtol=0,
                                   atol=1e-5)
        audience = pd.read_csv(out / str(aid) / "audience.csv")
        top = scores.uid.to_numpy()[np.argsort(-got, kind="stable")][
            :len(audience)]
        assert set(top) == set(audience.uid)
        checked += 1
    assert checked == 3


def sample_table_campaigns(tmp_path, seeds_kind):
    """The sample's cold campaigns as a user table (tools/sample_user_table),
    their seeds positives only (``valued``: with a value each) and, for
    ``candidates``, a candidates CSV naming every other user of the table,
    so that negatives are drawn from the users outside it. Returns the
    input options of expand and export alike, and the table."""
    from dataio import schema
    from dataio.user_table import UserTable
    from tools import sample_user_table
    sample_user_table.main(["--set", "cold", "--out", str(tmp_path)])
    seeds = pd.read_csv(tmp_path / "seeds.csv")
    positives = seeds[seeds.label == 1][["aid", "uid"]].copy()
    if "valued" in seeds_kind:
        positives["value"] = np.random.default_rng(9).uniform(
            0.5, 3.0, len(positives))
    positives.to_csv(tmp_path / "positives.csv", index=False)
    table = UserTable(str(tmp_path / "users"),
                      schema.IdMaxima.from_config(sample_max_idxs()))
    inputs = ["--users", str(tmp_path / "users"), "--ads",
              str(tmp_path / "ads.csv"), "--seeds",
              str(tmp_path / "positives.csv")]
    if "candidates" in seeds_kind:
        pd.DataFrame({"uid": np.asarray(table.uid)[::2]}).to_csv(
            tmp_path / "cands.csv", index=False)
        inputs += ["--candidates", str(tmp_path / "cands.csv")]
    if "excluded" in seeds_kind:
        (tmp_path / "ex.txt").write_text("3\n17\n100\n")
        inputs += ["--exclude", str(tmp_path / "ex.txt")]
    return inputs, table


def served_is_the_audience(folder, scores, audience, x):
    """The program in ``folder`` scores users ``x`` (scores.csv's, in
    order) as scores.csv does (1e-5), and its top k is audience.csv."""
    got = predict(folder, [np.ascontiguousarray(a, np.int64) for a in x])
    np.testing.assert_allclose(got, scores.score.to_numpy(), rtol=0,
                               atol=1e-5)
    top = scores.uid.to_numpy()[np.argsort(-got, kind="stable")][
        :len(audience)]
    assert set(top) == set(audience.uid)


SAMPLE_COMMON = SAMPLE_ARCH + [
    "runner.infer_seed_blend=0.5", "runner.infer_train_epoch=1",
    "expand.diagnose=False", "expand.min_seeds=3"]


@pytest.mark.slow
@pytest.mark.parametrize("seeds_kind", ["positives only, excluded",
                                        "valued, candidates"])
def test_export_of_a_user_table_campaign_is_its_audience(
        sample_model, tmp_path, seeds_kind):
    """tools/export.py takes the user-table form with expand's options
    (--users, --ads, --seeds, --candidates, --exclude): the program it
    writes for a campaign scores the table's users as the expansion's
    scores.csv (1e-5), its top k is audience.csv, and it drew the same
    negatives (from the candidates, or from the users outside them)."""
    from tools import expand, export
    inputs, table = sample_table_campaigns(tmp_path, seeds_kind)
    common = ["-m", str(CONFIG), "-o"] + SAMPLE_COMMON + [
        "expand.checkpoint=%s" % sample_model]
    assert expand.main(common + inputs + [
        "--all-scores", "--out", str(tmp_path / "aud")]) == 0
    summary = json.loads((tmp_path / "aud" / "summary.json").read_text())
    campaign = summary["campaigns"][0]
    aid = campaign["aid"]
    assert campaign["negatives_drawn"] > 0
    assert export.main(common + inputs + [
        "--aid", str(aid), "--out", str(tmp_path / "exp")]) == 0
    meta = json.loads((tmp_path / "exp" / "export.json").read_text())
    assert meta["blend"]["seed_weight"] == 0.5
    for key in ("negatives_drawn", "negatives_from") + (
            ("excluded", ) if "excluded" in seeds_kind else ()):
        assert meta[key] == campaign[key], key
    if "candidates" in seeds_kind:   # drawn outside the candidates
        assert campaign["negatives_from"].startswith("users of the table")
    scores = pd.read_csv(tmp_path / "aud" / str(aid) / "scores.csv")
    audience = pd.read_csv(tmp_path / "aud" / str(aid) / "audience.csv")
    ads = pd.read_csv(tmp_path / "ads.csv").set_index("aid")
    x = table.inputs(table.positions(scores.uid.to_numpy()),
                     ads.loc[aid].to_numpy())
    served_is_the_audience(tmp_path / "exp", scores, audience, x)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["feature rows", "user table"])
def test_expand_export_under_the_launcher_is_the_audience(sample_model,
                                                          tmp_path, form):
    """Two processes (python -m paddle.distributed.launch) with --export:
    rank 0 writes every campaign's program, also of the campaigns another
    rank fitted (feature rows: campaigns split across the ranks) or of
    the passes whose chunks the ranks shared (a user table), and each
    program scores as the run's scores.csv and ranks its audience.csv."""
    from dataio import schema
    from dataio.stage_files import read_stage
    from helpers import ROOT
    from support.launcher import launch
    overrides = SAMPLE_COMMON + ["expand.checkpoint=%s" % sample_model,
                                 "expand.chunk_rows=500"]
    data = ROOT / "data" / "test_cold"
    if form == "feature rows":
        inputs = ["--seeds", str(data / "test_cold_stage1.pkl"),
                  "--candidates", str(data / "test_cold_stage2.pkl")]
        stage = read_stage(str(data / "test_cold_stage2.pkl"),
                           schema.IdMaxima.from_config(sample_max_idxs()),
                           use_cache=False)
    else:
        inputs, table = sample_table_campaigns(tmp_path,
                                               "positives only, excluded")
        inputs += ["--all-scores"]
        ads = pd.read_csv(tmp_path / "ads.csv").set_index("aid")
    out = tmp_path / "aud"
    launch("expand.py", overrides, tmp_path / "log",
           extra=inputs + ["--export", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["campaigns"]) >= 2
    for campaign in summary["campaigns"]:
        aid = campaign["aid"]
        assert campaign["model"]["blend"]["seed_weight"] == 0.5
        scores = pd.read_csv(out / str(aid) / "scores.csv")
        audience = pd.read_csv(out / str(aid) / "audience.csv")
        if form == "feature rows":
            x = [a[scores.uid.to_numpy()] for a in stage.inputs()]
        else:
            x = table.inputs(table.positions(scores.uid.to_numpy()),
                             ads.loc[aid].to_numpy())
        served_is_the_audience(out / str(aid), scores, audience, x)
