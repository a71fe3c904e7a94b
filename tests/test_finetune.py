"""DygraphModel.fine_tune_and_score, the meta-test of one campaign: the
localised fine-tuning (local tables, weights packed once) gives the plain
computation's scores, and the fine-tuning really moves them."""
import dataclasses

import numpy as np
import pytest

from dataio.campaign import Campaign
from dygraph_model import DygraphModel
from helpers import random_inputs, randomize_parameters, small_config


def make_campaign(seed=0, seeds=40, candidates=30):
    rng = np.random.default_rng(seed)
    x_spt, x_qry = random_inputs(rng, seeds), random_inputs(rng, candidates)
    x_qry[3][:] = x_spt[3][:] = x_spt[3][0]   # one campaign: one ad
    y_spt = rng.permutation(np.arange(seeds) % 2).astype(np.float32)
    y_qry = rng.permutation(np.arange(candidates) % 2).astype(np.float32)
    return Campaign(7, x_spt, np.arange(seeds), y_spt, x_qry,
                    np.arange(1000, 1000 + candidates), y_qry)


def scores(config, campaign, localized, model_seed=0, tuning=False):
    """The candidates' scores (and with ``tuning`` the FineTuning)."""
    model_class = DygraphModel()
    model = model_class.create_model(config)
    randomize_parameters(model, np.random.default_rng(model_seed), scale=0.3)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    before = {k: v.numpy().copy() for k, v in init.items()}
    out, tuned = model_class.fine_tune_and_score(
        model, init, campaign, config, np.random.default_rng(1),
        localized=localized)
    # the meta-trained weights every campaign starts from stay untouched
    for k, v in init.items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)
    # and the model object keeps nothing of the campaign
    assert not hasattr(model_class, "kept_passes")
    return (out, tuned) if tuning else out


@pytest.mark.parametrize("batch_size", [16, 64])
def test_localised_fine_tuning_gives_the_plain_scores(batch_size):
    config = small_config("hyper_parameters.batch_size=%d" % batch_size,
                          "runner.infer_train_epoch=3",
                          "hyper_parameters.optimizer.local_test_learning_rate=0.05")
    campaign = make_campaign()
    local = scores(config, campaign, localized=True)
    plain = scores(config, campaign, localized=False)
    assert local.shape == (30, )
    np.testing.assert_allclose(local, plain, rtol=0, atol=2e-6)


@pytest.mark.slow
def test_fine_tuning_moves_the_scores_towards_the_seeds():
    tuned = small_config("hyper_parameters.batch_size=16",
                         "runner.infer_train_epoch=20",
                         "hyper_parameters.optimizer.local_test_learning_rate=0.05")
    untuned = small_config("runner.infer_train_epoch=0")
    campaign = make_campaign()
    # scored on its own seeds: fine-tuning must fit them
    campaign = dataclasses.replace(campaign, cand_x=campaign.seed_x,
                                   cand_uid=campaign.seed_uid,
                                   cand_y=campaign.seed_y)
    before = scores(untuned, campaign, localized=True)
    after = scores(tuned, campaign, localized=True)
    assert np.abs(after - before).max() > 1e-3
    y = campaign.seed_y

    def bce(p):
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert bce(after) < bce(before) - 0.05
