"""Restrict the embedding tables of a task to the rows the task touches.

The inner loop only reads the embedding rows whose ids occur in the task's
support or query set; every other row has a zero support gradient (so its
fast weight equals the shared weight) and no effect on the query loss. So
gathering those rows into small local tables, remapping the ids to them and
running the inner loop there gives the same meta-loss and meta-gradient as
adapting the full tables, at a cost that does not grow with the vocabulary.
"""
import numpy as np

from tools.utils.schema import DYNAMIC_LENGTHS, DYNAMIC_OFFSETS


def _columns(n_static, n_ad):
    """(input slot, column slice) of every table, in table order."""
    cols = [(0, slice(i, i + 1)) for i in range(n_static)]
    cols += [(1, slice(o, o + w)) for o, w in zip(DYNAMIC_OFFSETS,
                                                  DYNAMIC_LENGTHS)]
    cols += [(3, slice(k, k + 1)) for k in range(n_ad)]
    return cols


def localize(inputs_list, n_static, n_ad):
    """Remap the ids of several input sets onto shared local tables.

    Returns ``(rows, local_inputs_list)``: ``rows[t]`` are the table-t ids
    that occur (sorted), and each local input set holds positions into them.
    """
    local = [[np.array(a, copy=True) for a in x] for x in inputs_list]
    rows = []
    for slot, cols in _columns(n_static, n_ad):
        pieces = [x[slot][:, cols] for x in inputs_list]
        uniq, inverse = np.unique(
            np.concatenate([p.ravel() for p in pieces]), return_inverse=True)
        rows.append(uniq)
        start = 0
        for x, p in zip(local, pieces):
            x[slot][:, cols] = inverse[start:start + p.size].reshape(p.shape)
            start += p.size
    return rows, local
