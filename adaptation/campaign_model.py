"""A meta-trained model adapted to one campaign: the network fine-tuned on
the campaign's training set, the seeds' own regression, and the blend of
the two, all fixed when it is fitted (:func:`fit`). Its score of a user
depends on that user alone, so the meta-test, both forms of expansion,
the seed diagnostics, meta-validation and the exported model score alike.
"""
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from adaptation.blend import Blend
from adaptation.seed_regression import SeedRegression


@dataclass
class CampaignModel:
    tuned: object                      # dygraph_model.FineTuning
    regression: Optional[SeedRegression]   # None: nothing to blend
    blend: Optional[Blend]
    # the network's scores of the training set (the blend's constants)
    train_net_scores: np.ndarray
    train_reg_logits: Optional[np.ndarray]

    def score(self, net_scores, x):
        """The campaign's scores of users whose network scores (their
        probabilities under this model's fine-tuned weights) are
        ``net_scores`` and whose inputs are ``x``."""
        if self.blend is None:
            return np.asarray(net_scores)
        return self.blend(net_scores, self.regression.logits(x))

    def with_seed_weight(self, weight):
        """The same fit blended with another weight (meta-validation's
        grid: one fine-tuning serves every blend weight); weight 0, or
        no regression: the network alone."""
        if self.regression is None or weight <= 0:
            return replace(self, blend=None)
        return replace(self, blend=Blend.fit(
            weight, self.train_net_scores, self.train_reg_logits))

    def record(self):
        """What summary.json and export.json say of the blend."""
        if self.blend is not None:
            return {"blend": self.blend.record()}
        return {"blend": "the network alone (%s)" % (
            "runner.infer_seed_blend 0" if self.regression is not None else
            "no seed regression: runner.infer_seed_blend 0, or seeds of "
            "one class")}


def fit(model_class, model, init_state, x, y, cand_x, config, rng,
        weight=None, regression=None):
    """Fit the campaign model on the training set ``x``, ``y`` (each row's
    loss times ``weight``: valued seeds): fine-tune the network
    (``DygraphModel.fine_tune``; ``cand_x`` the candidates its local
    tables must also cover), fit the seeds' regression (``regression``:
    one fitted already on the same rows) and the blend's constants at
    ``runner.infer_seed_blend``. Returns the :class:`CampaignModel` and
    the network's scores of ``cand_x``."""
    n = len(cand_x[0])
    seed_weight = float(config.get("runner.infer_seed_blend"))
    if regression is None and seed_weight > 0:
        regression = SeedRegression.fit(model.maxima, x, y,
                                        config.get("runner.infer_seed_c"),
                                        weight)
    if regression is not None:
        # the blend's constants need the network's scores of the training
        # rows: they ride along as candidates; their ids are the seeds'
        # own, localised anyway, so the fit is unchanged
        cand_x = [np.concatenate([c, s]) for c, s in zip(cand_x, x)]
    tuned = model_class.fine_tune(model, init_state, x, y, cand_x, config,
                                  rng, weight)
    net = model_class.score(model, tuned.cand_x, config, tuned.packed)
    tuned.cand_x = [a[:n] for a in tuned.cand_x]
    reg_logits = None if regression is None else regression.logits(x)
    campaign = CampaignModel(tuned, regression, None, net[n:], reg_logits)
    return campaign.with_seed_weight(seed_weight), net[:n]


def campaign_scores(model_class, model, init_state, campaign, config, rng,
                    weight=None):
    """Fit the campaign model on a campaign's (``dataio.campaign.Campaign``)
    labelled seeds (rows weighted by ``weight``: valued seeds) and score
    its candidates: the meta-test's and the seed diagnostics' scores.
    Returns ``(scores, the dygraph_model.FineTuning)``."""
    fitted, net = fit(model_class, model, init_state, campaign.seed_x,
                      campaign.seed_y, campaign.cand_x, config, rng, weight)
    return fitted.score(net, campaign.cand_x), fitted.tuned
