"""Restrict the embedding tables of a meta-batch to the rows it touches.

The inner loop only reads the embedding rows whose ids occur in a task's
support or query set; every other row has a zero support gradient (so its
fast weight equals the shared weight) and no effect on the query loss. So
gathering those rows into small local tables, remapping the ids to them and
running the inner loop there gives the same meta-loss and meta-gradient as
adapting the full tables, at a cost that does not grow with the vocabulary.

Each task gets its own segment of the local table (the same id in two tasks
is two local rows), so the tasks' fast weights stay independent while all
tasks run in one batched pass.
"""
import numpy as np

from tools.utils.schema import DYNAMIC_LENGTHS, DYNAMIC_OFFSETS


def table_columns(n_static, n_ad):
    """(input slot, column slice) of every table, in table order."""
    cols = [(0, slice(i, i + 1)) for i in range(n_static)]
    cols += [(1, slice(o, o + w)) for o, w in zip(DYNAMIC_OFFSETS,
                                                  DYNAMIC_LENGTHS)]
    cols += [(3, slice(k, k + 1)) for k in range(n_ad)]
    return cols


def localize_tasks(spt, qry, n_static, n_ad):
    """Stack T tasks' inputs and remap their ids onto per-task local rows.

    ``spt[t]`` and ``qry[t]`` are the four id arrays of task t. Returns
    ``(rows, x_spt, x_qry)``: ``rows[k]`` are the table-k ids to gather (task
    0's, then task 1's, ...), and ``x_spt``/``x_qry`` the four arrays of all
    tasks stacked row-wise with ids replaced by positions in ``rows[k]``.
    """
    x_spt = [np.concatenate([x[s] for x in spt]) for s in range(4)]
    x_qry = [np.concatenate([x[s] for x in qry]) for s in range(4)]
    task_spt = np.repeat(np.arange(len(spt)), [len(x[0]) for x in spt])
    task_qry = np.repeat(np.arange(len(qry)), [len(x[0]) for x in qry])
    rows = []
    for slot, cols in table_columns(n_static, n_ad):
        a, b = x_spt[slot][:, cols], x_qry[slot][:, cols]
        span = int(max(a.max(initial=0), b.max(initial=0))) + 1
        # one key per (task, id) so each task gets its own local rows
        keys = np.concatenate([(a + task_spt[:, None] * span).ravel(),
                               (b + task_qry[:, None] * span).ravel()])
        uniq, inverse = np.unique(keys, return_inverse=True)
        rows.append(uniq % span)
        x_spt[slot][:, cols] = inverse[:a.size].reshape(a.shape)
        x_qry[slot][:, cols] = inverse[a.size:].reshape(b.shape)
    return rows, x_spt, x_qry
