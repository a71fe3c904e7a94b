"""Campaigns to expand, from files.

Form 1, feature rows (the released stage format): a seed file and a
candidate file, each possibly holding several campaigns (``aid``); every
campaign of the seed file is expanded against its own rows of the
candidate file. Neither needs a ``label`` column (the candidates' labels,
if present, only feed the report). A ``uid`` column identifies users;
without one, the row's index in the frame does, and then seeds cannot be
matched among the candidates (two files' row indices are not the same
users), so none are excluded, with a warning.

Valued seeds (both forms): an optional ``value`` column on the seeds (a
number >= 0, e.g. the order value) weights each seed's loss in
fine-tuning (``audience.training_set.seed_weights``). It is checked when the
files are read, before any model is loaded.
"""
import logging
import os

import numpy as np

from dataio import schema
from dataio.campaign import Campaign, Skipped, TableCampaign
from dataio.campaigns import CampaignIndex
from dataio.stage_files import DataError, frame_to_arrays, read_frame

logger = logging.getLogger("metaheac")

UID_COL = "uid"
VALUE_COL = "value"


def frame_rows(df, name, maxima):
    """(stage arrays, uids, whether a label column exists, whether the uids
    come from a uid column) of a released-format DataFrame; ``name`` (a
    file name) is what error messages call it."""
    stage = frame_to_arrays(df, name, maxima, label_required=False)
    has_uid = UID_COL in df.columns
    if has_uid:
        uid = df[UID_COL].to_numpy()
        if uid.dtype.kind not in "iu":
            raise DataError("%s: column 'uid' must hold integer user ids" % name)
    else:
        uid = df.index.to_numpy()
        if uid.dtype.kind not in "iu":
            raise DataError("%s has no 'uid' column and its index is not "
                            "integer: add a uid column" % name)
    if len(np.unique(uid)) != len(uid):
        logger.warning("%s: %d repeated uids", name, len(uid) - len(np.unique(uid)))
    return stage, uid.astype(np.int64), schema.LABEL_COL in df.columns, has_uid


def seed_values(df, name, first_line=None):
    """The seeds' ``value`` column as float64 (None without one). A value
    that is missing, not a number, negative or infinite is a one-line
    error naming ``name`` and the row: the frame's position (and index),
    or, for a CSV whose first data row is line ``first_line``, its line."""
    if VALUE_COL not in df.columns:
        return None
    import pandas as pd
    raw = df[VALUE_COL]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if len(bad):
        at = int(bad[0])
        where = "line %d" % (first_line + at) if first_line else \
            "row %d (index %s)" % (at, shown(df.index[at]))
        cell = shown(raw.iloc[at])
        raise DataError(
            "%s, %s: %s (column 'value' weights each seed in fine-tuning)%s"
            % (name, where, "value missing: every seed needs a number >= 0"
               if cell == "missing" else
               "value %s is infinite: every seed needs a finite number >= 0"
               % cell if np.isinf(values[at]) else
               "value %s is not a number >= 0" % cell,
               "" if len(bad) == 1 else "; %d rows like it" % len(bad)))
    return values


def shown(cell):
    """A cell of a file as a message shows it: ``missing``, a plain
    number (numpy's scalars print as ``np.float64(-2.5)``), or a text in
    quotes."""
    import pandas as pd
    if pd.api.types.is_scalar(cell) and pd.isna(cell):
        return "missing"
    return repr(str(cell)) if isinstance(cell, str) else str(cell)


class Campaigns:
    """Campaigns taken one by one as they are iterated, and how many there
    are (``len``: the seed file's aids), so that a long expansion can say
    how far it is (runkit/progress.py)."""

    def __init__(self, items, count):
        self._items, self._count = items, count

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        if self._count is None:
            raise TypeError("the count of these campaigns is not known")
        return self._count


def _aid_count(frame):
    """The distinct aids of a seeds frame; None when its aid column is
    missing or unreadable (the reading of the campaigns says why)."""
    try:
        return int(frame[schema.AID_COL].nunique())
    except (KeyError, TypeError, ValueError):
        return None


def frame_campaigns(seeds, candidates, config, names=("seeds", "candidates"),
                    values=None):
    """The campaigns of form 1 from two DataFrames (in a notebook:
    ``expand(config, frame_campaigns(seeds_df, candidates_df, config),
    0.05)``), in increasing aid order; a campaign with seeds but no
    candidates comes as its ``Skipped``. ``candidates`` None: the
    seeds' own rows stand in (tools/export.py without --candidates needs
    no candidate), so there are no seeds to look for among them.
    ``values``: the seeds' values already read (:func:`seed_values`).
    Taken one by one (:class:`Campaigns`): the rows are read and checked
    when the first is taken."""
    return Campaigns(_frame_campaigns(seeds, candidates, config, names,
                                      values), _aid_count(seeds))


def _frame_campaigns(seeds, candidates, config, names, values):
    if values is None:
        values = seed_values(seeds, names[0])
    maxima = schema.IdMaxima.from_config(config.get("hyper_parameters.max_idxs"))
    seed_stage, seed_uid, seed_labelled, seed_ids = frame_rows(seeds, names[0],
                                                               maxima)
    own_rows = candidates is None
    if own_rows:
        candidates, names = seeds, (names[0], names[0])
    cands, cand_uid, cand_labelled, cand_ids = frame_rows(candidates, names[1],
                                                          maxima)
    matchable = seed_ids and cand_ids
    if not matchable and not own_rows:
        logger.warning("%s has no uid column: users are named by row index, "
                       "and seeds are not looked for among the candidates",
                       names[0] if not seed_ids else names[1])
    seed_index, cand_index = CampaignIndex(seed_stage.aid), CampaignIndex(cands.aid)
    for aid in seed_index.aids:
        k = cand_index.position(aid)
        if k is None:
            yield Skipped(aid, "no candidates in %s (its seeds are in "
                          "%s): add its candidate rows there" %
                          (names[1], names[0]))
            continue
        spt = seed_index.rows(seed_index.position(aid))
        qry = cand_index.rows(k)
        yield Campaign(
            int(aid), seed_stage.inputs(spt), seed_uid[spt],
            seed_stage.labels(spt) if seed_labelled else None,
            cands.inputs(qry), cand_uid[qry],
            cands.labels(qry) if cand_labelled else None,
            exclude_seeds=matchable,
            seed_value=None if values is None else values[spt])


def feature_row_campaigns(seeds_path, candidates_path, config,
                          tool="tools/expand.py"):
    """The campaigns of form 1 from two stage files (``candidates_path``
    None: see :func:`frame_campaigns`); the seeds' values are checked
    here, before the campaigns are taken. ``tool``: the one reading them,
    for the message."""
    for option, path in (("--seeds", seeds_path),
                         ("--candidates", candidates_path)):
        if path and _looks_like_csv(path):
            raise DataError(
                "%s %s is a CSV, not a stage file (a pickled DataFrame of "
                "feature rows): CSVs of uids are read against a user table, "
                "%s --users USERS --ads ADS --seeds SEEDS.csv "
                "[--candidates CANDIDATES.csv]" % (option, path, tool))
    seeds = read_frame(seeds_path)
    return frame_campaigns(seeds, read_frame(candidates_path)
                           if candidates_path else None, config,
                           (seeds_path, candidates_path),
                           seed_values(seeds, seeds_path))


# ----------------------------------------------------- form 2: id lists
# what each CSV must hold, for the messages
SEEDS_CSV = ("a seeds CSV has a header line aid,uid[,label][,value] and a "
             "line per seed user")
CANDIDATES_CSV = ("a candidates CSV has a header line uid[,aid] and a line "
                  "per candidate user")
ADS_CSV = ("an ads CSV has a header line aid,%s and a line per campaign "
           "(tools/preprocess.py --user-table writes one)" %
           ",".join(schema.AD_FIELDS))


# every pickle of protocol 2 or later (pandas writes 4 and 5) starts so
PICKLE_START = b"\x80"


def _first_bytes(path, count=4096):
    with open(path, "rb") as f:
        return f.read(count)


def _looks_like_csv(path):
    """Whether ``path`` (given as a stage file) is a text file whose first
    line has a comma (or is ``uid``): a CSV meant for form 2. Anything else
    is left to the unpickler's own message."""
    if not os.path.isfile(path):
        return False
    start = _first_bytes(path)
    if start.startswith(PICKLE_START) or b"\0" in start:
        return False
    try:
        first = start.decode("utf-8-sig").splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        return False
    return "," in first or first.strip().strip('"') == UID_COL


def _read_csv(path, required, holds, option):
    """The CSV at ``path`` (``option``'s) with the ``required`` integer
    columns; ``holds`` says what such a file must hold, for the
    messages."""
    import pandas as pd
    if not os.path.isfile(path):
        raise FileNotFoundError("%s does not exist" % path)
    if _first_bytes(path).startswith(PICKLE_START):
        raise DataError(
            "%s %s is a pickle (a stage file?), not a CSV: with --users, %s; "
            "stage files are expanded without --users (--seeds SEEDS.pkl "
            "--candidates CANDIDATES.pkl)" % (option, path, holds))
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError("%s is empty: %s" % (path, holds))
    except UnicodeDecodeError as exc:
        raise DataError("%s %s is not a text CSV (%s): %s" % (
            option, path, exc.reason, holds))
    except pd.errors.ParserError as exc:
        raise DataError("%s %s is not a CSV pandas can read (%s): %s" % (
            option, path, str(exc).strip(), holds))
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError("%s lacks column(s) %s (has %s): %s" % (
            path, ", ".join(missing), ", ".join(map(str, df.columns)), holds))
    if df.empty:
        raise DataError("%s has a header but no rows: %s" % (path, holds))
    for column in df.columns:
        if column in required + ("label", ) and df[column].dtype.kind not in "iu":
            raise DataError("%s: column %r must hold integers" % (path, column))
    return df


def user_table_campaigns(table, seeds_csv, ads_csv, candidates_csv=None):
    """Form 2: ``seeds_csv`` (aid,uid[,label][,value]) and ``ads_csv`` (aid
    + the 6 ad fields) against a user table; candidates are every user of
    the table, or the uids of ``candidates_csv`` (uid, and optionally aid
    to give each campaign its own). A campaign missing from ``ads_csv``
    comes as its ``Skipped``. The seeds' file is read and checked
    here (its values too), the campaigns are taken one by one."""
    seeds = _read_csv(seeds_csv, ("aid", "uid"), SEEDS_CSV, "--seeds")
    # line 1 is the header
    values = seed_values(seeds, seeds_csv, first_line=2)
    if values is not None:
        seeds[VALUE_COL] = values
    return Campaigns(_table_campaigns(table, seeds, seeds_csv, ads_csv,
                                      candidates_csv), _aid_count(seeds))


def _table_campaigns(table, seeds, seeds_csv, ads_csv, candidates_csv):
    ads = _read_csv(ads_csv, ("aid", ) + schema.AD_FIELDS, ADS_CSV,
                    "--ads").set_index("aid")
    cands = None
    if candidates_csv:
        cands = _read_csv(candidates_csv, ("uid", ), CANDIDATES_CSV,
                          "--candidates")
        cands["row"] = table.positions(cands["uid"].to_numpy())
        if (cands["row"] < 0).any():
            logger.warning("%s: %d uids are not in the user table %s: "
                           "ignored", candidates_csv,
                           int((cands["row"] < 0).sum()), table.folder)
        cands = cands[cands["row"] >= 0]
    seeds["row"] = table.positions(seeds["uid"].to_numpy())
    for aid, group in seeds.groupby("aid", sort=True):
        if aid not in ads.index:
            yield Skipped(aid, "not in %s: add its ad fields there" %
                          ads_csv)
            continue
        missing = int((group["row"] < 0).sum())
        if missing:
            logger.warning("campaign %s: %d seed uids are not in the user "
                           "table: left out", aid, missing)
        group = group[group["row"] >= 0]
        cand_rows = None
        if cands is not None:
            mine = cands[cands["aid"] == aid] if "aid" in cands.columns \
                else cands
            cand_rows = np.unique(mine["row"].to_numpy())
        yield TableCampaign(
            int(aid), group["row"].to_numpy(),
            group["label"].to_numpy().astype(np.float32)
            if "label" in group.columns else None,
            ads.loc[aid, list(schema.AD_FIELDS)].to_numpy().astype(np.int64),
            cand_rows, group[VALUE_COL].to_numpy()
            if VALUE_COL in group.columns else None)
