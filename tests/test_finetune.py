"""DygraphModel.fine_tune_and_score, the meta-test of one campaign: the
localised fine-tuning (local tables, weights packed once) gives the plain
computation's scores, and the fine-tuning really moves them."""
import dataclasses

import numpy as np
import pytest

from helpers import small_config
from support.fine_tuning import one_ad_campaign, scores


@pytest.mark.parametrize("batch_size", [16, 64])
def test_localised_fine_tuning_gives_the_plain_scores(batch_size):
    config = small_config("hyper_parameters.batch_size=%d" % batch_size,
                          "runner.infer_train_epoch=3",
                          "hyper_parameters.optimizer.local_test_learning_rate=0.05")
    campaign = one_ad_campaign()
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
    campaign = one_ad_campaign()
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
