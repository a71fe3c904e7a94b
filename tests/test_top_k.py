"""One definition of the top k: the meta-test's P@5 % and the expansion's
5 % audience (and its reach curve) hold the same number of candidates."""
import numpy as np
import pytest

from audience.expansion import REACH, audience_size, expand
from runkit.metrics import TOP_FRACTION, campaign_metrics, top_count, top_k
from support.expansion import (SMALL_CONFIG as CONFIG, make_campaign,
                               small_model)


@pytest.mark.slow
def test_top_count_is_the_papers_int_with_at_least_one():
    n = np.arange(1, 100001)
    got = np.array([top_count(0.05, int(k)) for k in n])
    np.testing.assert_array_equal(got, np.maximum(1, (n * 0.05).astype(int)))
    assert top_count(0.05, 0) == 0


def test_a_share_counts_as_the_decimal_it_is_written_as():
    # float 0.29 * 100 is 28.999...: int() alone would give 28
    assert int(0.29 * 100) == 28 and top_count(0.29, 100) == 29
    assert top_count(0.07, 100) == 7 and top_count(0.01, 99) == 1


@pytest.mark.parametrize("n", [1, 19, 20, 39, 40, 59, 70, 299, 300, 1001])
def test_expansion_sizes_are_the_meta_tests(n):
    assert audience_size(TOP_FRACTION, n) == top_k(n) == \
        max(1, int(n * TOP_FRACTION))
    assert audience_size(0.1, n) == top_count(0.1, n)


@pytest.mark.parametrize("n", [19, 39, 59, 70])
def test_the_five_percent_audience_is_the_p_at_5_set(n):
    """Expand a labelled campaign at --top 0.05: its audience is the top
    top_k(n) the meta-test's precision counts, and so is the reach curve's
    5 % row (round() gave one more user at 59 and 70)."""
    campaign = make_campaign(seeds=20, candidates=n, seed=n)
    (result, ), _ = expand(CONFIG, [campaign], 0.05, *small_model(CONFIG))
    assert result.audience_size == top_k(n)
    labels = result.label
    metrics = campaign_metrics(labels, result.score)
    audience = result.order[:result.audience_size]
    assert labels[audience].mean() == pytest.approx(metrics["precision"])
    reach = {r["top_fraction"]: r for r in result.summary["reach"]}
    assert reach[0.05]["size"] == top_k(n)
    assert reach[0.05]["precision"] == pytest.approx(metrics["precision"])
    assert [r["size"] for r in result.summary["reach"]] == \
        [top_count(share, n) for share in REACH]
