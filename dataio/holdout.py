"""Which training campaigns meta-validation holds out, and how each is cut
into seeds and candidates the way a test campaign is.

Held-out campaigns are drawn from the training file with their own seeded
stream (``runner.seed``), so turning meta-validation on or off does not
change the task and row draws of the campaigns that are trained on, only
which campaigns those are. A campaign is eligible when it has rows of both
classes enough to split (``MIN_PER_CLASS`` of each): its candidates must hold
both classes for an AUC.
"""
import numpy as np

MIN_PER_CLASS = 3


def held_out_campaigns(index, labels, config):
    """Positions (in ``index.aids`` order) of the campaigns held out for
    meta-validation, sorted; empty when ``tuning.share`` is 0 or fewer than
    ``tuning.min_campaigns`` can be held out (eligible ones, at most a
    quarter of all)."""
    share = config.get("tuning.share")
    if share <= 0:
        return np.zeros(0, np.int64)
    eligible = []
    for k in range(len(index.aids)):
        positives = int(labels[index.rows(k)].sum())
        if min(positives, index.counts[k] - positives) >= MIN_PER_CLASS:
            eligible.append(k)
    least = config.get("tuning.min_campaigns")
    want = max(least, int(round(share * len(index.aids))))
    # meta-training keeps at least three quarters of the campaigns, and
    # fewer than min_campaigns would choose on noise: then none
    want = min(want, len(eligible), len(index.aids) // 4)
    if want < least:
        return np.zeros(0, np.int64)
    rng = np.random.default_rng([config.get("runner.seed"), 0x7e57])
    return np.sort(rng.choice(np.asarray(eligible), size=want, replace=False))


def _stratified(rng, y, share, at_least=1):
    """Indices of about ``share`` of each class of ``y`` (at least
    ``at_least`` of each class present)."""
    picked = []
    for value in (0, 1):
        members = np.flatnonzero(y == value)
        if len(members):
            count = min(len(members), max(at_least,
                                          int(round(share * len(members)))))
            picked.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def stratified_folds(rng, y, k):
    """Row positions of ``y`` dealt into ``k`` folds, each class spread
    evenly (a fold gets every k-th member of a shuffled class)."""
    folds = [[] for _ in range(k)]
    offset = 0
    for value in (0, 1):
        members = rng.permutation(np.flatnonzero(y == value))
        for i, row in enumerate(members):
            folds[(i + offset) % k].append(row)
        offset += len(members)
    return [np.sort(np.asarray(f, np.int64)) for f in folds]


def _cap(rng, y, rows, most):
    if len(rows) <= most:
        return rows
    return np.sort(rows[_stratified(rng, y[rows], most / len(rows))])


def split(y, rng, max_seeds, max_candidates, folds=3, cold_seeds=100):
    """Cut a held-out campaign's rows (labels ``y``) ``folds`` ways, as
    cross-validation does: each fold in turn is the candidates (at most
    ``max_candidates``) and the other rows the hot-like seed set (at most
    ``max_seeds``), a stratified ``cold_seeds`` of those (all of them in a
    campaign too small) the cold-like one. Returns ``[(candidates,
    hot_seeds, cold_seeds)]``, one per fold, as row positions. Every row is
    a candidate once: a campaign of 5 % positives gives few of them, and a
    single cut would choose on a handful."""
    y = np.asarray(y)
    cuts = []
    for fold in stratified_folds(rng, y, folds):
        rest = np.setdiff1d(np.arange(len(y)), fold)
        candidates = _cap(rng, y, fold, max_candidates)
        rest = _cap(rng, y, rest, max_seeds)
        cold = _cap(rng, y, rest, cold_seeds)
        cuts.append((candidates, rest, cold))
    return cuts
