"""Rare ids share one learned OOV row per field (hyper_parameters.
min_id_count, dataio/rare_ids.py): counted over the training rows only,
applied the same way in meta-training, at meta-test, expansion and export,
saved with every checkpoint (a missing or damaged file is a clear error),
and off (0 or 1) is every id its own row, as before."""
import os
import shutil

import numpy as np
import paddle
import pytest

from dataio import rare_ids, schema
from dataio.rare_ids import IdMap, IdMapError
from dataio.stage_files import StageArrays
from dygraph_model import DygraphModel, campaign_rng, localize
from helpers import (NO_TUNING, SMALL_MAX_IDXS, random_inputs, small_config,
                     write_frame)
from runkit.checkpoint import CheckpointError, load_checkpoint

MAXIMA = schema.IdMaxima.from_config(SMALL_MAX_IDXS)
LBS = schema.STATIC_FIELDS.index("LBS")          # static, ids 0..9
KW1 = schema.DYNAMIC_NAMES.index("kw1")          # multi-id, ids 0..11
KW1_TABLE = [t.field for t in schema.TABLES].index("kw1")
KW1_COLS = slice(schema.DYNAMIC_OFFSETS[KW1],
                 schema.DYNAMIC_OFFSETS[KW1] + schema.DYNAMIC_LENGTHS[KW1])
# in the training rows below: LBS 7 once, 8 only in test rows, 9 never;
# kw1 9 once (at a valid position), 10 only at padded positions, 11 never
RARE_LBS, UNSEEN_LBS, OOV_LBS = 7, 8, 9


def training_rows(rng, n=200):
    x = random_inputs(rng, n, min_length=1)
    x[0][:, LBS] = rng.integers(0, 7, n)
    x[0][0, LBS] = RARE_LBS
    kw = x[1][:, KW1_COLS]
    kw[:] = rng.integers(0, 9, kw.shape)
    kw[5, 0] = 9
    length = x[2][:, KW1]
    kw[np.arange(kw.shape[1])[None, :] >= length[:, None]] = 10
    return x


def stage_of(x, y=None):
    n = len(x[0])
    return StageArrays("rows", np.zeros(n, np.int8) if y is None else y,
                       np.zeros(n, np.int64), *x)


def test_counts_are_of_the_training_rows_valid_positions():
    x = training_rows(np.random.default_rng(0))
    counts = rare_ids.count_ids(stage_of(x), MAXIMA)
    lbs = counts[LBS]
    assert lbs[RARE_LBS] == 1 and lbs[UNSEEN_LBS] == lbs[OOV_LBS] == 0
    assert lbs.sum() == len(x[0])
    kw1 = counts[KW1_TABLE]
    # pads (10 here; the reader makes them 0) are not ids
    assert kw1[9] == 1 and kw1[10] == 0
    assert kw1.sum() == x[2][:, KW1].sum()


def test_rare_and_unseen_ids_read_the_fields_largest_rare_row():
    counts = rare_ids.count_ids(stage_of(training_rows(
        np.random.default_rng(0))), MAXIMA)
    id_map = IdMap.from_counts(counts, 2)
    lut = id_map.luts[LBS]
    assert lut[[RARE_LBS, UNSEEN_LBS, OOV_LBS]].tolist() == [OOV_LBS] * 3
    assert lut[:7].tolist() == list(range(7))
    assert id_map.luts[KW1_TABLE][9:].tolist() == [11, 11, 11]
    for lut in id_map.luts:   # a row read is its own row: applying twice
        assert (lut[lut] == lut).all()   # changes nothing
    assert id_map.shared()[LBS] == 3


@pytest.mark.parametrize("off", [0, 1])
def test_off_makes_no_mapping(off):
    config = small_config("hyper_parameters.min_id_count=%d" % off)
    assert rare_ids.for_training(config, stage_of(training_rows(
        np.random.default_rng(0)))) is None


def test_identity_mapping_gives_the_unmapped_meta_step():
    """The mapping path changes ids, nothing else: through the identity
    the meta-loss and every gradient are the unmapped ones, bit for bit."""
    config = small_config("hyper_parameters.batch_size=8",
                          "hyper_parameters.task_count=2")
    rng = np.random.default_rng(1)
    batch = [random_inputs(rng, 16), (rng.random((2, 8)) < 0.4).astype("f4"),
             random_inputs(rng, 16), (rng.random((2, 8)) < 0.4).astype("f4")]
    identity = IdMap(2, [np.arange(m + 1) for _, m in MAXIMA.by_field()])
    results = []
    for id_map in (None, identity):
        paddle.seed(3)
        model = DygraphModel().create_model(config)
        model.id_map = id_map
        loss, _, _ = DygraphModel().train_forward(model, [], batch, config)
        loss.backward()
        results.append([float(loss)] + [p.grad.numpy().copy()
                                        for p in model.parameters()])
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1:], results[1][1:]):
        np.testing.assert_array_equal(a, b)


def test_meta_training_moves_the_oov_row_not_the_rare_ids_own():
    config = small_config("hyper_parameters.batch_size=8",
                          "hyper_parameters.task_count=1")
    rng = np.random.default_rng(2)
    x_spt, x_qry = random_inputs(rng, 8), random_inputs(rng, 8)
    x_spt[0][:, LBS] = RARE_LBS
    x_qry[0][:, LBS] = UNSEEN_LBS
    y = np.ones((1, 8), "f4")
    id_map = IdMap.from_counts(rare_ids.count_ids(stage_of(training_rows(
        np.random.default_rng(0))), MAXIMA), 2)
    model = DygraphModel().create_model(config)
    model.id_map = id_map
    feeds = DygraphModel().create_feeds([x_spt, y, x_qry, y], config,
                                        model.id_map)
    assert feeds["rows"][LBS].tolist() == [OOV_LBS]
    loss, _, _ = DygraphModel().train_forward(model, [], [x_spt, y, x_qry, y],
                                              config)
    loss.backward()
    grad = model.params()[model.table_names()[LBS]].grad.numpy()
    assert np.abs(grad[OOV_LBS]).sum() > 0
    assert not grad[[RARE_LBS, UNSEEN_LBS]].any()


# ------------------------------------------- a real run, in process
ARCH = ["hyper_parameters.batch_size=16", "hyper_parameters.task_count=2",
        "runner.use_auc=False", "runner.print_interval=1000"]


def write_data(folder):
    rng = np.random.default_rng(4)
    x = training_rows(rng)
    y = (rng.random(len(x[0])) < 0.3).astype(np.int64)
    for aid in range(4):
        part = slice(50 * aid, 50 * (aid + 1))
        write_frame(folder / "train" / ("train_%d.pkl" % aid),
                    [a[part] for a in x], y[part], aid)
    # test rows full of LBS 8: they must not make it a known id
    t = random_inputs(rng, 60, min_length=1)
    t[0][:, LBS] = UNSEEN_LBS
    ty = np.arange(60) % 2
    (folder / "test").mkdir()
    write_frame(folder / "test" / "t_stage1.pkl", [a[:30] for a in t],
                ty[:30], 9)
    write_frame(folder / "test" / "t_stage2.pkl", [a[30:] for a in t],
                ty[30:], 9)
    return folder


def run_config(data, save, *extra):
    return small_config(*ARCH, "runner.train_data_dir=%s" % (data / "train"),
                        "runner.test_data_dir=%s" % (data / "test"),
                        "runner.test_cold_data_dir=null",
                        "runner.model_save_path=%s" % save,
                        "runner.infer_load_path=%s" % save, NO_TUNING, *extra)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("rare_data"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    from tools.trainer import train
    save = tmp_path_factory.mktemp("rare_run") / "m"
    train(run_config(data, save, "hyper_parameters.min_id_count=2"))
    return save


def loaded(config, path):
    model_class = DygraphModel()
    model = model_class.create_model(config)
    load_checkpoint(model, str(path), config)
    return model_class, model, {k: v.clone()
                                for k, v in model.state_dict().items()}


def lbs_variants(rng, n_seeds=24):
    """A campaign whose candidates are one user with LBS rare, unseen, the
    OOV id itself, and a known id."""
    seeds = random_inputs(rng, n_seeds, min_length=1)
    seeds[0][:, LBS] = rng.integers(0, 10, n_seeds)   # rare ids among seeds
    user = random_inputs(rng, 1, min_length=1)
    cands = [np.repeat(a, 4, axis=0) for a in user]
    cands[0][:, LBS] = [RARE_LBS, UNSEEN_LBS, OOV_LBS, 3]
    from dataio.campaign import Campaign
    return Campaign(5, seeds, np.arange(n_seeds),
                    (np.arange(n_seeds) % 2).astype("f4"), cands,
                    np.arange(100, 104))


def test_run_saves_the_mapping_of_its_training_rows(trained, data):
    from runkit.runs import read_manifest
    id_map = rare_ids.load(str(trained / "0" / rare_ids.FILE), MAXIMA)
    assert id_map.min_count == 2
    # LBS 8 fills the test rows, but only training rows count
    assert id_map.luts[LBS][[RARE_LBS, UNSEEN_LBS]].tolist() == [OOV_LBS] * 2
    assert rare_ids.FILE in read_manifest(str(trained))["epochs"]["0"]["files"]


@pytest.mark.parametrize("localized", [True, False])
def test_rare_and_unseen_ids_score_as_the_oov_row_at_meta_test(
        trained, data, localized):
    config = run_config(data, trained, "hyper_parameters.min_id_count=2")
    model_class, model, init = loaded(config, trained / "0")
    campaign = lbs_variants(np.random.default_rng(6))
    scores, _ = model_class.fine_tune_and_score(
        model, init, campaign, config, campaign_rng(config, 5),
        localized=localized)
    assert scores[0] == scores[1] == scores[2]
    assert abs(scores[2] - scores[3]) > 1e-6
    # the same weights without the mapping score the three ids apart
    model.id_map = None
    raw, _ = model_class.fine_tune_and_score(
        model, init, campaign, config, campaign_rng(config, 5))
    assert len(set(raw[:3].tolist())) == 3


def test_full_tables_take_raw_ids_as_the_meta_test_maps_them(trained, data):
    """Export and user-table scoring use the full tables with raw ids: the
    mapping is folded into them, so they score what the meta-test does."""
    from audience.serving import full_weights
    config = run_config(data, trained, "runner.infer_train_epoch=1")
    model_class, model, init = loaded(config, trained / "0")
    campaign = lbs_variants(np.random.default_rng(7))
    rng = campaign_rng(config, 5)
    tuned = model_class.fine_tune(model, init, campaign.seed_x,
                                  campaign.seed_y,
                                  [a[:0] for a in campaign.cand_x], config,
                                  rng)
    served = model_class.score(model, campaign.cand_x, config, full_weights(
        model, init, tuned.packed, tuned.rows))
    meta_test, _ = model_class.fine_tune_and_score(
        model, init, campaign, config, campaign_rng(config, 5))
    np.testing.assert_allclose(served, meta_test, rtol=0, atol=1e-6)
    assert served[0] == served[1] == served[2]


@pytest.mark.slow
def test_exported_model_takes_raw_ids(trained, data, tmp_path):
    """tools/export.py folds the mapping into the served tables: Paddle's
    predictor on raw ids scores what the model scores on mapped ids."""
    import json
    from helpers import SMALL_MAX_IDXS, run_tool, yaml_list
    from support.expansion import predict
    out = tmp_path / "export"
    done = run_tool("export.py", [
        "hyper_parameters.max_idxs=%s" % yaml_list(SMALL_MAX_IDXS),
        "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
        "hyper_parameters.num_expert=3", "hyper_parameters.num_output=2",
        "runner.train_data_dir=%s" % (data / "train"),
        "expand.checkpoint=%s" % (trained / "0")], extra=["--out", str(out)])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads((out / "export.json").read_text())["min_id_count"] == 2
    config = run_config(data, trained)
    _, model, _ = loaded(config, trained / "0")
    x = lbs_variants(np.random.default_rng(8)).cand_x
    with paddle.no_grad():
        want = model([paddle.to_tensor(a)
                      for a in model.id_map.apply(x)]).numpy()
    got = predict(out, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert got[0] == got[1] == got[2]


def test_meta_test_tool_reads_the_mapping_and_warns_on_another_key(
        trained, data, tmp_path, caplog):
    from tools.infer_meta import infer
    config = run_config(data, trained, "runner.infer_result_path=%s" %
                        (tmp_path / "r.json"))   # min_id_count 0 here
    with caplog.at_level("INFO", logger="metaheac"):
        result = infer(config)
    assert "rare ids (%s" % (trained / "0" / rare_ids.FILE) in caplog.text
    assert "hyper_parameters.min_id_count is 0" in caplog.text
    assert result["epochs"]["0"]["hot"]["summary"]["campaigns"] == 1


def copy_run(trained, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(trained, folder)
    return folder


def test_a_missing_mapping_is_an_error_naming_it(trained, tmp_path):
    from runkit.runs import verify_checkpoint
    folder = copy_run(trained, tmp_path)
    os.remove(folder / "0" / rare_ids.FILE)
    with pytest.raises(CheckpointError, match="id_map.npz is missing"):
        verify_checkpoint(str(folder / "0"))


def test_a_damaged_mapping_is_an_error_naming_it(trained, data, tmp_path):
    from runkit.runs import MANIFEST, verify_checkpoint
    folder = copy_run(trained, tmp_path)
    path = folder / "0" / rare_ids.FILE
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="id_map.npz does not match"):
        verify_checkpoint(str(folder / "0"))
    os.remove(folder / MANIFEST)   # unchecked: the file itself is refused
    config = run_config(data, folder)
    with pytest.raises(IdMapError, match="id_map.npz cannot be read"):
        loaded(config, folder / "0")


def test_a_mapping_of_another_vocabulary_is_refused(trained, tmp_path):
    other = schema.IdMaxima(MAXIMA.static[:2] + (99, ) + MAXIMA.static[3:],
                            MAXIMA.dynamic, MAXIMA.ad)
    with pytest.raises(IdMapError, match="100 ids for field LBS"):
        rare_ids.load(str(trained / "0" / rare_ids.FILE), other)


def test_same_seed_and_rows_give_the_same_run(trained, data, tmp_path):
    from runkit.checkpoint import load_state
    from tools.trainer import train
    again = tmp_path / "again"
    train(run_config(data, again, "hyper_parameters.min_id_count=2"))
    for name in (rare_ids.FILE, ):
        assert (again / "0" / name).read_bytes() == \
            (trained / "0" / name).read_bytes()
    a, b = load_state(str(trained / "0")), load_state(str(again / "0"))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_a_resumed_run_keeps_its_mapping(trained, data, tmp_path, caplog):
    from tools.trainer import train
    folder = copy_run(trained, tmp_path)
    with caplog.at_level("INFO", logger="metaheac"):
        train(run_config(data, folder, "hyper_parameters.min_id_count=2",
                         "runner.resume=True", "runner.epochs=2"))
    assert "rare ids (%s" % (folder / "0" / rare_ids.FILE) in caplog.text
    assert (folder / "1" / rare_ids.FILE).read_bytes() == \
        (folder / "0" / rare_ids.FILE).read_bytes()


@pytest.mark.slow
def test_a_warm_start_counts_its_own_rows(trained, data, tmp_path):
    from tools.trainer import train
    save = tmp_path / "warm"
    train(run_config(data, save, "runner.model_init_path=%s" %
                     (trained / "0")))   # min_id_count 0: no mapping
    assert not (save / "0" / rare_ids.FILE).exists()


def test_min_id_count_one_trains_without_a_mapping(data, tmp_path):
    from runkit.runs import read_manifest
    from tools.trainer import train
    save = tmp_path / "off"
    train(run_config(data, save, "hyper_parameters.min_id_count=1"))
    assert sorted(os.listdir(save / "0")) == ["rec.pdopt", "rec.pdparams"]
    assert rare_ids.FILE not in read_manifest(str(save))["epochs"]["0"]["files"]
    _, model, _ = loaded(run_config(data, save), save / "0")
    assert model.id_map is None


def test_min_id_count_below_zero_is_refused():
    from runkit.config import ConfigError
    with pytest.raises(ConfigError, match="min_id_count"):
        small_config("hyper_parameters.min_id_count=-1")
