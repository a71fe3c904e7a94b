"""Arrays <-> released-format DataFrames, and writing them as pickles."""
import operator
import pickle

import numpy as np

from dataio import schema
from dataio.atomic import atomic_write


def arrays_to_frame(label, aid, static, dynamic, lengths, ad, pad_ids=None,
                    list_cells=False):
    """A DataFrame with the 29 released columns, list cells as int64 arrays
    (as the released files) or, with ``list_cells``, Python lists (several
    times smaller pickled).

    ``pad_ids[j]`` fills the positions past each row's length in dynamic
    field j, as the released files do (their pad is the field's max id - 2).
    """
    import pandas as pd
    scalars = {schema.LABEL_COL: np.asarray(label, np.int64),
               schema.AID_COL: np.asarray(aid, np.int64)}
    for i, name in enumerate(schema.STATIC_FIELDS):
        scalars[name] = np.asarray(static[:, i], np.int64)
    for j, name in enumerate(schema.LENGTH_COLS):
        scalars[name] = np.asarray(lengths[:, j], np.int64)
    for k, name in enumerate(schema.AD_FIELDS):
        scalars[name] = np.asarray(ad[:, k], np.int64)
    df = pd.DataFrame(scalars)
    for j, (name, width) in enumerate(schema.DYNAMIC_FIELDS):
        off = schema.DYNAMIC_OFFSETS[j]
        block = np.array(dynamic[:, off:off + width], dtype=np.int64)
        if pad_ids is not None:
            block[np.arange(width)[None, :] >= lengths[:, j:j + 1]] = pad_ids[j]
        cells = np.empty(len(block), dtype=object)
        cells[:] = block.tolist() if list_cells else list(block)
        # inserted one by one: each list column keeps a block of its own,
        # which FramePickler writes as one array instead of cell by cell
        df.insert(schema.ALL_COLUMNS.index(name), name, cells)
    return df


class _Call:
    """Pickles as ``fn(*args)``."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _stack_cells(cells):
    """The [n, width] int64 array of a column of equal-length int64 1-d
    array cells, or None."""
    if len(cells) == 0:
        return np.empty((0, 0), np.int64)
    if set(map(type, cells)) != {np.ndarray} or \
            set(map(operator.attrgetter("dtype"), cells)) != \
            {np.dtype(np.int64)} or \
            len(set(map(operator.attrgetter("shape"), cells))) != 1 or \
            cells[0].ndim != 1:
        return None
    return np.concatenate(cells).reshape(len(cells), len(cells[0]))


# numpy's own array reconstructor (numpy.core or numpy._core by version)
_RECONSTRUCT = np.empty(0).__reduce__()[0]


class FramePickler(pickle.Pickler):
    """Memo-less pickler for frames with millions of array cells.

    ``fast`` drops the memo, which would otherwise keep every temporary of
    every cell alive. Pickled one by one a cell still costs ~12 us and ~200
    bytes (numpy's reduce, dtype and globals each time): ~15 min for the
    full data. So a list column in a block of its own (a [1, n] object
    array) is written as numpy writes any object array, except that its
    element list is ``list(block)`` of one [n, width] int64 array: on load
    the cells come back as writable int64 row views, built from the same
    globals as a plain frame (numpy's reconstructor, ndarray, dtype,
    list), so allow-listing unpicklers accept it too.
    """

    def __init__(self, file, blocks=()):
        super().__init__(file, protocol=4)
        self.fast = True
        # known (cells, block) pairs spare re-stacking the cells
        self._known = {id(cells[0]): (cells, block)
                       for cells, block in blocks if len(cells)}

    def _block(self, cells):
        known = self._known.get(id(cells[0])) if len(cells) else None
        if known is not None and len(known[0]) == len(cells) and \
                all(map(operator.is_, cells, known[0])):
            return known[1]
        return _stack_cells(cells)

    def reducer_override(self, obj):
        if type(obj) is np.ndarray and obj.dtype == object and \
                obj.ndim == 2 and obj.shape[0] == 1:
            block = self._block(obj[0])
            if block is not None:
                return (_RECONSTRUCT, (np.ndarray, (0, ), b"b"),
                        (1, obj.shape, obj.dtype, False, _Call(list, block)))
        return NotImplemented


def write_pickle(df, path, blocks=()):
    """Pickle a frame atomically with :class:`FramePickler`."""
    atomic_write(path, lambda f: FramePickler(f, blocks).dump(df))


