"""Valued seeds: an optional ``value`` column weights
each seed's loss in fine-tuning, in both input forms; without it the
fine-tuning is bit for bit what it was; bad values are refused with one
line naming the file and row, before the model is loaded."""
import logging

import numpy as np
import paddle
import pandas as pd
import pytest

from audience import expansion
from audience.expansion import expand
from audience.sources import user_table_campaigns
from audience.training_set import VALUED, seed_weights
from dataio.campaign import TableCampaign
from dataio.stage_files import DataError
from dygraph_model import PROB_FLOOR, DygraphModel, task_bce
from helpers import random_inputs, small_config
from support.expansion import make_campaign, small_model, stage_files, tool

CONFIG = small_config("hyper_parameters.batch_size=16",
                      "runner.infer_seed_blend=0")


def old_task_bce(pred, label):
    """task_bce as it was before weights (the reference)."""
    floor = paddle.full([1], PROB_FLOOR, dtype=pred.dtype)
    ll = label * paddle.log(paddle.maximum(pred, floor)) + \
        (1.0 - label) * paddle.log(paddle.maximum(1.0 - pred, floor))
    return -ll.sum(axis=-1) / float(pred.shape[-1])


def test_the_unweighted_loss_is_unchanged_and_the_weighted_one_by_hand():
    rng = np.random.default_rng(1)
    pred = paddle.to_tensor(rng.uniform(0, 1, (3, 7)).astype(np.float32))
    label = paddle.to_tensor((rng.uniform(0, 1, (3, 7)) < .4).astype(
        np.float32))
    assert np.array_equal(task_bce(pred, label).numpy(),
                          old_task_bce(pred, label).numpy())
    w = rng.uniform(0, 3, (3, 7)).astype(np.float32)
    p, y = pred.numpy().astype(np.float64), label.numpy()
    want = -(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).mean(axis=1)
    got = task_bce(pred, label, paddle.to_tensor(w)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)


def finetuned(weight, campaign):
    model_class, model, init = small_model(CONFIG)
    rng = np.random.default_rng(5)
    y = campaign.seed_y.astype(np.float32)
    tuned = model_class.fine_tune(model, init, campaign.seed_x, y,
                                  campaign.cand_x, CONFIG, rng, weight)
    return {k: v.numpy() for k, v in tuned.packed.items()}


def test_equal_values_fine_tune_bit_for_bit_as_no_values():
    campaign = make_campaign(seed_y="mixed")
    plain = finetuned(None, campaign)
    y = campaign.seed_y
    ones = seed_weights(y, np.full(len(y), 7.5))
    assert np.array_equal(ones, np.ones(len(y), np.float32))
    same = finetuned(ones, campaign)
    assert all(np.array_equal(plain[k], same[k]) for k in plain)
    valued = finetuned(seed_weights(y, np.arange(len(y), dtype=float)),
                       campaign)
    assert any(not np.array_equal(plain[k], valued[k]) for k in plain)


@pytest.mark.slow
def test_the_expansion_without_values_is_unchanged_by_equal_values():
    a = expand(CONFIG, [make_campaign(seed_y=None)], 0.1,
               *small_model(CONFIG))[0][0]
    campaign = make_campaign(seed_y=None)
    campaign.seed_value = np.full(len(campaign.seed_uid), 3.0)
    b = expand(CONFIG, [campaign], 0.1, *small_model(CONFIG))[0][0]
    np.testing.assert_array_equal(a.score, b.score)
    assert "seed_weights" in b.summary and "seed_weights" not in a.summary
    campaign = make_campaign(seed_y=None)
    campaign.seed_value = np.linspace(0, 10, len(campaign.seed_uid))
    c = expand(CONFIG, [campaign], 0.1, *small_model(CONFIG))[0][0]
    assert not np.array_equal(a.score, c.score)


def test_weights_positives_by_value_negatives_by_one():
    y = np.array([1, 1, 0, 1, 0, 0], np.float32)   # last two: drawn
    w = seed_weights(y, np.array([2.0, 6.0, 100.0, 4.0]))
    np.testing.assert_allclose(w, [0.5, 1.5, 1.0, 1.0, 1.0, 1.0])
    # a unit change (cents for dollars) weighs the same
    np.testing.assert_allclose(
        seed_weights(y, np.array([200.0, 600.0, 1.0, 400.0])), w)
    assert seed_weights(y, None) is None
    with pytest.raises(ValueError, match="value 0"):
        seed_weights(y, np.zeros(4))


def test_a_campaign_whose_positives_are_all_worth_0_is_skipped():
    campaign = make_campaign(aid=4, seed_y=None)
    campaign.seed_value = np.zeros(len(campaign.seed_uid))
    results, skipped = expand(CONFIG, [campaign], 0.1, *small_model(CONFIG))
    assert not results and skipped[0].aid == 4
    assert "value 0" in skipped[0].reason


# ------------------------------------------------- form 1: the stage file
@pytest.mark.slow
@pytest.mark.parametrize("bad, shown", [(-1.5, "-1.5"), ("lots", "'lots'"),
                                        (None, "value missing")])
def test_form_one_refuses_a_bad_value_before_any_work(
        tmp_path, checkpoint, monkeypatch, caplog, bad, shown):
    caplog.set_level(logging.INFO)
    seeds, cands = stage_files(tmp_path, labels="positive")
    frame = pd.read_pickle(seeds)
    frame["value"] = pd.Series([1.0] * len(frame), dtype=object)
    frame.loc[frame.index[4], "value"] = bad
    frame.to_pickle(seeds)

    def no_model(*a, **k):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(expansion, "load_model", no_model)
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", tmp_path / "out") == 1
    errors = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.ERROR]
    line = [m for m in errors if "value" in m][0]
    assert str(seeds) in line and "row 4" in line and shown in line
    assert "\n" not in line and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_form_one_values_reach_the_fine_tuning(tmp_path, checkpoint):
    import json
    seeds, cands = stage_files(tmp_path, labels="positive")
    frame = pd.read_pickle(seeds)
    frame["value"] = np.arange(len(frame)) % 5
    frame.to_pickle(seeds)
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", tmp_path / "out") == 0
    (camp, ) = json.loads((tmp_path / "out" / "summary.json").read_text())[
        "campaigns"]
    assert camp["seed_weights"] == VALUED


# ------------------------------------------------------ form 2: the CSV
def test_form_two_reads_values_and_refuses_bad_ones(users, tmp_path):
    folder, table = users
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("aid,uid,value\n3,0,1.5\n3,5,0\n3,10,2\n")
    (campaign, ) = list(user_table_campaigns(table, str(seeds),
                                             str(folder / "ads.csv")))
    np.testing.assert_array_equal(campaign.seed_value, [1.5, 0, 2])
    for text, shown in (("3,10,-2", "-2"), ("3,10,abc", "'abc'"),
                        ("3,10,", "value missing")):
        seeds.write_text("aid,uid,value\n3,0,1.5\n3,5,0\n%s\n" % text)
        # raised when called, not when the campaigns are taken
        with pytest.raises(DataError) as err:
            user_table_campaigns(table, str(seeds), str(folder / "ads.csv"))
        message = str(err.value)
        assert str(seeds) in message and "line 4" in message
        assert shown in message and "\n" not in message


@pytest.mark.slow
def test_form_two_values_weight_the_fine_tuning(users):
    _, table = users
    ad = np.array([3, 3, 3, 3, 3, 3])
    plain = TableCampaign(3, np.arange(20), None, ad)
    equal = TableCampaign(3, np.arange(20), None, ad,
                          seed_value=np.full(20, 4.0))
    valued = TableCampaign(3, np.arange(20), None, ad,
                           seed_value=np.arange(20.0))
    scores = [expand(CONFIG, [c], 0.1, *small_model(CONFIG),
                     table=table)[0][0] for c in (plain, equal, valued)]
    np.testing.assert_array_equal(scores[0].score, scores[1].score)
    assert not np.array_equal(scores[0].score, scores[2].score)
    assert scores[2].summary["seed_weights"] == VALUED
