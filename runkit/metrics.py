"""Look-alike metrics: AUC, GAUC, precision and recall at the top 5%.

As the paper's code computes them: per campaign, scikit-learn's exact AUC
and the precision/recall of the top ``int(n * 5%)`` scored candidates
(:func:`top_count`, which tools/expand.py's sizes share); GAUC
is the unweighted mean of the per-campaign AUCs. A campaign whose candidates
hold one class has no AUC (nor recall, nor a meaningful precision); it is
reported as such and left out of every mean rather than counted as 0.5.
"""
from fractions import Fraction

import numpy as np
from sklearn.metrics import roc_auc_score

TOP_FRACTION = 0.05


def top_count(share, n):
    """How many of ``n`` ranked candidates the top ``share`` (0 < share < 1)
    holds: the one definition of the meta-test's P@5 %, the expansion's
    ``--top`` fraction and its reach curve. Rounded down, as the paper's
    code (``int(n * 0.05)``), and at least one so that small campaigns
    still count (none of no candidate). The share is taken as the decimal
    it prints as: in floats 0.29 * 100 is 28.999..., which int() would
    make 28."""
    if n <= 0:
        return 0
    return max(1, int(Fraction(repr(float(share))) * int(n)))


def top_k(n):
    return top_count(TOP_FRACTION, n)


def campaign_metrics(labels, scores):
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    n, positives = len(labels), int(labels.sum())
    row = {"candidates": n, "positives": positives}
    if positives in (0, n):
        row.update(auc=None, precision=None, recall=None,
                   note="single class: all %d candidates are %s" %
                   (n, "positive" if positives else "negative"))
        return row
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinity")
    k = top_k(n)
    # stable sort: ties keep candidate order, so the result is reproducible
    top = np.argsort(-scores, kind="stable")[:k]
    hits = int(labels[top].sum())
    row.update(auc=float(roc_auc_score(labels, scores)), precision=hits / k,
               recall=hits / positives)
    return row


def _mean(values):
    return float(np.mean(values)) if values else None


def summarize(rows, all_labels, all_scores):
    """Summary of one test set from its per-campaign rows."""
    valid = [r for r in rows if r["auc"] is not None]
    labels = np.concatenate(all_labels) if all_labels else np.zeros(0)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    pooled = None
    if len(labels) and 0 < labels.sum() < len(labels):
        pooled = float(roc_auc_score(labels, scores))
    weights = [r["candidates"] for r in valid]
    return {
        "campaigns": len(rows),
        "evaluated_campaigns": len(valid),
        "single_class_campaigns": [r["aid"] for r in rows if r["auc"] is None],
        "candidates": int(len(labels)),
        "auc": pooled,
        "gauc": _mean([r["auc"] for r in valid]),
        "weighted_gauc": (float(np.average([r["auc"] for r in valid],
                                           weights=weights)) if valid else None),
        "precision_at_5pct": _mean([r["precision"] for r in valid]),
        "recall_at_5pct": _mean([r["recall"] for r in valid]),
    }


def fmt(value, digits=4):
    return "n/a" if value is None else "%.*f" % (digits, value)
