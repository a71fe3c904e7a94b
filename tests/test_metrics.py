"""runkit.metrics against values computed by hand."""
import numpy as np
import pytest

from runkit.metrics import campaign_metrics, fmt, summarize, top_k


def pairwise_auc(labels, scores):
    """AUC by its definition: P(positive scores above negative), ties 1/2."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + \
        0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_top_k():
    assert [top_k(n) for n in (1, 19, 20, 39, 40, 100, 1000)] == \
        [1, 1, 1, 1, 2, 5, 50]


def test_small_campaign_by_hand():
    # pairs (pos, neg): (.9,.8) (.9,.1) (.3,.8) (.3,.1) -> 3 of 4 ordered
    row = campaign_metrics([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1])
    assert row["auc"] == pytest.approx(0.75)
    assert row["candidates"] == 4 and row["positives"] == 2
    # k = max(1, int(4 * 0.05)) = 1: the top candidate is a positive
    assert row["precision"] == 1.0
    assert row["recall"] == 0.5


def test_forty_candidates_by_hand():
    # 40 candidates, k = int(40 * 0.05) = 2; positives at ranks 1 and 3
    scores = np.linspace(1.0, 0.0, 40)
    labels = np.zeros(40, int)
    labels[[0, 2, 30, 39]] = 1
    row = campaign_metrics(labels, scores)
    assert row["precision"] == 0.5          # ranks 1, 2: one positive
    assert row["recall"] == 0.25            # 1 of 4 positives
    # negatives ranked below each positive: 36, 35, 8, 0 of 36
    assert row["auc"] == pytest.approx(79 / 144)
    assert row["auc"] == pytest.approx(pairwise_auc(labels, scores))


def test_random_campaign_matches_definition():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300), 2)           # with ties
    row = campaign_metrics(labels, scores)
    assert row["auc"] == pytest.approx(pairwise_auc(labels, scores), abs=1e-12)
    k = 15
    top = np.argsort(-scores, kind="stable")[:k]
    assert row["precision"] == labels[top].sum() / k
    assert row["recall"] == labels[top].sum() / labels.sum()


def test_ties_in_the_top_keep_candidate_order():
    row = campaign_metrics([0, 1, 1, 0] * 5, [0.5] * 20)
    assert row["auc"] == 0.5
    assert row["precision"] == 0.0          # first candidate, a negative


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_campaign_has_no_auc(label):
    row = campaign_metrics([label] * 7, np.linspace(0, 1, 7))
    assert row["auc"] is None and row["precision"] is None
    assert row["recall"] is None
    assert "single class" in row["note"]
    assert ("positive" if label else "negative") in row["note"]


def test_nan_scores_are_an_error():
    with pytest.raises(ValueError, match="NaN"):
        campaign_metrics([0, 1, 0], [0.1, np.nan, 0.3])


def test_summarize():
    a_labels, a_scores = [1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]      # auc .75
    b_labels = [0, 1, 0, 0, 1, 0, 0, 0]
    b_scores = [0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.05]          # auc .75
    b_labels2 = [1, 0, 0, 0, 0, 0, 0, 1]
    c_labels, c_scores = [1, 1, 1], [0.2, 0.4, 0.6]               # one class
    rows, labels, scores = [], [], []
    for aid, y, s in ((1, a_labels, a_scores), (2, b_labels2, b_scores),
                      (3, c_labels, c_scores), (4, b_labels, b_scores)):
        row = {"aid": aid}
        row.update(campaign_metrics(y, s))
        rows.append(row)
        labels.append(np.asarray(y))
        scores.append(np.asarray(s))
    aucs = [pairwise_auc(y, s) for y, s in ((a_labels, a_scores),
                                            (b_labels2, b_scores),
                                            (b_labels, b_scores))]
    summary = summarize(rows, labels, scores)
    assert summary["campaigns"] == 4
    assert summary["evaluated_campaigns"] == 3
    assert summary["single_class_campaigns"] == [3]
    assert summary["candidates"] == 4 + 8 + 3 + 8
    assert summary["gauc"] == pytest.approx(np.mean(aucs))
    assert summary["weighted_gauc"] == pytest.approx(
        (4 * aucs[0] + 8 * aucs[1] + 8 * aucs[2]) / 20)
    assert summary["weighted_gauc"] != pytest.approx(summary["gauc"])
    # pooled AUC: every candidate, the single-class campaign's included
    assert summary["auc"] == pytest.approx(
        pairwise_auc(np.concatenate(labels), np.concatenate(scores)))
    precisions = [r["precision"] for r in rows if r["auc"] is not None]
    assert summary["precision_at_5pct"] == pytest.approx(np.mean(precisions))
    recalls = [r["recall"] for r in rows if r["auc"] is not None]
    assert summary["recall_at_5pct"] == pytest.approx(np.mean(recalls))


def test_summarize_all_single_class():
    rows = [dict(aid=a, **campaign_metrics([1, 1], [0.3, 0.4])) for a in (5, 6)]
    summary = summarize(rows, [np.ones(2), np.ones(2)],
                        [np.array([0.3, 0.4])] * 2)
    assert summary["gauc"] is None and summary["weighted_gauc"] is None
    assert summary["auc"] is None
    assert summary["precision_at_5pct"] is None
    assert summary["single_class_campaigns"] == [5, 6]
    assert summary["evaluated_campaigns"] == 0
    assert fmt(summary["gauc"]) == "n/a"
    assert fmt(0.123456) == "0.1235"
