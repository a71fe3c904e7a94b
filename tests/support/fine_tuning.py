"""The meta-test's fine-tuning of one campaign
(DygraphModel.fine_tune_and_score) on a small network of random weights."""
import numpy as np

from dataio.campaign import Campaign
from dygraph_model import DygraphModel
from helpers import random_inputs, randomize_parameters


def one_ad_campaign(seed=0, seeds=40, candidates=30):
    """Campaign 7: one ad, seeds and candidates labelled half and half in
    shuffled order."""
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
