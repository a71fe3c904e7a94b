"""The picture of a run (``tools/expand.py --plot``): DIR/reach.png.

Top: per campaign, precision against audience size: realised (solid) where
the candidates' labels are known, expected (dashed, points at the tiers)
from the seed diagnostics where the summary holds them
(``diagnostics.precision_at``). Bottom: the score of the last user taken
against audience size, which every run has, so an unlabelled run without
diagnostics still shows where the scores fall off. The tiers are marked on
both. matplotlib is imported here only: ``--plot`` checks for it first
(:func:`require`).
"""
import io
import os

import numpy as np

NEEDS = "--plot needs matplotlib: pip install matplotlib"
LEGEND_MAX = 12   # more campaigns than this: lines without a legend


def require():
    """Stop before any work, in one line, when the plot cannot be drawn:
    matplotlib missing, or a part of it the plot uses (``pyplot``, the
    Agg backend, the PNG writer) failing, which would otherwise surface
    only after every campaign was computed. A tiny figure is drawn to a
    PNG in memory, as :func:`reach_png` draws."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError(NEEDS)
    try:
        _trial_png()
    except Exception as exc:  # noqa: BLE001 - whatever stops the drawing
        raise ValueError(
            "--plot cannot draw reach.png with the matplotlib of this "
            "Python (%s %s): %s: %s; reinstall it (pip install --force-"
            "reinstall matplotlib) or leave out --plot" % (
                matplotlib.__version__, os.path.dirname(matplotlib.__file__),
                type(exc).__name__, exc))


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")   # no display: a file is all we want
    import matplotlib.pyplot as plt
    return plt


def _trial_png():
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1, 1))
    axis.plot([1, 2], [1, 2])
    axis.set_xscale("log")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=10, metadata={"Software": None})
    plt.close(figure)


def _grid(n):
    """Audience sizes 1..n, about 200 of them, log-spaced."""
    return np.unique(np.geomspace(1, n, num=min(n, 200)).round().astype(int))


def realised(expansion):
    """(share of candidates in %, precision) of the top k, or None."""
    if expansion.label is None or not len(expansion.score):
        return None
    hits = np.cumsum(expansion.label[expansion.order].astype(np.float64))
    k = _grid(len(hits))
    return 100.0 * k / len(hits), hits[k - 1] / k


def expected(expansion):
    """(percent, expected precision) from the diagnostics, or None."""
    points = (expansion.summary.get("diagnostics") or {}).get("precision_at")
    points = sorted((float(p), v) for p, v in (points or {}).items()
                    if v is not None)
    if not points:
        return None
    return np.array([p for p, _ in points]), np.array([v for _, v in points])


def score_curve(expansion):
    """(share of candidates in %, score of the k-th best)."""
    best = expansion.score[expansion.order]
    k = _grid(len(best))
    return 100.0 * k / len(best), best[k - 1]


def reach_png(expansions, tiers=None, title=None):
    """The PNG's bytes."""
    plt = _pyplot()
    shown = [e for e in expansions if len(e.score)]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8), sharex=True)
    any_precision = False
    for i, e in enumerate(shown):
        color = "C%d" % (i % 10)
        name = "campaign %d" % e.aid
        curve = realised(e)
        if curve is not None:
            top.plot(*curve, color=color, label=name)
            any_precision = True
        points = expected(e)
        if points is not None:
            top.plot(*points, color=color, linestyle="--", marker="o",
                     label=None if curve is not None else name + " (expected)")
            any_precision = True
        bottom.plot(*score_curve(e), color=color, label=name)
    if not any_precision:
        top.text(0.5, 0.5, "no labels and no seed diagnostics:\nno precision "
                 "to show", ha="center", va="center", transform=top.transAxes)
    for axis in (top, bottom):
        for percent in tiers or ():
            axis.axvline(percent, color="grey", linestyle=":", linewidth=1)
        axis.set_xscale("log")
        axis.grid(True, which="major", alpha=0.3)
    if tiers:
        for percent in tiers:
            top.annotate("%g %%" % percent, (percent, 1.0),
                         xycoords=("data", "axes fraction"), ha="center",
                         va="bottom", fontsize=8, color="grey")
    top.set_ylabel("precision (solid: realised, dashed: expected)")
    bottom.set_ylabel("score of the last user taken")
    bottom.set_xlabel("audience size, % of the candidates")
    if len(shown) <= LEGEND_MAX:
        (top if any_precision else bottom).legend(fontsize=8)
    figure.suptitle(title or "reach: %d campaign(s)" % len(shown))
    figure.tight_layout()
    buffer = io.BytesIO()
    # no timestamp in the file: the same run gives the same bytes
    figure.savefig(buffer, format="png", dpi=100,
                   metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()
