"""A campaign's candidate scores: the fine-tuned network's, blended by rank
with a logistic regression fitted on the campaign's own seeds.

The network brings what meta-training learnt across campaigns; the seeds'
own model brings what only this campaign's seeds show (on sparse data it
ranked hot campaigns better than the fine-tuned network alone,
docs/quality.md). Their scores live on different scales (the network is
calibrated by meta-training, the regression by its own regularisation),
so they are combined by rank:

    score = (1 - w) * rank_net / n + w * rank_seeds / n

with ``w = runner.infer_seed_blend`` (0: the network alone, the paper's
method) and ties given their mean rank. The blended score orders the
candidates; it is a rank share in (0, 1], not a probability. Seeds of one
class give the regression nothing to rank by: the network's order is kept.
"""
import numpy as np
from scipy.stats import rankdata


def weight(config):
    return float(config.get("runner.infer_seed_blend"))


def fitted(maxima, x_spt, y_spt, c, weight=None):
    """The seeds' regression (adaptation/seed_regression.py), or None when
    they hold one class (nothing to rank by: the network's order is
    kept)."""
    from adaptation.seed_regression import SeedRegression
    return SeedRegression.fit(maxima, x_spt, y_spt, c, weight)


def seed_model(maxima, x_spt, y_spt, config, values=None):
    """The campaign's seed regression (rows weighted by ``values``: valued
    seeds, as the network's fine-tuning is), or None when there is nothing
    to blend (``runner.infer_seed_blend`` 0, or seeds of one class)."""
    if weight(config) <= 0:
        return None
    return fitted(maxima, x_spt, y_spt, config.get("runner.infer_seed_c"),
                  values)


def seed_model_scores(maxima, x_spt, y_spt, x_qry, c):
    """Scores of the candidates by the seeds' own model, or None when the
    seeds hold one class."""
    model = fitted(maxima, x_spt, y_spt, c)
    return None if model is None else model.scores(x_qry)


def blend(net_scores, seed_scores, w):
    """The rank blend above; ``net_scores`` unchanged when there is
    nothing to blend."""
    net_scores = np.asarray(net_scores)
    if seed_scores is None or w <= 0 or len(net_scores) == 0:
        return net_scores
    n = float(len(net_scores))
    return ((1.0 - w) * rankdata(net_scores) / n +
            w * rankdata(seed_scores) / n).astype(np.float32)


def campaign_scores(model_class, model, init_state, campaign, config, rng):
    """Fine-tune on the campaign's (``dataio.campaign.Campaign``) seeds,
    score its candidates, and blend with the seeds' own model when
    ``runner.infer_seed_blend`` > 0: the scores of the meta-test and of the
    seed diagnostics. Returns ``(scores, the dygraph_model.FineTuning)``."""
    scores, tuned = model_class.fine_tune_and_score(model, init_state,
                                                    campaign, config, rng)
    seeds_model = seed_model(model.maxima, campaign.seed_x, campaign.seed_y,
                             config)
    if seeds_model is not None:
        scores = blend(scores, seeds_model.scores(campaign.cand_x),
                       weight(config))
    return scores, tuned
