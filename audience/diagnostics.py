"""Seed diagnostics: before an audience is paid for, how well the model
tells a campaign's seeds apart, by repeated stratified k-fold
cross-validation on the campaign's own training set (its seeds and their
labels, or, for seeds without negatives, the seeds against the drawn
negatives).

Each fold in turn is held out; the model is fine-tuned on the others and
scores it exactly as an expansion scores candidates
(``campaign_model.campaign_scores``: ``DygraphModel.fine_tune`` and the seed
blend, with the valued seeds' loss weights). The folds are stratified as
meta-validation's (``dataio.holdout``); ``expand.diagnose_repeats`` deals
them again that many times (each repeat its own stream), which narrows the
expected AUC's sampling error at the cost of as many fine-tunings.
Reported per campaign (``diagnostics`` in summary.json):

- ``auc``: the mean of the folds' AUCs over the repeats (``fold_aucs``,
  repeat by repeat), the expected AUC of the audience. With valued seeds
  (a ``value`` column) each held-out positive counts by its value, as it
  does in the fit (``sample_weight``: the training set's loss weights), so
  the AUC is that of ranking the valuable converters first.
  ``auc_interval``: mean +- t(0.975, rk-1) * sd * sqrt(1/(rk) + 1/(k-1))
  over the r repeats of k folds, the corrected repeated-k-fold t of
  Nadeau and Bengio (2003) and Bouckaert and Frank (2004). The folds share
  training rows, so the plain t interval (sd / sqrt(k)) is too narrow: on
  seeds whose labels are independent of their features (200 draws each of
  60 and 150 seeds, the seeds' logistic regression on 5 folds;
  tools/measure_diagnostics.py --null) it left 0.5 out 11.5 % and 13 % of
  the time, the corrected one 5 % and 7.5 %.
- ``distinctive``, one of three outcomes against ``level``
  (``expand.diagnose_level``, the least AUC worth paying for):
  ``true`` when the interval lies above it (``lo > level``: distinctive),
  ``false`` when it lies below it (``hi < level``: not distinctive, the one
  outcome with a ``warning``), ``null`` when it straddles it, or when the
  campaign holds fewer positives or negatives than folds (too few seeds
  to judge: a ``note``, logged at INFO). ``verdict`` says which in words.
- ``precision_at``: per tier (percent of the candidates), the share of
  positives (value-weighted with valued seeds) in the top tier of each
  held-out fold, pooled over the folds and repeats; ``precision_interval``
  its 95 % Wilson interval over the rows one repeat takes (Kish's effective
  count with values). It is at the CV's base rate (``base_rate``: the
  training set's positive share), which is the candidates' only when the
  seeds are a fair sample of them; ``lift_at`` (precision / base rate, and
  ``lift_interval``) carries over better. ``informative``: per tier,
  whether the interval leaves the base rate out; a tier whose interval
  holds it says nothing the base rate does not (not to be drawn).

With drawn negatives (``negatives: "drawn"``) the CV asks whether the
seeds stand out from random candidates, not whether they rank converters
above non-converters among them: a drawn negative may be a look-alike.

Each fold has its own random stream (``runner.seed``, the aid, the fold,
the repeat), so the expansion's own stream and scores do not depend on
whether the diagnostics ran, and a collective run can split the folds
across ranks.
"""
import numpy as np

from adaptation import campaign_model
from audience.ranking import audience_size
from dataio.campaign import from_arrays
from dataio.holdout import stratified_folds

DEFAULT_TIERS = (1, 2, 5, 10)
CONFIDENCE = 0.95
_STREAM = 0xd1a6   # keeps these streams apart from the campaign's own

DISTINCTIVE = "distinctive"
NOT_DISTINCTIVE = "not distinctive"
TOO_FEW = "too few seeds to judge"


def enabled(config):
    return bool(config.get("expand.diagnose"))


def fold_rng(config, aid, fold, repeat=0):
    """Fold ``fold``'s stream in repeat ``repeat``; ``fold`` -1 deals the
    rows into folds. The first repeat's streams are those of a single
    k-fold, so one repeat gives the numbers it always gave."""
    from dygraph_model import aid_entropy
    entropy = [config.get("runner.seed"), aid_entropy(aid), _STREAM, fold + 1]
    return np.random.default_rng(entropy + ([repeat] if repeat else []))


def t_interval(values, confidence=CONFIDENCE, folds=None):
    """(mean, [lo, hi]) of the fold values of r repeats of ``folds``-fold
    cross-validation (``folds`` None: one repeat, ``len(values)`` folds):
    the corrected repeated k-fold t interval (see above), clipped to
    [0, 1]."""
    from scipy.stats import t
    values = np.asarray(values, np.float64)
    n = len(values)
    k = n if folds is None else int(folds)
    mean = float(values.mean())
    half = float(t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) *
                 np.sqrt(1.0 / n + 1.0 / (k - 1)))
    return mean, [max(0.0, mean - half), min(1.0, mean + half)]


def wilson(p, n, confidence=CONFIDENCE):
    """Wilson's score interval of a share ``p`` of ``n`` rows."""
    from scipy.stats import norm
    if n <= 0:
        return [0.0, 1.0]
    z = float(norm.ppf(0.5 + confidence / 2))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [max(0.0, float(centre - half)), min(1.0, float(centre + half))]


def precision_at(labels, scores, tiers, weights=None):
    """Per tier (a percent), the positive share of the top tier of each
    fold (``labels``, ``scores``, ``weights``: one array per fold),
    pooled; with ``weights`` each row counts by its weight (a valued
    positive by its value). The tier size is the expansion's
    (``expansion.audience_size``)."""
    return {key: hits / taken for key, (hits, taken, _)
            in _tier_counts(labels, scores, tiers, weights).items()}


def _tier_counts(labels, scores, tiers, weights=None):
    """Per tier: (weighted positives, weighted rows, effective rows) of the
    folds' top tiers, pooled."""
    out = {}
    for tier in tiers:
        hits = taken = square = 0.0
        for i, (y, s) in enumerate(zip(labels, scores)):
            k = audience_size(tier / 100.0, len(s))
            top = np.argsort(-np.asarray(s), kind="stable")[:k]
            w = np.ones(k) if weights is None else \
                np.asarray(weights[i], np.float64)[top]
            hits += float((np.asarray(y)[top] * w).sum())
            taken += float(w.sum())
            square += float((w * w).sum())
        # Kish's effective count: the rows' worth when weights differ
        out[_tier_key(tier)] = (hits, taken, taken * taken / square)
    return out


def _tier_key(tier):
    return ("%g" % tier)


def verdict(interval, level):
    """``distinctive`` of an expected AUC interval (None: no interval):
    True above ``level``, False below it, None straddling it."""
    if interval is None:
        return None
    lo, hi = interval
    if lo > level:
        return True
    if hi < level:
        return False
    return None


def _fold_auc(y, s, w):
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, np.asarray(s, np.float64), sample_weight=w))


def diagnose(model_class, model, init_state, aid, x, y, config,
             drawn=False, tiers=DEFAULT_TIERS, group=None, weight=None):
    """The ``diagnostics`` record of one campaign whose training set is
    ``x`` (the four input arrays) and labels ``y``; ``drawn``: its
    negatives were drawn (see the module's note); ``weight``: each row's
    loss weight (valued seeds), which each fold's fit takes as the
    audience's fit does and its held-out AUC and precision count by.
    In a collective run (``group``) the folds are split across the ranks
    and gathered, so every rank returns the same record."""
    import time
    from runkit.distributed import ALONE
    group = group or ALONE
    start = time.time()
    k = int(config.get("expand.diagnose_folds"))
    repeats = int(config.get("expand.diagnose_repeats"))
    level = float(config.get("expand.diagnose_level"))
    y = np.asarray(y, np.float32)
    positives = int(y.sum())
    negatives = int(len(y) - positives)
    source = "seeds against drawn negatives" if drawn else "labelled seeds"
    record = {"folds": k, "repeats": repeats, "level": level,
              "positives": positives, "negatives": negatives,
              "negatives_from": "drawn" if drawn else "seeds",
              "valued": weight is not None}
    if min(positives, negatives) < k:
        record.update(auc=None, auc_interval=None, precision_at=None,
                      distinctive=None, verdict=TOO_FEW, note=(
                          "too few seeds to judge: %d positive and %d "
                          "negative, fewer than expand.diagnose_folds %d of "
                          "each; more seeds would tell%s" % (
                              positives, negatives, k,
                              "" if drawn else " (or lower "
                              "expand.diagnose_folds)")))
        return record
    folds = [stratified_folds(fold_rng(config, aid, -1, r), y, k)
             for r in range(repeats)]
    mine = []
    for j in group.share(k * repeats):
        r, i = divmod(j, k)
        rest = np.setdiff1d(np.arange(len(y)), folds[r][i])
        scores, _ = campaign_model.campaign_scores(
            model_class, model, init_state,
            from_arrays(aid, x, y, rest, folds[r][i]), config,
            fold_rng(config, aid, i, r),
            None if weight is None else weight[rest])
        mine.append((j, scores))
    scores = [s for _, s in sorted(sum(group.gather(mine), []),
                                   key=lambda item: item[0])]
    held = [f for repeat in folds for f in repeat]
    labels = [y[f] for f in held]
    weights = None if weight is None else \
        [np.asarray(weight, np.float64)[f] for f in held]
    aucs = [_fold_auc(l, s, None if weights is None else w)
            for l, s, w in zip(labels, scores, weights or [None] * len(held))]
    auc, interval = t_interval(aucs, folds=k)
    w_all = np.ones(len(y)) if weight is None else \
        np.asarray(weight, np.float64)
    base = float((w_all * y).sum() / w_all.sum())
    counts = _tier_counts(labels, scores, tiers, weights)
    precision = {t: hits / taken for t, (hits, taken, _) in counts.items()}
    # the Wilson interval over the rows one repeat takes: a repeat takes
    # every row once, so the repeats' rows are the same rows again
    p_interval = {t: wilson(precision[t], effective / repeats)
                  for t, (_, _, effective) in counts.items()}
    distinctive = verdict(interval, level)
    record.update(
        auc=auc, auc_interval=interval, fold_aucs=aucs,
        precision_at=precision, precision_interval=p_interval,
        base_rate=base,
        lift_at={t: p / base for t, p in precision.items()},
        lift_interval={t: [lo / base, hi / base]
                       for t, (lo, hi) in p_interval.items()},
        informative={t: not lo <= base <= hi
                     for t, (lo, hi) in p_interval.items()},
        distinctive=distinctive,
        verdict={True: DISTINCTIVE, False: NOT_DISTINCTIVE}.get(
            distinctive, TOO_FEW),
        seconds=round(time.time() - start, 3))
    # r x k-fold, on what
    how = "%d-fold cross-validation%s on its %s%s" % (
        k, "" if repeats == 1 else " x %d" % repeats, source,
        ", value-weighted" if weight is not None else "")
    if distinctive is False:
        record["warning"] = (
            "seeds not distinctive: expected AUC %.2f, its %d%% interval "
            "[%.2f, %.2f] lies below %.2f (%s); the audience will likely "
            "rank little better than chance: check that the seeds are the "
            "campaign's converters, or add seeds, before paying for it" % (
                auc, round(100 * CONFIDENCE), interval[0], interval[1],
                level, how))
    elif distinctive is None:
        record["note"] = (
            "too few seeds to judge: expected AUC %.2f, its %d%% interval "
            "[%.2f, %.2f] straddles %.2f (%s); more seeds would narrow it" % (
                auc, round(100 * CONFIDENCE), interval[0], interval[1],
                level, how))
    else:
        record["note"] = (
            "distinctive: expected AUC %.2f, its %d%% interval [%.2f, %.2f] "
            "lies above %.2f (%s)" % (
                auc, round(100 * CONFIDENCE), interval[0], interval[1],
                level, how))
    return record
