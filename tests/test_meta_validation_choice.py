"""How meta-validation picks a setting from its grid (tuning/search.py
``choose``): ``best`` takes the highest mean score; ``lightest_within_se``
takes the lightest fine-tuning whose score is within one standard error
(paired over the held-out campaigns) of the best's."""
import pytest

from runkit.config import ConfigError, load_config
from helpers import CONFIG
from tuning.choice import LEARNING_RATE, PASSES, SEED_BLEND
from tuning.search import choose, per_campaign


def row(rate, passes, score):
    return {"settings": {LEARNING_RATE: rate, PASSES: passes,
                         SEED_BLEND: 0.5}, "score": score}


def campaigns(*values):
    return {aid: v for aid, v in enumerate(values)}


ROWS = [row(0.001, 2, 0.550), row(0.003, 5, 0.560), row(0.01, 5, 0.530)]


def test_best_takes_the_highest_score():
    scores = [campaigns(0.55, 0.55, 0.55)] * 3
    assert choose(ROWS, scores, "best") == (1, None)


def test_a_lighter_setting_within_the_noise_is_taken():
    # the best beats the light one on two campaigns, loses on one: the
    # mean difference 0.01 is inside its standard error (0.032)
    scores = [campaigns(0.50, 0.60, 0.55), campaigns(0.56, 0.55, 0.57),
              campaigns(0.53, 0.53, 0.53)]
    chosen, error = choose(ROWS, scores, "lightest_within_se")
    assert chosen == 0 and error == pytest.approx(0.0321, abs=1e-3)


def test_a_lighter_setting_clearly_worse_is_not():
    # the best wins by 0.01 on every campaign: no noise, no doubt
    scores = [campaigns(0.54, 0.54, 0.54), campaigns(0.55, 0.55, 0.55),
              campaigns(0.52, 0.52, 0.52)]
    rows = [row(0.001, 2, 0.54), row(0.003, 5, 0.55), row(0.01, 5, 0.52)]
    assert choose(rows, scores, "lightest_within_se") == (1, 0.0)


def test_per_campaign_scores_average_the_folds_and_skip_single_class():
    cuts = [(7, 0), (7, 1), (9, 0)]
    aucs = {(0, "hot"): [0.6, 0.8, None], (0, "cold"): [0.4, 0.6, 0.5]}
    assert per_campaign(cuts, aucs, 0) == {7: pytest.approx(0.6)}


def test_the_rule_is_a_declared_choice():
    with pytest.raises(ConfigError, match="tuning.choose"):
        load_config(str(CONFIG), ["tuning.choose=lightest"])
