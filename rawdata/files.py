"""The raw competition files: their names, the seed/candidate row files and
the ad table. Every error names the file."""
import logging
import os

import numpy as np
import pandas as pd

from dataio.schema import AD_FIELDS

log = logging.getLogger("metaheac")

ADS_FILE, USERS_FILE = "adFeature.csv", "userFeature.data"
SEEDS_FILE, CANDIDATES_FILE = "train.csv", "test1_truth.csv"
ROW_COLS = ("aid", "uid", "label")


class RawDataError(ValueError):
    """Bad raw input; the message names the file."""


def ramp(counts):
    """0..c-1 for every c in counts, concatenated."""
    return (np.arange(int(counts.sum())) -
            np.repeat(np.cumsum(counts) - counts, counts))


def members(sorted_values, query):
    """Boolean mask: query values present in the sorted array."""
    if len(sorted_values) == 0:
        return np.zeros(len(query), bool)
    pos = np.minimum(np.searchsorted(sorted_values, query),
                     len(sorted_values) - 1)
    return sorted_values[pos] == query


def require(path):
    if not os.path.isfile(path):
        raise RawDataError("missing raw file %s" % path)


def read_rows(path, header):
    """(aid, uid, label) int64 arrays of train.csv / test1_truth.csv, label
    mapped {1: 1, -1: 0, 0: 0}."""
    require(path)
    with open(path) as f:
        first = f.readline().strip()
    # test1_truth.csv ships without a header; tolerate one all the same
    if first.split(",")[0].strip().lstrip("-").isdigit() and not header:
        n_cols = len(first.split(","))
        if n_cols < 3:
            raise RawDataError("%s: expected 3 columns aid,uid,label, "
                                  "found %d" % (path, n_cols))
        kwargs = dict(header=None, names=list(ROW_COLS), usecols=[0, 1, 2])
    else:
        present = [c.strip() for c in first.split(",")]
        missing = [c for c in ROW_COLS if c not in present]
        if missing:
            raise RawDataError("%s lacks column(s) %s (header: %s)" %
                                  (path, ", ".join(missing), first))
        kwargs = dict(usecols=list(ROW_COLS))
    try:
        df = pd.read_csv(path, dtype=np.int64, **kwargs)
    except ValueError as e:
        raise RawDataError("%s: non-integer aid/uid/label: %s" % (path, e))
    label = df["label"].to_numpy()
    bad = ~np.isin(label, (1, 0, -1))
    if bad.any():
        raise RawDataError("%s: label %d is not 1, 0 or -1" %
                              (path, label[bad][0]))
    return (df["aid"].to_numpy(), df["uid"].to_numpy(),
            (label == 1).astype(np.int64))


class Ads:
    """Dense ad-field ids per aid; unknown aids get the missing index 0."""

    def __init__(self, path):
        require(path)
        cols = ("aid", ) + AD_FIELDS
        present = pd.read_csv(path, nrows=0).columns
        missing = [c for c in cols if c not in present]
        if missing:
            raise RawDataError("%s lacks column(s) %s" %
                                  (path, ", ".join(missing)))
        df = pd.read_csv(path, usecols=list(cols))
        if len(df) == 0:
            raise RawDataError("%s holds no ads" % path)
        if df["aid"].isna().any() or df["aid"].duplicated().any():
            raise RawDataError("%s: aid must be unique and present" % path)
        order = np.argsort(df["aid"].to_numpy(np.int64))
        self.aid = df["aid"].to_numpy(np.int64)[order]
        self.ids, self.maxima = {}, []
        for name in AD_FIELDS:
            codes, uniques = pd.factorize(df[name], sort=True)
            # +1: 0 is the missing index; the extra last row serves
            # aids that adFeature.csv lacks
            self.ids[name] = np.append(codes[order] + 1, 0).astype(np.int64)
            self.maxima.append(len(uniques))

    def rows(self, aid):
        pos = np.minimum(np.searchsorted(self.aid, aid), len(self.aid) - 1)
        found = self.aid[pos] == aid
        if not found.all():
            log.warning("%d rows name an aid absent from %s: ad fields set "
                        "to the missing index", (~found).sum(), ADS_FILE)
        return np.where(found, pos, len(self.aid))
