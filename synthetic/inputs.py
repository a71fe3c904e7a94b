"""Random rows of the four input arrays over small id tables: what the
tests and the diagnostics' measurement feed a network when the data do
not matter."""
import numpy as np

from dataio import schema

# small tables: every id of a random batch is likely to occur in several rows
SMALL_MAX_IDXS = [[3, 2, 9, 5, 7, 2, 1], [9, 8, 6, 11, 10, 7, 7],
                  [5, 6, 4, 3, 5, 3]]


def random_inputs(rng, n, max_idxs=SMALL_MAX_IDXS, min_length=0):
    """The four id arrays of ``n`` random rows (padded ids random too)."""
    st_max, dy_max, ad_max = (np.asarray(m) for m in max_idxs)
    static = rng.integers(0, st_max + 1, size=(n, len(st_max)))
    dynamic = np.concatenate(
        [rng.integers(0, m + 1, size=(n, w))
         for m, w in zip(dy_max, schema.DYNAMIC_LENGTHS)], axis=1)
    lengths = np.stack([rng.integers(min_length, w + 1, size=n)
                        for w in schema.DYNAMIC_LENGTHS], axis=1)
    ad = rng.integers(0, ad_max + 1, size=(n, len(ad_max)))
    return [a.astype(np.int64) for a in (static, dynamic, lengths, ad)]
