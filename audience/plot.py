"""The reach picture of a run (``tools/expand.py --plot``: DIR/reach.png,
and inline in DIR/report.html), drawn from the summary document, so the
picture and the report show the same figures.

Lift (how many times the base rate of positives a tier holds) against the
audience size in percent of the candidates, on a linear axis, the tiers
as its ticks and their sizes in users along the top; a line at lift 1
(random users). Per campaign: the lift measured on the candidates' labels
(solid) where they are known, and the lift the seed diagnostics expect
(dashed, with its interval where the summary gives one). A campaign with
neither is not drawn, and said. Up to :data:`ONE_PANEL` lines share one
panel, with a legend; more get one panel per campaign (small multiples).

``--plot scores`` adds a panel for the engineer: the lowest score in the
audience against its size, from the run's scores (:func:`score_curves`).

matplotlib is imported here only: ``--plot`` checks for it first
(:func:`require`).
"""
import io
import os

import numpy as np

from audience import summary_view

NEEDS = "--plot needs matplotlib: pip install matplotlib"
ONE_PANEL = 8      # lines in one panel at most; more: a panel per campaign
MOST_PANELS = 48   # campaigns drawn at most (the report lists all)
RANDOM = "random users (lift 1)"
Y_TITLE = "lift: × the base rate of positives"
X_TITLE = "audience size: top % of the candidates"
MEASURED, EXPECTED = "measured on the candidates' labels", \
    "expected from the seeds"


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


def _png(figure, dpi=100):
    buffer = io.BytesIO()
    # no timestamp in the file: the same run gives the same bytes
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _trial_png():
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1, 1))
    axis.plot([1, 2], [1, 2])
    axis.secondary_xaxis("top")
    _png(figure, dpi=10)
    plt.close(figure)


def score_curve(expansion):
    """(share of candidates in %, score of the k-th best), k over about
    200 sizes."""
    best = expansion.score[expansion.order]
    n = len(best)
    k = np.unique(np.linspace(1, n, num=min(n, 200)).round().astype(int))
    return 100.0 * k / n, best[k - 1]


def score_curves(expansions):
    """{aid: score curve} of a run's campaigns, for ``--plot scores``."""
    return {e.aid: score_curve(e) for e in expansions if len(e.score)}


def measured(campaign):
    """(percents, lifts) measured on the candidates' labels, or None."""
    rows = [t for t in campaign.tiers if t.measured_lift is not None]
    if not rows:
        return None
    return (np.array([t.percent for t in rows], np.float64),
            np.array([t.measured_lift for t in rows], np.float64))


def expected(campaign):
    """(percents, lifts, [low, high] or None) the seed diagnostics expect,
    or None. A tier whose interval holds the base rate says nothing the
    base rate does not: not drawn."""
    rows = [t for t in campaign.tiers if t.expected_lift is not None and
            t.expected_informative is not False]
    if not rows:
        return None
    bounds = None
    if all(t.expected_lift_interval for t in rows):
        bounds = np.array([t.expected_lift_interval for t in rows],
                          np.float64).T
    return (np.array([t.percent for t in rows], np.float64),
            np.array([t.expected_lift for t in rows], np.float64), bounds)


def why_not_drawn(campaign):
    if expected(campaign) is None and any(
            t.expected_informative is False for t in campaign.tiers):
        return "no tier expected to differ from random"
    if campaign.diagnosed and campaign.distinctive is None:
        return "too few seeds to judge"
    if not campaign.diagnosed:
        return "no labels, no seed diagnostics"
    return "no figure to draw"


def _users(count):
    """A user count as a tick shows it: 15, 1,234, 12k, 1.2M."""
    if count is None:
        return ""
    if count < 10000:
        return "{:,}".format(count)
    if count < 1000000:
        return "%dk" % round(count / 1000.0)
    return "%.3gM" % (count / 1e6)


def _name(campaign):
    """"campaign 49"; a ``$`` in an id is drawn, not read as math."""
    return "campaign %s" % str(campaign.aid).replace("$", r"\$")


def _draw(axis, campaign, color, label=True, shift=0.0):
    """The campaign's lines on ``axis``; whether anything was drawn."""
    drawn = False
    name = _name(campaign)
    line = measured(campaign)
    if line is not None:
        axis.plot(line[0], line[1], color=color, marker="o", linewidth=2,
                  label=name if label else None, zorder=3)
        drawn = True
    points = expected(campaign)
    if points is not None:
        where, lift, bounds = points
        errors = None if bounds is None else np.clip(
            np.vstack([lift - bounds[0], bounds[1] - lift]), 0, None)
        axis.errorbar(where + shift, lift, yerr=errors, color=color,
                      linestyle="--", marker="s", markersize=5,
                      markerfacecolor="white", capsize=3, linewidth=1.2,
                      label=(name + ", expected") if label else None,
                      zorder=2)
        drawn = True
    return drawn


def _frame(axis, tiers, top_users=None, small=False):
    """Linear x axis with the tiers as its ticks (users along the top when
    ``top_users`` gives them), the random-users line."""
    axis.axhline(1.0, color="0.35", linestyle=":", linewidth=1.5, zorder=1)
    right = max(tiers) * 1.08
    axis.set_xlim(0, right)
    axis.set_xticks(list(tiers))
    axis.set_xticklabels([("%g%%" if small else "%g %%") % t for t in tiers],
                         fontsize=8 if small else None)
    axis.grid(True, axis="y", alpha=0.3)
    if top_users is not None:
        top = axis.secondary_xaxis("top")
        top.set_xticks(list(tiers))
        top.set_xticklabels([_users(u) for u in top_users], fontsize=8,
                            color="0.3")


def _users_at(campaign, tiers):
    users = {t.percent: t.users for t in campaign.tiers}
    return [users.get(t) for t in tiers]


def _limits(axes, campaigns):
    """One y range for every panel, from 0, holding lift 1 and every
    figure and interval drawn."""
    high = 2.0
    for c in campaigns:
        for t in c.tiers:
            for value in (t.measured_lift, t.expected_lift) + tuple(
                    t.expected_lift_interval or ()):
                if value is not None:
                    high = max(high, value)
    for axis in axes:
        axis.set_ylim(0, high * 1.12)


def _one_panel(plt, shown, tiers, rows):
    figure = plt.figure(figsize=(10, 4.8 + 3.2 * rows), layout="constrained")
    grid = figure.add_gridspec(1 + rows, 1, height_ratios=[3] + [2] * rows)
    axis = figure.add_subplot(grid[0])
    counts = {c.candidates for c in shown}
    same = len(counts) == 1 and None not in counts
    _frame(axis, tiers, _users_at(shown[0], tiers) if same else None)
    span = max(tiers) * 0.008   # expected markers side by side, not stacked
    offsets = (np.arange(len(shown)) - (len(shown) - 1) / 2.0) * span
    not_drawn = []
    for i, (c, shift) in enumerate(zip(shown, offsets)):
        if not _draw(axis, c, "C%d" % (i % 10), shift=shift):
            not_drawn.append("%s (%s)" % (_name(c), why_not_drawn(c)))
    axis.set_xlabel(X_TITLE)
    axis.set_ylabel(Y_TITLE)
    if same:
        axis.set_title("users in the audience (of %s candidates)" %
                       "{:,}".format(counts.pop()), fontsize=9, color="0.3")
    _limits([axis], shown)
    _random_label(axis)
    handles, labels = axis.get_legend_handles_labels()
    if handles:
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    title="solid: measured\n(candidates' labels)\ndashed: "
                    "expected\n(from the seeds)", title_fontsize=8,
                    alignment="left")
    if not_drawn:
        # one campaign a line, below the x title: a single line naming
        # many campaigns is wider than the panel, and the layout then
        # shrinks the panel to a sliver to make room for it
        axis.annotate("not drawn:\n" + "\n".join(not_drawn),
                      xy=(0.0, 0.0), xycoords="axes fraction",
                      xytext=(0, -42), textcoords="offset points",
                      fontsize=8, color="0.3", ha="left", va="top")
    return figure, grid, 1


def _small_multiples(plt, shown, tiers, rows):
    columns = min(4, len(shown))
    lines = -(-len(shown) // columns)
    figure = plt.figure(figsize=(3.3 * columns, 2.6 * lines + 1.2 +
                                 3.2 * rows), layout="constrained")
    grid = figure.add_gridspec(lines + rows, columns, height_ratios=[1] *
                               lines + [1.1] * rows)
    axes = []
    for i, c in enumerate(shown):
        axis = figure.add_subplot(grid[i // columns, i % columns],
                                  sharey=axes[0] if axes else None)
        axes.append(axis)
        _frame(axis, tiers, _users_at(c, tiers), small=True)
        if not _draw(axis, c, "C0", label=False):
            axis.text(0.5, 0.5, why_not_drawn(c), ha="center", va="center",
                      transform=axis.transAxes, fontsize=9, color="0.3")
        elif expected(c) is None and c.diagnosed:
            axis.text(0.02, 0.04, "no expected line: %s" % why_not_drawn(c),
                      transform=axis.transAxes, fontsize=7, color="0.3")
        axis.set_title("%s · %s candidates" % (
            _name(c), "?" if c.candidates is None else "{:,}".format(
                c.candidates)), fontsize=9)
        if i % columns:
            plt.setp(axis.get_yticklabels(), visible=False)
        else:
            axis.set_ylabel("lift (× base rate)", fontsize=9)
    figure.supxlabel(X_TITLE, fontsize=10)
    _limits(axes, shown)
    for axis in axes:
        _random_label(axis, fontsize=7)
    return figure, grid, lines


def _random_label(axis, fontsize=8):
    axis.text(0.99, 1.0, "random", transform=axis.get_yaxis_transform(),
              ha="right", va="bottom", fontsize=fontsize, color="0.35")


def _scores_panel(figure, grid, row, shown, scores):
    axis = figure.add_subplot(grid[row:, :])
    for i, c in enumerate(shown):
        curve = scores.get(c.aid)
        if curve is not None:
            axis.plot(*curve, color="C%d" % (i % 10), linewidth=1,
                      label=_name(c))
    axis.set_xlim(0, 100)
    axis.set_xlabel("audience size, % of the candidates")
    axis.set_ylabel("lowest score in the audience")
    axis.grid(True, alpha=0.3)
    if len(shown) <= ONE_PANEL:
        axis.legend(fontsize=8)


def layout(campaigns):
    """"one panel" when the campaigns' lines (measured, expected) are
    :data:`ONE_PANEL` at most, else "small multiples"."""
    lines = sum((measured(c) is not None) + (expected(c) is not None)
                for c in campaigns)
    return "one panel" if len(campaigns) <= ONE_PANEL and \
        lines <= ONE_PANEL else "small multiples"


def reach_png(summary, scores=None, title=None):
    """The PNG's bytes, from the summary document ``summary``;
    ``scores``: :func:`score_curves`, for the scores panel (None: none)."""
    plt = _pyplot()
    run = summary_view.read(summary)
    shown = run.campaigns[:MOST_PANELS]
    tiers = run.tiers
    rows = 1 if scores else 0
    lines = sum((measured(c) is not None) + (expected(c) is not None)
                for c in shown)
    if layout(shown) == "one panel":
        figure, grid, used = _one_panel(plt, shown, tiers, rows)
    else:
        figure, grid, used = _small_multiples(plt, shown, tiers, rows)
    if scores:
        _scores_panel(figure, grid, used, shown, scores)
    heading = title or "reach: %d campaign%s" % (
        len(run.campaigns), "" if len(run.campaigns) == 1 else "s")
    if len(run.campaigns) > len(shown):
        heading += " (the first %d drawn; the report lists all)" % len(shown)
    if used > 1 or len(shown) > 1 and lines > ONE_PANEL:
        heading += ("\nlift by audience size (top %% of the candidates; "
                    "users along each panel's top)\nsolid: %s; dashed: %s"
                    % (MEASURED, EXPECTED))
    figure.suptitle(heading, fontsize=11)
    data = _png(figure)
    plt.close(figure)
    return data
