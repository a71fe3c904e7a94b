"""How far audiences overlap (``tools/expand.py --overlap``,
``tools/overlap.py``): for every pair, both sizes, the users they share
and that count's share of each.

    aid_a,aid_b,size_a,size_b,overlap,share_of_a,share_of_b

An audience is a name and its uids; the pairs come in the order the
audiences are given (a before b), so the first row of each ``aid_a`` reads
as Meta's comparison against a base audience.
"""
import os
import re

import numpy as np

COLUMNS = ("aid_a", "aid_b", "size_a", "size_b", "overlap", "share_of_a",
           "share_of_b")


def _share(part, whole):
    return "%.6f" % (part / whole) if whole else ""


def overlap_rows(audiences):
    """``audiences``: [(name, uids)]; one row (a tuple of strings) per
    pair. A repeated uid within an audience counts once."""
    sets = [(str(name), np.unique(np.asarray(uids, np.int64)))
            for name, uids in audiences]
    rows = []
    for i, (name_a, a) in enumerate(sets):
        for name_b, b in sets[i + 1:]:
            shared = len(np.intersect1d(a, b, assume_unique=True))
            rows.append((name_a, name_b, str(len(a)), str(len(b)),
                         str(shared), _share(shared, len(a)),
                         _share(shared, len(b))))
    return rows


def overlap_csv(audiences):
    """The table; audience names, which hold folder names, are text
    cells: quoted when needed and never evaluated as a formula
    (:func:`audience.output.csv_text`)."""
    from audience.output import csv_text
    return csv_text(COLUMNS, overlap_rows(audiences),
                    text_columns=("aid_a", "aid_b"))


def is_overlap_csv(path):
    """Whether the file ``path`` begins with the header line of
    :func:`overlap_csv`: a table this code wrote."""
    header = (",".join(COLUMNS) + "\n").encode()
    try:
        with open(path, "rb") as f:
            return f.read(len(header)) == header
    except OSError:
        return False


NO_SHARED_CANDIDATE = (
    "the campaigns share no candidate (each campaign's candidates are its "
    "own rows of the candidate file, users named by row or by uids no two "
    "campaigns share), so no two audiences can overlap and overlap.csv "
    "holds only zeros; to compare audiences over the same users, expand "
    "against a user table (--users)")


def share_candidates(expansions):
    """Whether any user is a candidate of two campaigns of the run (every
    candidate scored, not only the audiences): if none is, no two
    audiences can overlap, whatever their sizes."""
    seen = np.zeros(0, np.int64)
    for e in expansions:
        uids = np.unique(np.asarray(e.uid, np.int64))
        if len(np.intersect1d(seen, uids, assume_unique=True)):
            return True
        seen = np.union1d(seen, uids)
    return False


def of_expansions(expansions):
    """The delivered audiences of a run, named by aid."""
    return [(e.aid, e.uid[e.order[:e.audience_size]]) for e in expansions]


def read_audience(path):
    """The uids of an ``audience.csv`` (an error naming the file when it
    has no integer uid column)."""
    import pandas as pd
    from dataio.stage_files import DataError
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError("%s is empty: an audience.csv has a header line "
                        "uid,score,rank,... and a line per user" % path)
    if "uid" not in frame.columns or frame["uid"].dtype.kind not in "iu":
        raise DataError("%s has no integer uid column: not an audience.csv "
                        "of tools/expand.py" % path)
    return frame["uid"].to_numpy()


def folder_audiences(folders):
    """[(name, uids)] of the campaigns of earlier expansion outputs (each
    ``<folder>/<aid>/audience.csv``, in aid order); named by aid, or by
    folder/aid when an aid occurs in more than one folder."""
    found = []
    for folder in folders:
        if not os.path.isdir(folder):
            raise FileNotFoundError("%s is not a folder (give the --out "
                                    "folders of tools/expand.py)" % folder)
        # campaign ids may be negative (hashed, signed 64-bit)
        aids = sorted(int(n) for n in os.listdir(folder)
                      if re.match(r"-?\d+\Z", n) and
                      os.path.isfile(os.path.join(folder, n, "audience.csv")))
        if not aids:
            raise FileNotFoundError("%s holds no <aid>/audience.csv: not an "
                                    "output of tools/expand.py" % folder)
        found += [(folder, aid) for aid in aids]
    repeated = {a for a in (aid for _, aid in found)
                if sum(aid == a for _, aid in found) > 1}
    names = _folder_names(folders)
    return [("%s/%d" % (names[folder], aid) if aid in repeated else str(aid),
             read_audience(os.path.join(folder, str(aid), "audience.csv")))
            for folder, aid in found]


def _folder_names(folders):
    """Each folder's last part, or its path as given when two share it."""
    last = {f: os.path.basename(os.path.normpath(f)) for f in folders}
    clash = {n for n in last.values() if list(last.values()).count(n) > 1}
    return {f: (os.path.normpath(f) if n in clash else n)
            for f, n in last.items()}
