"""A user feature table for scoring: every user's 14 user fields, columnar
and memory-mapped, so that millions of users open in about a second (4
million in 0.3 s, every id checked: :class:`UserTable`) and are scored in
chunks.

A table is a folder: ``uid.npy`` [U] (sorted), ``features.npy`` [U, 64]
(the static ids, the dynamic id block and the dynamic lengths, in the
network's input layout, narrowed to the smallest integer type) and
``meta.json``. ``tools/preprocess.py --user-table`` writes one from
``userFeature.data``, with the ids of the stage files it writes.
"""
import json
import os
import shutil

import numpy as np

from dataio import schema
from dataio.stage_cache import _narrow
from dataio.stage_files import DataError
from dataio.atomic import temporary_folder

USER_SLOTS = (schema.STATIC_SLOT, schema.DYNAMIC_SLOT, schema.LENGTHS_SLOT)
WIDTH = sum(schema.INPUT_WIDTHS[s] for s in USER_SLOTS)
FORMAT_VERSION = 1
COLUMNS = list(schema.STATIC_FIELDS) + [
    "%s[%d]" % (n, i) for n, w in schema.DYNAMIC_FIELDS for i in range(w)] + \
    list(schema.LENGTH_COLS)
# rows whose ids are checked at a time when a table is opened (a few MB)
CHECK_ROWS = 1 << 16
WRITER = "tools/preprocess.py --user-table writes one"


def write_user_table(folder, uid, features):
    """Write a table atomically (a temporary folder renamed into place)."""
    uid = np.asarray(uid, np.int64)
    order = np.argsort(uid, kind="stable")
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = temporary_folder(parent, ".users.tmp-")
    try:
        np.save(os.path.join(tmp, "uid.npy"), uid[order])
        np.save(os.path.join(tmp, "features.npy"), _narrow(features[order]))
        top = features.max(axis=0) if len(features) else \
            np.zeros(features.shape[1], np.int64)
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({"rows": int(len(uid)), "format": FORMAT_VERSION,
                       "id_maxima": [int(t) for t in top],
                       "columns": COLUMNS}, f)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class UserTable:
    """A table opened for scoring. Its files are checked when it is
    opened, before any work: integer arrays of matching sizes, uids sorted
    (``positions`` searches them), and every id within ``maxima`` (every
    length within its field), read from the ids themselves: a
    ``meta.json`` written for other ids would let an id beyond the model's
    tables through to the first gather after fine-tuning."""

    def __init__(self, folder, maxima: schema.IdMaxima):
        meta_file = os.path.join(folder, "meta.json")
        if not os.path.isfile(meta_file):
            raise FileNotFoundError(
                "%s is not a user table (no meta.json): %s" % (folder, WRITER))
        self.folder = folder
        self.uid = self._array("uid.npy", "user ids")
        self.features = self._array("features.npy",
                                    "user fields").view(np.ndarray)
        if self.uid.ndim != 1 or self.features.shape != (len(self.uid),
                                                         WIDTH):
            raise DataError("%s: features.npy is %s and uid.npy %s, expected "
                            "[%d, %d] and [%d]" % (
                                folder, list(self.features.shape),
                                list(self.uid.shape), len(self.uid), WIDTH,
                                len(self.uid)))
        if len(self.uid) and (np.diff(self.uid) < 0).any():
            raise DataError("%s: uid.npy is not sorted (%s)" % (folder,
                                                                WRITER))
        self._check(maxima)

    def _array(self, name, what):
        """The memory-mapped array of file ``name``: integers, else a
        one-line error naming the file."""
        path = os.path.join(self.folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError("%s is not a user table (no %s): %s" %
                                    (self.folder, name, WRITER))
        try:
            array = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as exc:
            why = "it holds Python objects" if "object" in str(exc) else \
                str(exc).rstrip(".")
            raise DataError("%s cannot be read as %s (%s): %s" %
                            (path, what, why, WRITER))
        if array.dtype.kind not in "iu":
            raise DataError("%s holds %s, not integer %s: %s" %
                            (path, array.dtype, what, WRITER))
        return array

    def _check(self, maxima):
        limits = list(maxima.static) + [
            m for m, (_, w) in zip(maxima.dynamic, schema.DYNAMIC_FIELDS)
            for _ in range(w)] + list(schema.DYNAMIC_LENGTHS)
        top, low = id_ranges(self.features)
        bad = np.flatnonzero((top > limits) | (low < 0))
        if not len(bad):
            return
        column = int(bad[0])
        limit, is_length = limits[column], column >= len(limits) - len(
            schema.DYNAMIC_LENGTHS)
        outside = top[column] > limit
        found = int(top[column] if outside else low[column])
        row = first_row(self.features, column, limit)
        raise DataError(
            "%s: column %s holds %s %d (first at uid %d), %s: %s%s" % (
                self.folder, COLUMNS[column],
                "length" if is_length else "id", found, int(self.uid[row]),
                "below 0" if not outside else
                "above its field's %d ids" % limit if is_length else
                "above max_idxs %d" % limit,
                "the table is damaged" if is_length or not outside else
                "the table and the model do not share a vocabulary",
                self._stale(column, found)))

    def _stale(self, column, found):
        """What meta.json says of ``column``, when it says otherwise."""
        try:
            with open(os.path.join(self.folder, "meta.json")) as f:
                said = json.load(f)["id_maxima"][column]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return ""
        return "" if said == found else \
            " (its meta.json says %s: written for other ids)" % said

    def __len__(self):
        return len(self.uid)

    def positions(self, uids):
        """Row of each uid, -1 where the table lacks it."""
        uids = np.asarray(uids, np.int64)
        pos = np.minimum(np.searchsorted(self.uid, uids), max(len(self) - 1, 0))
        found = len(self) > 0
        return np.where(found & (np.asarray(self.uid)[pos] == uids), pos, -1)

    def inputs(self, rows, ad):
        """The four network inputs of table rows, with the campaign's ad ids
        ``ad`` [6] on every row."""
        block = np.asarray(self.features[rows], np.int64)
        widths = [schema.INPUT_WIDTHS[s] for s in USER_SLOTS]
        edges = np.cumsum([0] + widths)
        static, dynamic, lengths = (block[:, a:b] for a, b in
                                    zip(edges[:-1], edges[1:]))
        return [static, dynamic, lengths,
                np.repeat(np.asarray(ad, np.int64)[None, :], len(block), 0)]


def id_ranges(features):
    """Each column's (largest, smallest) value, CHECK_ROWS rows at a time
    (a memory-mapped table is read once, in pieces)."""
    top = np.full(features.shape[1], np.iinfo(np.int64).min, np.int64)
    low = np.full(features.shape[1], np.iinfo(np.int64).max, np.int64)
    for start in range(0, len(features), CHECK_ROWS):
        block = features[start:start + CHECK_ROWS]
        top = np.maximum(top, block.max(axis=0))
        low = np.minimum(low, block.min(axis=0))
    return top, low


def first_row(features, column, limit):
    """The first row whose ``column`` is above ``limit`` or below 0."""
    for start in range(0, len(features), CHECK_ROWS):
        values = features[start:start + CHECK_ROWS, column]
        bad = np.flatnonzero((values > limit) | (values < 0))
        if len(bad):
            return start + int(bad[0])
    return 0
