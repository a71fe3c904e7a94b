"""Nested audience sizes (``tools/expand.py --tiers 1,2,5,10``), as ad
platforms offer them: each tier is a percentage of the campaign's
candidates (those left once its seeds and excluded users are removed) and
holds every smaller tier, since all are cut from the one ranking.

A tier's size is :func:`audience.expansion.audience_size` of its fraction,
the one top-k rule of the project, so the 5 % tier is the ``--top 0.05``
audience. The written audience is the largest tier; each user's ``tier``
is the smallest tier holding them.
"""
from decimal import Decimal

import numpy as np

from audience.ranking import audience_size

RULE = ("--tiers takes percentages of the candidates, comma-separated, each "
        "above 0 and below 100 (e.g. 1,2,5,10 or 1%%,2%%,5%%,10%%), got %r")


FRACTIONS = ("--tiers %s: every tier is below 1 %%, as if given as fractions "
             "of the candidates; tiers are percentages: write 5,10 (or "
             "5%%,10%%) for 5 %% and 10 %%, or mark tiers below 1 %% with "
             "%% (0.5%%)")


def parse_tiers(text):
    """``"1,2,5,10"`` or ``"1%,2%,5%,10%"`` -> (1, 2, 5, 10), sorted,
    without repeats. Tiers that are all below 1 and not marked ``%``
    (``0.05,0.1``) are refused: they read as the fractions --top takes,
    and would deliver a few users."""
    items = [p.strip() for p in text.split(",")]
    marked = [p.endswith("%") for p in items]
    try:
        percents = [float(p[:-1] if m else p) for p, m in zip(items, marked)]
    except ValueError:
        raise ValueError(RULE % (text, ))
    if not percents or any(not 0 < p < 100 for p in percents):
        raise ValueError(RULE % (text, ))
    if not any(marked) and all(p < 1 for p in percents):
        raise ValueError(FRACTIONS % (text, ))
    # 1 rather than 1.0 in the summary and the tier column
    return tuple(int(p) if p.is_integer() else p for p in sorted(set(percents)))


def label(percent):
    """How a tier is named in files and keys: 1, 2.5."""
    return "%g" % percent


def fraction(percent):
    """A tier's percentage as the fraction of the candidates it takes, the
    decimal it is written as (2.5 -> 0.025)."""
    return float(Decimal(repr(percent)) / 100)


def top_of(percents):
    """The ``top`` that delivers the largest tier."""
    return fraction(max(percents))


def sizes(percents, candidates):
    return [audience_size(fraction(p), candidates) for p in percents]


def tier_of_rank(percents, candidates):
    """The smallest tier holding each rank 1..largest (percent per rank)."""
    bounds = sizes(percents, candidates)
    ranks = np.arange(1, bounds[-1] + 1) if bounds else np.zeros(0, int)
    # sizes never shrink with the percentage, so the first bound at or
    # above a rank is its smallest tier
    return np.asarray(percents)[np.searchsorted(bounds, ranks, side="left")]


def summarize(expansion, percents):
    """Per tier: its name (:func:`label`), the fraction of the candidates
    it takes, its size, the realised precision of its users
    where the candidates' labels are known (else None) and the precision
    the seed diagnostics expect (``summary["diagnostics"]["precision_at"]``
    keyed by :func:`label`, when a run made them; else None)."""
    n = len(expansion.score)
    expected = (expansion.summary.get("diagnostics") or {}).get(
        "precision_at") or {}
    rows = []
    for percent, size in zip(percents, sizes(percents, n)):
        precision = None
        if expansion.label is not None and size:
            precision = float(np.mean(
                expansion.label[expansion.order[:size]], dtype=np.float64))
        value = expected.get(label(percent))
        rows.append({"tier": label(percent),
                     "top_fraction": fraction(percent), "size": int(size),
                     "precision": precision,
                     "expected_precision": None if value is None
                     else float(value)})
    return rows
