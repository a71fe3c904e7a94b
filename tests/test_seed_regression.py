"""adaptation/seed_regression.py: the seeds' regression kept as per-id
weights scores as the fitted scikit-learn model does."""
import numpy as np
import pytest

from adaptation.seed_regression import OneHot, SeedRegression, fit_logistic
from dataio.schema import IdMaxima
from helpers import SMALL_MAX_IDXS, random_inputs

MAXIMA = IdMaxima.from_config(SMALL_MAX_IDXS)


def seeds(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, n)
    # repeated ids in a list: each distinct valid id counts once
    x[1][:, 1] = x[1][:, 0]
    y = (x[0][:, 0] % 2 == 0).astype(int)
    y[:3] = 1 - y[:3]
    return x, y


def test_logits_are_the_fitted_models_decision_function():
    x, y = seeds()
    reg = SeedRegression.fit(MAXIMA, x, y, 0.1)
    encoder = OneHot(MAXIMA)
    model = fit_logistic(encoder.transform(x), y, 0.1)
    cand = random_inputs(np.random.default_rng(1), 300)
    cand[1][:, 2] = cand[1][:, 0]
    expected = model.decision_function(encoder.transform(cand))
    assert np.allclose(reg.logits(cand), expected, rtol=0, atol=1e-9)
    assert np.allclose(reg.scores(cand), model.predict_proba(
        encoder.transform(cand))[:, 1], rtol=0, atol=1e-12)


def test_pad_ids_after_a_lists_length_carry_no_weight():
    x, y = seeds()
    reg = SeedRegression.fit(MAXIMA, x, y, 0.1)
    cand = random_inputs(np.random.default_rng(2), 50)
    other = [a.copy() for a in cand]
    lengths = other[2]
    # change every id past each list's length: the logit must not move
    from dataio import schema
    for j, (start, width) in enumerate(zip(schema.DYNAMIC_OFFSETS,
                                           schema.DYNAMIC_LENGTHS)):
        past = np.arange(width)[None, :] >= lengths[:, j:j + 1]
        block = other[1][:, start:start + width]
        block[past] = 0
    assert np.array_equal(reg.logits(cand), reg.logits(other))


def test_weights_are_the_valued_seeds_values():
    x, y = seeds()
    w = np.where(y == 1, 3.0, 1.0)
    weighted = SeedRegression.fit(MAXIMA, x, y, 0.1, weight=w)
    plain = SeedRegression.fit(MAXIMA, x, y, 0.1)
    cand = random_inputs(np.random.default_rng(3), 100)
    # more weight on the positives moves every logit up
    assert (weighted.logits(cand) > plain.logits(cand)).mean() > 0.9
    # weights all 1 are no weights
    ones = SeedRegression.fit(MAXIMA, x, y, 0.1, weight=np.ones(len(y)))
    assert np.allclose(ones.logits(cand), plain.logits(cand), atol=1e-9)


@pytest.mark.parametrize("labels", [[1] * 10, [0] * 10, []])
def test_seeds_of_one_class_give_no_regression(labels):
    x = random_inputs(np.random.default_rng(0), len(labels))
    assert SeedRegression.fit(MAXIMA, x, np.array(labels), 0.1) is None
