"""Rare ids share one learned out-of-vocabulary (OOV) row per field
(``hyper_parameters.min_id_count``), as CTR libraries do (FuxiCTR's
``min_categr_count``, Keras ``StringLookup``'s OOV bucket).

Why: most kw/topic ids of the real data occur once in training. Such a row
is trained on one row and then memorises it, and an id never seen in
training keeps its random initial row; both feed noise into the campaign's
fine-tuning. Sharing one row per field lets every rare id of training teach
it what "some rare id" is worth, and every unseen id read that.

* **Counts**: occurrences of each id in the training rows the trainer reads
  (multi-id fields: the first ``length`` positions only; pads are not ids).
  Test, seed and candidate rows never count.
* **The OOV row** of a field is the row of its largest rare id (in the
  released data the last ids of a field are never used, so it is a row no
  id owned). No row is appended: tables keep PaddleRec's names and shapes,
  and ids stay ids, so pads and lengths mean what they meant.
* **The mapping** is one lookup array per field (``lut[id]`` = the row the
  id reads): the identity for ids seen at least ``min_id_count`` times, the
  OOV row for the others and for ids never seen. It belongs to the
  checkpoint: the trainer writes it as ``id_map.npz`` into every epoch
  folder beside ``rec.pdparams`` (same temporary folder, so it is in place
  exactly when the checkpoint is; checksummed in ``run.json``), and every
  tool that loads a checkpoint loads it with it. A checkpoint without one
  (``min_id_count`` 0 or 1, runs from before, PaddleRec's) maps nothing.
"""
import logging
import os
import zipfile

import numpy as np

from dataio import schema

logger = logging.getLogger("metaheac")

KEY = "hyper_parameters.min_id_count"
FILE = "id_map.npz"
# rows counted per pass: bounds the int64 copy of a large training stage
COUNT_CHUNK = 1 << 18
# a fixed member time: the same mapping gives the same file bytes, so a
# resumed run's files equal an uninterrupted one's
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class IdMapError(ValueError):
    pass


def count_ids(stage, maxima):
    """Occurrences of every id in ``stage``, one array per table
    (schema.TABLES order, ``max + 1`` entries each)."""
    counts = [np.zeros(top + 1, np.int64) for _, top in maxima.by_field()]
    for lo in range(0, len(stage), COUNT_CHUNK):
        x = stage.inputs(slice(lo, lo + COUNT_CHUNK))
        for count, table in zip(counts, schema.TABLES):
            ids = x[table.slot][:, table.columns]
            if table.group == "dynamic":
                length = x[schema.LENGTHS_SLOT][:, table.index:table.index + 1]
                ids = ids[np.arange(ids.shape[1])[None, :] < length]
            count += np.bincount(ids.ravel(), minlength=len(count))
    return counts


class IdMap:
    """The lookup array of every table (schema.TABLES order) and the
    threshold it was made with."""

    def __init__(self, min_count, luts):
        self.min_count = int(min_count)
        self.luts = [np.asarray(lut, np.int64) for lut in luts]

    @classmethod
    def from_counts(cls, counts, min_count):
        luts = []
        for count in counts:
            lut = np.arange(len(count))
            rare = np.flatnonzero(count < min_count)
            if len(rare):
                lut[rare] = rare[-1]
            luts.append(lut)
        return cls(min_count, luts)

    def shared(self):
        """Per table, how many ids read the OOV row (0: none)."""
        out = []
        for lut in self.luts:
            moved = lut != np.arange(len(lut))
            out.append(int(moved.sum()) + 1 if moved.any() else 0)
        return out

    def apply(self, x):
        """The four input arrays ``x`` with every id replaced by its row
        (copies; padded positions too, which the network ignores)."""
        out = [np.array(a, dtype=np.int64) for a in x]
        for lut, table in zip(self.luts, schema.TABLES):
            out[table.slot][:, table.columns] = \
                lut[out[table.slot][:, table.columns]]
        return out

    def describe(self):
        shared = self.shared()
        fields = ["%s %d" % (t.field, n) for t, n in zip(schema.TABLES, shared)
                  if n]
        return ("ids seen fewer than %d times in training share their "
                "field's OOV row: %d of %d ids (%s)" % (
                    self.min_count, sum(shared),
                    sum(len(lut) for lut in self.luts),
                    ", ".join(fields) or "none"))

    def save(self, path):
        """Written where the caller says (the checkpoint's temporary
        folder, renamed into place with it)."""
        arrays = {"min_count": np.asarray(self.min_count, np.int64)}
        for table, lut in zip(schema.TABLES, self.luts):
            arrays[table.field] = lut.astype(np.int32)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as member:
                    np.lib.format.write_array(member, array,
                                              allow_pickle=False)


def for_training(config, stage):
    """The mapping a training run makes from its rows, or None when
    ``min_id_count`` is 0 or 1 (every id its own row)."""
    min_count = config.get(KEY)
    if min_count <= 1:
        return None
    maxima = schema.IdMaxima.from_config(
        config.get("hyper_parameters.max_idxs"))
    return IdMap.from_counts(count_ids(stage, maxima), min_count)


def path_beside(checkpoint):
    """Where a checkpoint's mapping is: in its folder, or beside its
    .pdparams file."""
    folder = checkpoint if os.path.isdir(checkpoint) else \
        os.path.dirname(checkpoint)
    return os.path.join(folder, FILE)


def load(path, maxima: schema.IdMaxima):
    """The mapping in ``path``, checked against the model's maxima."""
    def bad(what):
        return IdMapError(
            "%s %s: it is damaged or belongs to another model; restore it "
            "from a copy of the run, or meta-train again" % (path, what))
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as exc:  # noqa: BLE001 - a damaged zip fails in many ways
        raise bad("cannot be read (%s: %s)" % (type(exc).__name__, exc))
    luts = []
    for table, (_, top) in zip(schema.TABLES, maxima.by_field()):
        lut = arrays.get(table.field)
        if lut is None or lut.shape != (top + 1, ):
            raise bad("holds no lookup array of %d ids for field %s" % (
                top + 1, table.field))
        lut = lut.astype(np.int64)
        if lut.min() < 0 or lut.max() > top or (lut[lut] != lut).any():
            raise bad("maps ids of field %s outside its rows" % table.field)
        luts.append(lut)
    min_count = arrays.get("min_count")
    if min_count is None or min_count.shape != ():
        raise bad("lacks its min_count")
    return IdMap(int(min_count), luts)


def load_beside(checkpoint, maxima):
    """A checkpoint's mapping, or None if it has none."""
    path = path_beside(checkpoint)
    return load(path, maxima) if os.path.exists(path) else None
