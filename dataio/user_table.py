"""A user feature table for scoring: every user's 14 user fields, columnar
and memory-mapped, so that millions of users load in well under a second
and are scored in chunks.

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
from runkit.atomic import temporary_folder

USER_SLOTS = (schema.STATIC_SLOT, schema.DYNAMIC_SLOT, schema.LENGTHS_SLOT)
WIDTH = sum(schema.INPUT_WIDTHS[s] for s in USER_SLOTS)
FORMAT_VERSION = 1


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
                       "columns": list(schema.STATIC_FIELDS) +
                       ["%s[%d]" % (n, i) for n, w in schema.DYNAMIC_FIELDS
                        for i in range(w)] + list(schema.LENGTH_COLS)}, f)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class UserTable:
    def __init__(self, folder, maxima: schema.IdMaxima):
        meta_file = os.path.join(folder, "meta.json")
        if not os.path.isfile(meta_file):
            raise FileNotFoundError(
                "%s is not a user table (no meta.json): tools/preprocess.py "
                "--user-table writes one" % folder)
        self.folder = folder
        self.uid = np.load(os.path.join(folder, "uid.npy"), mmap_mode="r")
        self.features = np.load(os.path.join(folder, "features.npy"),
                                mmap_mode="r").view(np.ndarray)
        if self.features.shape != (len(self.uid), WIDTH):
            raise ValueError("%s: features.npy is %s, expected [%d, %d]" % (
                folder, self.features.shape, len(self.uid), WIDTH))
        self._check(maxima)

    def _check(self, maxima):
        with open(os.path.join(self.folder, "meta.json")) as f:
            meta = json.load(f)
        top = meta["id_maxima"]
        limits = list(maxima.static) + [
            m for m, (_, w) in zip(maxima.dynamic, schema.DYNAMIC_FIELDS)
            for _ in range(w)]
        for column, (found, limit) in enumerate(zip(top, limits)):
            if found > limit:
                raise ValueError(
                    "%s: column %d holds ids up to %d, above max_idxs %d: the "
                    "table and the model do not share a vocabulary" %
                    (self.folder, column, found, limit))

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
