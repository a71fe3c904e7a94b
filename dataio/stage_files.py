"""Stage files (pickled DataFrames of the released format) -> checked arrays.

A stage file becomes a ``StageArrays``: label [N], aid [N], static [N,7],
dynamic [N,50], lengths [N,7], ad [N,6]. Every check a bad file can fail is
made here, once, with a message naming the file, the column, the number of
bad rows and an example, so a wrong id never surfaces as an index error deep
inside a Paddle forward pass.
"""
import logging
import os
from dataclasses import dataclass

import numpy as np

from dataio import schema
from dataio import stage_cache

logger = logging.getLogger(__name__)


class DataError(ValueError):
    pass


@dataclass
class StageArrays:
    path: str
    label: np.ndarray
    aid: np.ndarray
    static: np.ndarray
    dynamic: np.ndarray
    lengths: np.ndarray
    ad: np.ndarray
    # optional [N, 70] block whose column slices are the four arrays above
    # (the cache's layout): rows are then gathered in one pass
    features: np.ndarray = None

    def __len__(self):
        return len(self.label)

    def inputs(self, rows=None):
        """The four network inputs (int64) of ``rows`` (all rows if None)."""
        if self.features is not None and rows is not None:
            block = np.asarray(self.features[rows], dtype=np.int64)
            return [block[:, s] for s in schema.INPUT_SLICES]
        arrays = (self.static, self.dynamic, self.lengths, self.ad)
        if rows is None:
            return [np.asarray(a, dtype=np.int64) for a in arrays]
        return [np.asarray(a[rows], dtype=np.int64) for a in arrays]

    @classmethod
    def from_features(cls, path, label, aid, features):
        return cls(path, label, aid,
                   *(features[:, s] for s in schema.INPUT_SLICES), features=features)

    def feature_block(self):
        if self.features is not None:
            return self.features
        return np.concatenate([self.static, self.dynamic, self.lengths,
                               self.ad], axis=1)

    def labels(self, rows=None):
        y = self.label if rows is None else self.label[rows]
        return np.asarray(y, dtype=np.float32)


def _fail(path, column, bad_mask, what, values=None):
    bad = np.flatnonzero(bad_mask)
    example = int(bad[0])
    shown = "" if values is None else ", value %r" % (values[example], )
    raise DataError("%s: column %r: %d row(s) %s (first at row %d%s)" %
                    (path, column, len(bad), what, example, shown))


def _int_column(df, path, column):
    values = df[column].to_numpy()
    if values.dtype.kind == "f" or values.dtype == object:
        missing = np.asarray(df[column].isna())
        if missing.any():
            _fail(path, column, missing, "are missing")
        if values.dtype.kind == "f":
            frac = values != np.round(values)
            if frac.any():
                _fail(path, column, frac, "are not integers", values)
        try:
            values = values.astype(np.int64)
        except (TypeError, ValueError):
            raise DataError("%s: column %r does not hold integers" %
                            (path, column))
    elif values.dtype.kind not in "iub":
        raise DataError("%s: column %r has dtype %s, expected integers" %
                        (path, column, values.dtype))
    return values.astype(np.int64, copy=False)


def _list_column(df, path, column, width):
    cells = df[column].to_numpy()
    sizes = np.fromiter((np.size(c) if c is not None else -1 for c in cells),
                        dtype=np.int64, count=len(cells))
    if (sizes != width).any():
        _fail(path, column, sizes != width,
              "do not hold exactly %d ids" % width, cells)
    if len(cells) == 0:
        return np.zeros((0, width), dtype=np.int64)
    try:
        block = np.asarray(np.stack([np.asarray(c) for c in cells]))
    except (TypeError, ValueError):
        raise DataError("%s: column %r holds cells that are not id lists" %
                        (path, column))
    if block.dtype.kind == "f":
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            _fail(path, column, bad, "hold missing ids")
        bad = (block != np.round(block)).any(axis=1)
        if bad.any():
            _fail(path, column, bad, "hold ids that are not integers", cells)
    if block.dtype.kind not in "iuf":
        raise DataError("%s: column %r holds non-integer ids" % (path, column))
    return block.astype(np.int64)


def _int_columns(df, path, columns):
    """The [N, len(columns)] int64 block of scalar id columns."""
    return np.stack([_int_column(df, path, c) for c in columns], axis=1) \
        if len(df) else np.zeros((0, len(columns)), np.int64)


def frame_to_arrays(df, path, maxima: schema.IdMaxima,
                    label_required=True) -> StageArrays:
    """Validate a released-format DataFrame and convert it to arrays. With
    ``label_required=False`` a frame without a label column is accepted
    (its labels read as 0; check ``schema.LABEL_COL in df`` to know)."""
    missing = [c for c in schema.ALL_COLUMNS if c not in df.columns and
               (label_required or c != schema.LABEL_COL)]
    if missing:
        raise DataError("%s: missing column(s) %s" % (path, ", ".join(missing)))

    label = _int_column(df, path, schema.LABEL_COL) \
        if schema.LABEL_COL in df.columns else np.zeros(len(df), np.int64)
    if (label == -1).any():
        logger.warning(
            "%s: %d label(s) are -1 (the competition's negatives); "
            "read as 0", path, int((label == -1).sum()))
        label = np.where(label == -1, 0, label)
    bad = (label != 0) & (label != 1)
    if bad.any():
        _fail(path, schema.LABEL_COL, bad, "are not in {0, 1}", label)

    aid = _int_column(df, path, schema.AID_COL)
    static, lengths, ad = (_int_columns(df, path, columns) for columns in (
        schema.STATIC_FIELDS, schema.LENGTH_COLS, schema.AD_FIELDS))
    blocks = []
    for j, (name, width) in enumerate(schema.DYNAMIC_FIELDS):
        block = _list_column(df, path, name, width)
        n = lengths[:, j]
        bad = (n < 0) | (n > width)
        if bad.any():
            _fail(path, schema.LENGTH_COLS[j], bad,
                  "are outside 0..%d" % width, n)
        # padded positions hold an arbitrary filler id; zero them so that
        # neither the id checks nor the embedding lookups depend on it
        block[np.arange(width)[None, :] >= n[:, None]] = 0
        blocks.append(block)
    dynamic = np.concatenate(blocks, axis=1) if blocks else None

    _check_ids(path, static, schema.STATIC_FIELDS, maxima.static)
    _check_ids(path, ad, schema.AD_FIELDS, maxima.ad)
    for j, name in enumerate(schema.DYNAMIC_NAMES):
        off, width = schema.DYNAMIC_OFFSETS[j], schema.DYNAMIC_LENGTHS[j]
        _check_ids(path, dynamic[:, off:off + width], [name] * width,
                   [maxima.dynamic[j]] * width, per_row=True)
    return StageArrays(path, label.astype(np.int8), aid, static, dynamic,
                       lengths, ad)


def _check_ids(path, block, names, maxima, per_row=False):
    if per_row:
        worst_hi, worst_lo = block.max(axis=1, initial=0), block.min(axis=1, initial=0)
        bad = (worst_hi > maxima[0]) | (worst_lo < 0)
        if bad.any():
            _fail(path, names[0], bad,
                  "hold ids outside 0..%d (hyper_parameters.max_idxs)" %
                  maxima[0], worst_hi)
        return
    for i, (name, top) in enumerate(zip(names, maxima)):
        bad = (block[:, i] > top) | (block[:, i] < 0)
        if bad.any():
            _fail(path, name, bad,
                  "hold ids outside 0..%d (hyper_parameters.max_idxs)" % top,
                  block[:, i])


def id_ranges(stage):
    """Per-table (min, max) of the ids, in schema.TABLES order."""
    arrays = (stage.static, stage.dynamic, stage.lengths, stage.ad)
    ranges = []
    for table in schema.TABLES:
        part = arrays[table.slot][:, table.columns]
        ranges.append((int(part.min(initial=0)), int(part.max(initial=0))))
    return ranges


def read_frame(path):
    """The DataFrame of a pickled stage file, unpickled safely."""
    # imported here: a cache hit must not pay for importing pandas
    import pandas as pd
    from dataio import safe_pickle
    if not os.path.isfile(path):
        raise FileNotFoundError("stage file %s does not exist" % path)
    df = safe_pickle.read_pickle_safely(path)
    if not isinstance(df, pd.DataFrame):
        raise DataError("%s holds a %s, expected a pandas DataFrame" %
                        (path, type(df).__name__))
    return df


def _read_frame(path, maxima):
    return frame_to_arrays(read_frame(path), path, maxima)


def read_stage(path, maxima: schema.IdMaxima, cache_dir=None,
               use_cache=True) -> StageArrays:
    """Load and validate one stage file, through the columnar cache.

    On a cache hit the arrays are memory-mapped and pandas is not touched;
    the ids are checked against ``maxima`` from the ranges stored with the
    entry (the config may have changed since the entry was written).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError("stage file %s does not exist" % path)
    if not use_cache:
        return _read_frame(path, maxima)
    cache_dir = cache_dir or stage_cache.default_cache_dir(path)
    hit = stage_cache.load(cache_dir, path)
    if hit is not None:
        arrays, meta = hit
        names = [name for name, _ in maxima.by_field()]
        for name, (lo, hi), (_, top) in zip(names, meta["id_ranges"],
                                            maxima.by_field()):
            if lo < 0 or hi > top:
                # re-read the source for the message with an example row
                return _read_frame(path, maxima)
        # plain ndarray views of the maps: numpy.memmap's Python-level
        # __getitem__ would cost more than the row gathers themselves
        return StageArrays.from_features(
            path, *(arrays[k].view(np.ndarray) for k in stage_cache.ARRAYS))
    stage = _read_frame(path, maxima)
    stage_cache.store(cache_dir, path,
                      {"label": stage.label, "aid": stage.aid,
                       "features": stage.feature_block()},
                      {"source": os.path.abspath(path), "rows": len(stage),
                       "id_ranges": id_ranges(stage)})
    return stage


def concat_stages(parts):
    if len(parts) == 1:
        return parts[0]
    return StageArrays.from_features(
        ",".join(p.path for p in parts),
        *(np.concatenate(arrays) for arrays in zip(
            *((p.label, p.aid, p.feature_block()) for p in parts))))


def read_stages(files, config):
    """Read and concatenate stage files with the config's schema and cache."""
    maxima = schema.IdMaxima.from_config(config.get("hyper_parameters.max_idxs"))
    return concat_stages([
        read_stage(f, maxima, cache_dir=config.get("runner.cache_dir"),
                   use_cache=config.get("runner.use_cache", True))
        for f in files])


def files_matching(paths, suffix):
    """Files among ``paths`` (files or folders) whose names end in suffix."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += [os.path.join(path, f) for f in sorted(os.listdir(path))
                      if f.endswith(suffix)]
        elif path.endswith(suffix):
            found.append(path)
    return found
