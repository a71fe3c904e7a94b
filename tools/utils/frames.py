"""Arrays <-> released-format DataFrames, and writing them as pickles."""
import os
import pickle
import tempfile

import numpy as np

from tools.utils import schema


def arrays_to_frame(label, aid, static, dynamic, lengths, ad, pad_ids=None,
                    list_cells=False):
    """A DataFrame with the 29 released columns, list cells as int64 arrays
    (as the released files) or, with ``list_cells``, Python lists (several
    times smaller pickled).

    ``pad_ids[j]`` fills the positions past each row's length in dynamic
    field j, as the released files do (their pad is the field's max id - 2).
    """
    import pandas as pd
    columns = {schema.LABEL_COL: np.asarray(label, np.int64),
               schema.AID_COL: np.asarray(aid, np.int64)}
    for i, name in enumerate(schema.STATIC_FIELDS):
        columns[name] = np.asarray(static[:, i], np.int64)
    for j, (name, width) in enumerate(schema.DYNAMIC_FIELDS):
        off = schema.DYNAMIC_OFFSETS[j]
        block = np.array(dynamic[:, off:off + width], dtype=np.int64)
        if pad_ids is not None:
            block[np.arange(width)[None, :] >= lengths[:, j:j + 1]] = pad_ids[j]
        cells = np.empty(len(block), dtype=object)
        cells[:] = block.tolist() if list_cells else list(block)
        columns[name] = cells
    for j, name in enumerate(schema.LENGTH_COLS):
        columns[name] = np.asarray(lengths[:, j], np.int64)
    for k, name in enumerate(schema.AD_FIELDS):
        columns[name] = np.asarray(ad[:, k], np.int64)
    return pd.DataFrame(columns, columns=list(schema.ALL_COLUMNS))


def write_pickle(obj, path):
    """Pickle ``obj`` to ``path`` atomically.

    ``fast = True`` turns the memo off: with millions of small array cells
    the memo alone can exhaust memory, and these frames hold no shared or
    recursive references that would need it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pkl", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            pickler = pickle.Pickler(f, protocol=4)
            pickler.fast = True
            pickler.dump(obj)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
