"""The quality benchmark's ingredients: the sparse generator spec has the
properties it claims, and the logistic-regression baselines encode what the
network reads and fail soft on a one-class seed set."""
import dataclasses

import numpy as np
import pytest

from baselines import logistic
from dataio import schema
from helpers import SMALL_MAX_IDXS, random_inputs
from synthetic import generator


@pytest.fixture(scope="module")
def sparse_stages():
    spec = dataclasses.replace(generator.SPARSE, n_users=20000)
    return generator.generate(spec, 3, probabilities=True)


@pytest.mark.slow
def test_sparse_spec_is_as_sparse_as_claimed(sparse_stages):
    train = sparse_stages["train_stage1"]
    assert 0.02 < train["label"].mean() < 0.08          # about 5 % positives
    assert len(np.unique(train["aid"])) == 60
    assert 14000 <= len(train["label"]) <= 17000
    # kw1: the full vocabulary, most ids seen once or never
    j = schema.DYNAMIC_NAMES.index("kw1")
    start, width = schema.DYNAMIC_OFFSETS[j], schema.DYNAMIC_LENGTHS[j]
    valid = np.arange(width)[None, :] < train["lengths"][:, j:j + 1]
    ids, counts = np.unique(train["dynamic"][:, start:start + width][valid],
                            return_counts=True)
    assert ids.max() > 100000 and (counts == 1).mean() > 0.5
    cold = sparse_stages["test_cold_stage1"]
    positives = [cold["label"][cold["aid"] == a].sum()
                 for a in np.unique(cold["aid"])]
    assert len(positives) == 24 and max(positives) <= 20
    # learnable, but far from trivially: the oracle's AUC is about 0.8
    hot = sparse_stages["test_hot_stage2"]
    from sklearn.metrics import roc_auc_score
    aucs = [roc_auc_score(hot["label"][hot["aid"] == a],
                          hot["p"][hot["aid"] == a])
            for a in np.unique(hot["aid"])
            if 0 < hot["label"][hot["aid"] == a].sum() < 300]
    assert 0.7 < np.mean(aucs) < 0.9


@pytest.mark.slow
def test_probabilities_leave_the_draws_unchanged():
    a = generator.generate(generator.SAMPLE, 5)
    b = generator.generate(generator.SAMPLE, 5, probabilities=True)
    for stage in a:
        assert "p" not in a[stage]
        for key in a[stage]:
            np.testing.assert_array_equal(a[stage][key], b[stage][key])


def test_one_hot_has_a_column_per_valid_id():
    rng = np.random.default_rng(0)
    x = random_inputs(rng, 30, min_length=0)
    encoder = logistic.OneHot(SMALL_MAX_IDXS)
    matrix = encoder.transform(x).toarray()
    static, dynamic, lengths, _ = x
    for row in range(30):
        want = set(static[row] + encoder.offsets[:7])
        for j, (start, width) in enumerate(zip(schema.DYNAMIC_OFFSETS,
                                               schema.DYNAMIC_LENGTHS)):
            ids = dynamic[row, start:start + lengths[row, j]]
            want |= set(ids + encoder.offsets[7 + j])
        assert set(np.flatnonzero(matrix[row])) == want
        assert set(matrix[row][matrix[row] != 0]) <= {1.0}
    with_ad = logistic.OneHot(SMALL_MAX_IDXS, with_ad=True)
    assert with_ad.transform(x).shape[1] == encoder.width + sum(
        m + 1 for m in SMALL_MAX_IDXS[2])


def test_campaign_lr_learns_and_fails_soft_on_one_class():
    rng = np.random.default_rng(1)
    x = random_inputs(rng, 200)
    # positives: static field 2 at its lowest ids
    y = (x[0][:, 2] < 2).astype(np.float32)
    encoder = logistic.OneHot(SMALL_MAX_IDXS)
    from dataio.campaign import from_arrays
    campaign = from_arrays(1, x, y, np.arange(150), np.arange(150, 200))
    scores, constant = logistic.campaign_scores(campaign, encoder, 1.0)
    assert not constant
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(y[150:], scores) > 0.9
    campaign.seed_y = np.zeros(150, np.float32)
    scores, constant = logistic.campaign_scores(campaign, encoder, 1.0)
    assert constant and np.all(scores == 0.0)
