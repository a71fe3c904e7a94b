"""Negatives drawn for seeds without any: no candidate is
lost to them, the summary says how to read the scores, form 2 draws them
outside the candidates when it can, and tools/export.py fine-tunes exactly
as tools/expand.py does."""
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from audience import pools
from audience.expansion import expand
from audience.sources import feature_row_campaigns
from audience.training_set import CANDIDATES, OUTSIDE, SCORES_NOTE, check_pool
from dataio.campaign import TableCampaign
from helpers import random_inputs, small_config, write_frame
from support.expansion import make_campaign, small_model

CONFIG = small_config("hyper_parameters.batch_size=16",
                      "runner.infer_seed_blend=0")
AD = np.array([3, 3, 3, 3, 3, 3])


@pytest.mark.parametrize("labels", ["positive", None])
def test_no_candidate_is_lost_to_drawn_negatives(labels, caplog):
    caplog.set_level(logging.INFO)
    config = small_config("hyper_parameters.batch_size=16",
                          "expand.negative_ratio=1")
    campaign = make_campaign(seed_y=labels, seeds=20, candidates=80)
    campaign.cand_uid[5] = campaign.seed_uid[0]   # a seed: left out
    (result, ), _ = expand(config, [campaign], 0.99, *small_model(config))
    s = result.summary
    assert s["negatives_drawn"] == 20 and s["seeds_removed_from_candidates"] == 1
    # every candidate but the seed is scored and ranked, drawn ones too
    assert sorted(result.uid.tolist()) == sorted(
        set(campaign.cand_uid.tolist()) - {int(campaign.seed_uid[0])})
    assert s["candidates"] == 79 and len(result.score) == 79
    assert s["negatives_from"] == CANDIDATES
    assert s["scores_note"] == SCORES_NOTE and "ranks" in SCORES_NOTE
    assert "drew 20 negatives" in caplog.text


def test_labelled_negative_seeds_have_no_scores_note():
    (result, ), _ = expand(CONFIG, [make_campaign(seed_y="mixed")], 0.1,
                           *small_model(CONFIG))
    assert result.summary["negatives_drawn"] == 0
    assert "scores_note" not in result.summary


def table_expansion(table, campaign, ratio=1):
    config = small_config("hyper_parameters.batch_size=16",
                          "expand.negative_ratio=%g" % ratio)
    (result, ), _ = expand(config, [campaign], 0.5, *small_model(config),
                           table=table)
    return result


def test_form_two_draws_outside_the_candidates_when_it_can(users, caplog):
    caplog.set_level(logging.INFO)
    _, table = users
    cand_rows = np.arange(20, 120)   # 100 of the table's 200 users
    result = table_expansion(table, TableCampaign(3, np.arange(20), None, AD,
                                                  cand_rows))
    s = result.summary
    assert s["negatives_drawn"] == 20
    assert s["negatives_from"] == OUTSIDE
    assert s["candidates"] == 100
    assert sorted(result.uid.tolist()) == sorted(
        np.asarray(table.uid[cand_rows]).tolist())
    assert "users of the table outside the candidates" in caplog.text


@pytest.mark.slow
def test_form_two_draws_among_the_candidates_and_keeps_them(users):
    _, table = users
    # every user a candidate: nobody outside, the drawn stay candidates
    result = table_expansion(table, TableCampaign(3, np.arange(20), None, AD))
    s = result.summary
    assert s["negatives_drawn"] == 20
    assert s["negatives_from"] == CANDIDATES
    assert s["candidates"] == 180 and len(result.uid) == 180
    # too few outside for 5 per seed (80 < 100): among the candidates
    few = table_expansion(table, TableCampaign(
        3, np.arange(20), None, AD, np.arange(20, 120)), ratio=5)
    assert few.summary["negatives_from"] == CANDIDATES
    assert few.summary["negatives_drawn"] == 50   # half the candidates
    assert few.summary["candidates"] == 100


def test_outside_rows_are_neither_candidates_nor_seeds():
    outside = pools._outside(10, np.array([2, 3, 4]), np.array([0, 9]), 5)
    assert outside.tolist() == [1, 5, 6, 7, 8]
    assert pools._outside(10, np.array([2, 3, 4]), np.array([0, 9]),
                          6) is None


def test_export_fine_tunes_exactly_as_expand(tmp_path):
    """Positives-only seeds, one of them among the candidates: export
    leaves it out before drawing, as expand does, so both draw the same
    negatives and the exported weights score the candidates as expand
    did."""
    from tools import export
    rng = np.random.default_rng(21)
    seeds, cands = tmp_path / "s.pkl", tmp_path / "c.pkl"
    cand_uid = np.arange(500, 560)
    cand_uid[7] = 103   # a seed among the candidates
    write_frame(seeds, random_inputs(rng, 30), np.ones(30), 9,
                uid=np.arange(100, 130), label=False)
    write_frame(cands, random_inputs(rng, 60), np.arange(60) % 2, 9,
                uid=cand_uid)
    model_class, model, init = small_model(CONFIG)
    (result, ), _ = expand(CONFIG, feature_row_campaigns(
        str(seeds), str(cands), CONFIG), 0.1, model_class, model, init)
    assert result.summary["seeds_removed_from_candidates"] == 1
    args = SimpleNamespace(aid=9, seeds=str(seeds), candidates=str(cands),
                           users=None)
    program, _, record = export.campaign_program(CONFIG, args, model_class,
                                                 model, init)
    assert record["negatives_drawn"] == result.summary["negatives_drawn"] == 29
    assert record["scores_note"] == SCORES_NOTE
    campaign, = [c for c in feature_row_campaigns(str(seeds), str(cands),
                                                  CONFIG)]
    order = {u: i for i, u in enumerate(campaign.cand_uid.tolist())}
    x = [a[[order[u] for u in result.uid.tolist()]] for a in campaign.cand_x]
    import paddle
    with paddle.no_grad():
        got = program(*[paddle.to_tensor(a) for a in x]).numpy()
    np.testing.assert_allclose(got, result.score, rtol=0, atol=1e-6)


@pytest.mark.parametrize("labels", ["positive", None])
def test_positives_only_seeds_with_nobody_to_draw_from_are_skipped(labels):
    """Every candidate is a seed: the campaign is skipped with the one
    positives-only error (audience/training_set.py, also tools/export.py's),
    not fine-tuned on positives alone."""
    campaign = make_campaign(seed_y=labels, seeds=20, candidates=20)
    campaign.cand_uid[:] = campaign.seed_uid
    results, (skipped, ) = expand(CONFIG, [campaign], 0.1,
                                  *small_model(CONFIG))
    assert not results and skipped.aid == 5
    assert "hold no negative" in skipped.reason
    assert "no user to draw negatives from" in skipped.reason
    # labelled negatives need no one to draw from
    mixed = make_campaign(seed_y="mixed", seeds=20, candidates=20)
    check_pool(mixed, 0, "unused")
    with pytest.raises(ValueError, match="campaign 5: .*give --candidates"):
        check_pool(make_campaign(seed_y=labels), 0, "give --candidates")
