"""dygraph_model.localize: every local row reads the id it replaced.

Meta-training, the meta-test, expansion and export all gather the tables'
rows through ``localize``; an off-by-one there would train and score the
wrong users' embeddings without any error, so the round trip is checked
directly: the global id of every input position equals the id of the
local row it now points at, task by task."""
import numpy as np
import pytest

from dataio.rare_ids import IdMap
from dataio.schema import TABLES
from dygraph_model import localize
from helpers import SMALL_MAX_IDXS, random_inputs


def id_map(rng, min_count=3):
    maxima = [m for group in SMALL_MAX_IDXS for m in group]
    return IdMap.from_counts([rng.integers(0, 6, m + 1) for m in maxima],
                             min_count)


@pytest.mark.parametrize("tasks", [1, 3])
@pytest.mark.parametrize("with_map", [False, True])
def test_every_local_row_holds_the_global_id(tasks, with_map):
    rng = np.random.default_rng(tasks + 10 * with_map)
    x_spt = random_inputs(rng, 8 * tasks)
    x_qry = random_inputs(rng, 5 * tasks)
    ids = id_map(rng) if with_map else None
    rows, l_spt, l_qry = localize(x_spt, x_qry, tasks, ids)
    assert len(rows) == len(TABLES)
    for k, table in enumerate(TABLES):
        lut = ids.luts[k] if ids else np.arange(
            int(max(x_spt[table.slot][:, table.columns].max(),
                    x_qry[table.slot][:, table.columns].max())) + 1)
        for orig, local, per_task in ((x_spt, l_spt, 8), (x_qry, l_qry, 5)):
            g = lut[orig[table.slot][:, table.columns]]
            loc = local[table.slot][:, table.columns]
            np.testing.assert_array_equal(rows[k][loc], g)
            # task t reads only its own block of rows: tasks never share
            # a local row, so one task's update cannot touch another's
            task = np.arange(len(loc)) // per_task
            for t in range(tasks):
                mine = np.unique(loc[task == t])
                others = np.unique(loc[task != t])
                assert not np.intersect1d(mine, others).size
        # each task's rows are distinct ids (one gather per id and task)
        assert len(rows[k]) == sum(
            len(np.unique(np.concatenate([
                lut[x[table.slot][:, table.columns]][
                    np.arange(len(x[0])) // n == t].ravel()
                for x, n in ((x_spt, 8), (x_qry, 5))])))
            for t in range(tasks))
    # the other inputs (list lengths) are left alone, the originals intact
    np.testing.assert_array_equal(l_spt[2], x_spt[2])
    assert not np.shares_memory(l_spt[0], x_spt[0])
