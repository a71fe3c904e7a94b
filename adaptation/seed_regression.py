"""A campaign's own logistic regression on its seeds' user ids.

The features are what the network reads of a user, one column per (field,
id): one-hot for the static fields, multi-hot over the valid ids of each
multi-id field (the ids before the field's length; the pad ids after it
are left out; an id repeated in one list counts once). A linear model of
such features is a sum of per-id weights: one width-1 table per user field
plus an intercept, which is how a fitted regression is kept
(:class:`SeedRegression`), scored, and exported beside the network. The
column layout comes from the configured id maxima (``dataio.schema``), so
an id beyond them fails here as it does in the network.
"""
import numpy as np
from scipy import sparse

from dataio import schema
from dataio.schema import IdMaxima


def _user_sizes(maxima):
    return [m + 1 for m in maxima.static] + [m + 1 for m in maxima.dynamic]


def first_occurrences(ids, valid):
    """Which valid list positions hold an id for the first time in their
    row (presence, not count: a repeated id is one feature)."""
    width = ids.shape[1]
    same = ids[:, :, None] == ids[:, None, :]
    earlier = np.tril(np.ones((width, width), bool), -1)[None]
    repeated = (same & earlier & valid[:, None, :]).any(axis=2)
    return valid & ~repeated


class OneHot:
    """Sparse one-hot matrix of the four input arrays (user fields; with
    ``with_ad`` the ad fields too, for a pooled model)."""

    def __init__(self, max_idxs, with_ad=False):
        maxima = IdMaxima.from_config(max_idxs) if not isinstance(
            max_idxs, IdMaxima) else max_idxs
        sizes = _user_sizes(maxima)
        if with_ad:
            sizes += [m + 1 for m in maxima.ad]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.width = int(self.offsets[-1])
        self.with_ad = with_ad

    def transform(self, x):
        static, dynamic, lengths, ad = [np.asarray(a) for a in x]
        n = len(static)
        rows, cols = [], []
        field = 0
        for i in range(static.shape[1]):
            rows.append(np.arange(n))
            cols.append(static[:, i] + self.offsets[field])
            field += 1
        for j, (start, width) in enumerate(zip(schema.DYNAMIC_OFFSETS,
                                               schema.DYNAMIC_LENGTHS)):
            ids = dynamic[:, start:start + width]
            valid = np.arange(width)[None, :] < lengths[:, j:j + 1]
            r, c = np.nonzero(valid)
            rows.append(r)
            cols.append(ids[r, c] + self.offsets[field])
            field += 1
        if self.with_ad:
            for k in range(ad.shape[1]):
                rows.append(np.arange(n))
                cols.append(ad[:, k] + self.offsets[field])
                field += 1
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                                   shape=(n, self.width))
        matrix.data[:] = 1.0   # summed duplicates back to presence
        return matrix


def fit_logistic(features, labels, c, weight=None):
    """scikit-learn's L2 logistic regression (inverse regularisation
    ``c``), each row's loss times ``weight`` when given."""
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression(C=c, max_iter=2000)
    return model.fit(features, np.asarray(labels).astype(int),
                     sample_weight=weight)


class SeedRegression:
    """A fitted regression as per-id weights: ``tables[f][id]`` for each of
    the 14 user fields (static, then multi-id, the order of
    ``dataio.schema.TABLES``) and ``intercept``. Its logit of a user is
    the intercept plus the weights of the user's ids (each distinct valid
    id of a list once), exactly the fitted model's decision function."""

    def __init__(self, tables, intercept):
        self.tables = [np.asarray(t, np.float64) for t in tables]
        self.intercept = float(intercept)

    @classmethod
    def fit(cls, maxima, x, y, c, weight=None):
        """The regression of seeds ``x`` labelled ``y`` (rows weighted by
        ``weight``: valued seeds); None when ``y`` holds one class, which
        gives nothing to rank by."""
        y = np.asarray(y)
        if len(y) == 0 or y.min() == y.max():
            return None
        encoder = OneHot(maxima)
        model = fit_logistic(encoder.transform(x), y, c, weight)
        coef = model.coef_.reshape(-1)
        return cls([coef[a:b] for a, b in zip(encoder.offsets[:-1],
                                              encoder.offsets[1:])],
                   model.intercept_[0])

    def logits(self, x):
        static, dynamic, lengths = (np.asarray(a) for a in x[:3])
        out = np.full(len(static), self.intercept)
        n_static = static.shape[1]
        for i in range(n_static):
            out += self.tables[i][static[:, i]]
        for j, (start, width) in enumerate(zip(schema.DYNAMIC_OFFSETS,
                                               schema.DYNAMIC_LENGTHS)):
            ids = dynamic[:, start:start + width]
            valid = np.arange(width)[None, :] < lengths[:, j:j + 1]
            keep = first_occurrences(ids, valid)
            out += np.where(keep, self.tables[n_static + j][
                np.where(keep, ids, 0)], 0.0).sum(axis=1)
        return out

    def scores(self, x):
        """Probabilities (the logistic of :meth:`logits`)."""
        return 1.0 / (1.0 + np.exp(-self.logits(x)))
