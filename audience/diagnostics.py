"""Seed diagnostics: before an audience is paid for, how well the model
tells a campaign's seeds apart, by k-fold cross-validation on the
campaign's own training set (its seeds and their labels, or, for seeds
without negatives, the seeds against the drawn negatives).

Each fold in turn is held out; the model is fine-tuned on the others and
scores it exactly as an expansion scores candidates
(``campaign_model.campaign_scores``: ``DygraphModel.fine_tune`` and the seed
blend). The folds are stratified as meta-validation's
(``dataio.holdout``). Reported per campaign (``diagnostics`` in
summary.json):

- ``auc``: the mean of the folds' AUCs, the expected AUC of the audience;
  ``auc_interval``: mean +- t(0.975, k-1) * sd * sqrt(1/k + 1/(k-1)), the
  corrected resampled t of Nadeau and Bengio (2003). The folds share
  training rows, so the plain t interval (sd / sqrt(k)) is too narrow: on
  seeds whose labels are independent of their features (200 draws each of
  60 and 150 seeds, the seeds' logistic regression on 5 folds;
  tools/measure_diagnostics.py --null) it left 0.5 out 11.5 % and 13 % of
  the time, the corrected one 5 % and 7.5 %.
- ``precision_at``: per tier (percent of the candidates), the share of
  positives in the top tier of each held-out fold, pooled over the folds.
  It is at the CV's base rate (``base_rate``: the training set's positive
  share), which is the candidates' only when the seeds are a fair sample
  of them; ``lift_at`` (precision / base rate) carries over better.
- ``distinctive``: the interval lies above 0.5; otherwise a ``warning``.
  Fewer than k positives or k negatives: too small to say (no numbers,
  a warning).

With drawn negatives (``negatives: "drawn"``) the CV asks whether the
seeds stand out from random candidates, not whether they rank converters
above non-converters among them: a drawn negative may be a look-alike.

Each fold has its own random stream (``runner.seed``, the aid, the fold),
so the expansion's own stream and scores do not depend on whether the
diagnostics ran, and a collective run can split the folds across ranks.
"""
import numpy as np

from adaptation import campaign_model
from audience.ranking import audience_size
from runkit.metrics import campaign_metrics
from dataio.campaign import from_arrays
from dataio.holdout import stratified_folds

DEFAULT_TIERS = (1, 2, 5, 10)
CONFIDENCE = 0.95
_STREAM = 0xd1a6   # keeps these streams apart from the campaign's own


def enabled(config):
    return bool(config.get("expand.diagnose"))


def fold_rng(config, aid, fold):
    """Fold ``fold``'s stream; ``fold`` -1 deals the rows into folds."""
    from dygraph_model import aid_entropy
    return np.random.default_rng([config.get("runner.seed"), aid_entropy(aid),
                                  _STREAM, fold + 1])


def t_interval(values, confidence=CONFIDENCE):
    """(mean, [lo, hi]) of k folds' values: the corrected resampled t
    interval (see above), clipped to [0, 1]."""
    from scipy.stats import t
    values = np.asarray(values, np.float64)
    k = len(values)
    mean = float(values.mean())
    half = float(t.ppf(0.5 + confidence / 2, k - 1) * values.std(ddof=1) *
                 np.sqrt(1.0 / k + 1.0 / (k - 1)))
    return mean, [max(0.0, mean - half), min(1.0, mean + half)]


def precision_at(labels, scores, tiers):
    """Per tier (a percent), the positive share of the top tier of each
    fold (``labels``, ``scores``: one array per fold), pooled; the tier
    size is the expansion's (``expansion.audience_size``)."""
    out = {}
    for tier in tiers:
        hits = taken = 0
        for y, s in zip(labels, scores):
            k = audience_size(tier / 100.0, len(s))
            top = np.argsort(-np.asarray(s), kind="stable")[:k]
            hits += int(np.asarray(y)[top].sum())
            taken += k
        out[_tier_key(tier)] = hits / taken
    return out


def _tier_key(tier):
    return ("%g" % tier)


def diagnose(model_class, model, init_state, aid, x, y, config,
             drawn=False, tiers=DEFAULT_TIERS, group=None, weight=None):
    """The ``diagnostics`` record of one campaign whose training set is
    ``x`` (the four input arrays) and labels ``y``; ``drawn``: its
    negatives were drawn (see the module's note); ``weight``: each row's
    loss weight (valued seeds), which each fold's fit takes as the
    audience's fit does. In a collective run
    (``group``) the folds are split across the ranks and gathered, so every
    rank returns the same record."""
    import time
    from runkit.distributed import ALONE
    group = group or ALONE
    start = time.time()
    k = int(config.get("expand.diagnose_folds"))
    y = np.asarray(y, np.float32)
    positives = int(y.sum())
    negatives = int(len(y) - positives)
    record = {"folds": k, "positives": positives, "negatives": negatives,
              "negatives_from": "drawn" if drawn else "seeds"}
    if min(positives, negatives) < k:
        record.update(auc=None, auc_interval=None, precision_at=None,
                      distinctive=None, warning=(
                          "too few seeds to say whether they are "
                          "distinctive: %d positive and %d negative, fewer "
                          "than expand.diagnose_folds %d of each; give it "
                          "more seeds%s" % (
                              positives, negatives, k,
                              "" if drawn else " (or lower "
                              "expand.diagnose_folds)")))
        return record
    folds = stratified_folds(fold_rng(config, aid, -1), y, k)
    mine = []
    for i in group.share(k):
        rest = np.setdiff1d(np.arange(len(y)), folds[i])
        scores, _ = campaign_model.campaign_scores(
            model_class, model, init_state,
            from_arrays(aid, x, y, rest, folds[i]), config,
            fold_rng(config, aid, i),
            None if weight is None else weight[rest])
        mine.append((i, scores))
    scores = [s for _, s in sorted(sum(group.gather(mine), []),
                                   key=lambda item: item[0])]
    labels = [y[f] for f in folds]
    aucs = [campaign_metrics(l, s)["auc"] for l, s in zip(labels, scores)]
    auc, interval = t_interval(aucs)
    base = positives / float(len(y))
    precision = precision_at(labels, scores, tiers)
    record.update(
        auc=auc, auc_interval=interval, fold_aucs=aucs,
        precision_at=precision, base_rate=base,
        lift_at={t: p / base for t, p in precision.items()},
        distinctive=bool(interval[0] > 0.5),
        seconds=round(time.time() - start, 3))
    if not record["distinctive"]:
        record["warning"] = (
            "seeds not distinctive: cross-validated AUC %.3f, its %d%% "
            "interval [%.3f, %.3f] does not lie above 0.5 (%s); the "
            "audience may rank no better than chance" % (
                auc, round(100 * CONFIDENCE), interval[0], interval[1],
                "seeds against drawn negatives" if drawn else
                "labelled seeds"))
    return record
