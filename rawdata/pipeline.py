"""Raw competition files -> the released stage files, as the paper's code
splits them (the library behind ``tools/preprocess.py``; its docstring
states the rules)."""
import contextlib
import logging
import os
import resource
import time

import numpy as np
import pandas as pd

from dataio import schema, stage_files
from dataio.frames import write_pickle
from dataio.schema import (AD_FIELDS, AID_COL, ALL_COLUMNS, DYNAMIC_NAMES,
                           LABEL_COL, LENGTH_COLS, STATIC_FIELDS)
from dataio.user_table import write_user_table
from dataio.vocabulary import MAX_IDXS_FILE, yaml_text
from rawdata.files import (ADS_FILE, CANDIDATES_FILE, SEEDS_FILE, USERS_FILE,
                           Ads, RawDataError, read_rows, require)
from rawdata.reindex import Users
from rawdata.user_parser import CHUNK_BYTES, default_workers
from dataio.atomic import write_text
from runkit.cli import Refused

log = logging.getLogger("metaheac")

OUTPUTS = {
    "train": "train_data/train_stage1.pkl",
    "hot1": "test_hot_data/test_hot_stage1.pkl",
    "hot2": "test_hot_data/test_hot_stage2.pkl",
    "cold1": "test_cold_data/test_cold_stage1.pkl",
    "cold2": "test_cold_data/test_cold_stage2.pkl",
}
USERS_DIR, ADS_OUT = "users", "ads.csv"


@contextlib.contextmanager
def _phase(name):
    start = time.perf_counter()
    yield
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    log.info("%-28s %7.1fs  (peak RSS so far %.2f GiB)", name,
             time.perf_counter() - start, peak)


def build_frame(rows, users, ads):
    """The released 29-column DataFrame of (aid, uid, label) rows, and the
    (cells, block) pairs of its list columns for :class:`FramePickler`."""
    aid, uid, label = rows
    u, a = users.rows(uid), ads.rows(aid)
    # the 22 int columns filled in place in one [22, n] array, which the
    # frame adopts: no per-column temporaries, no consolidation copy
    names = [c for c in ALL_COLUMNS if c not in DYNAMIC_NAMES]
    ints = np.empty((len(names), len(u)), np.int64)
    row = dict(zip(names, ints))
    row[LABEL_COL][:], row[AID_COL][:] = label, aid
    for name, ids in zip(STATIC_FIELDS, users.static):
        row[name][:] = ids[u]
    for name, length in zip(LENGTH_COLS, users.length):
        row[name][:] = length[u]
    for name in AD_FIELDS:
        row[name][:] = ads.ids[name][a]
    df = pd.DataFrame(ints.T, columns=names, copy=False)
    blocks = []
    for name, ids in zip(DYNAMIC_NAMES, users.dynamic):
        # one int64 array per cell, as row views of one block: cheap to make
        block = ids[u].astype(np.int64)
        cells = np.empty(len(u), object)
        cells[:] = list(block)
        # insert keeps each list column in a block of its own (no
        # consolidation), which FramePickler writes as one array
        df.insert(ALL_COLUMNS.index(name), name, cells)
        blocks.append((cells, block))
    assert tuple(df.columns) == ALL_COLUMNS
    return df, blocks


def split_campaigns(seeds, seed, cold_threshold):
    """(train, hot, cold) sorted aid arrays of the seed-set campaigns."""
    aid, _, label = seeds
    aids = np.unique(aid)
    if len(aids) < 2:
        raise RawDataError("%s names %d campaign(s); the split needs at "
                              "least 2" % (SEEDS_FILE, len(aids)))
    shuffled = np.random.default_rng(seed).permutation(aids)
    train = np.sort(shuffled[:len(aids) // 2])
    test = np.sort(shuffled[len(aids) // 2:])
    positives = np.bincount(np.searchsorted(aids, aid[label == 1]),
                            minlength=len(aids))[np.searchsorted(aids, test)]
    cold = positives <= cold_threshold
    return train, test[~cold], test[cold]


def _select(rows, aids):
    keep = np.isin(rows[0], aids)
    return tuple(col[keep] for col in rows)


def _verify(path, campaigns, max_idxs):
    """Read an output back through the project's own checked, safe reader
    (columns, list widths, lengths, id ranges against ``max_idxs``, labels)
    and check its campaign count."""
    stage = stage_files.read_stage(path, schema.IdMaxima.from_config(max_idxs),
                                   use_cache=False)
    found = len(np.unique(stage.aid))
    if found != campaigns:
        raise RawDataError("%s reads back with %d campaigns, %d were written"
                           % (path, found, campaigns))


def seed_pairs(candidates, seeds):
    """Mask of the candidate rows whose (aid, uid) pair is also a seed row:
    a user who is both a seed and a candidate of one campaign leaks the
    answer into the seed set, so the meta-test would score a user it was
    fine-tuned on."""
    if not len(candidates[0]):
        return np.zeros(0, bool)
    # dense codes, so that one int64 key holds a pair at any id size
    _, a = np.unique(np.concatenate([candidates[0], seeds[0]]),
                     return_inverse=True)
    uids, u = np.unique(np.concatenate([candidates[1], seeds[1]]),
                        return_inverse=True)
    key = a.astype(np.int64) * len(uids) + u
    n = len(candidates[0])
    return np.isin(key[:n], key[n:])


def drop_seed_pairs(candidates, seeds, keep=False):
    """The candidates without the rows :func:`seed_pairs` finds (all of
    them with ``keep``), after a warning that counts them."""
    leaked = seed_pairs(candidates, seeds)
    if leaked.any():
        campaigns = np.unique(candidates[0][leaked])
        log.warning(
            "%d row(s) of %s in %d test campaign(s) (aid %s) pair a user "
            "with a campaign whose seed set in %s holds that user too: %s",
            leaked.sum(), CANDIDATES_FILE, len(campaigns),
            ", ".join(str(a) for a in campaigns[:10]) +
            (", ..." if len(campaigns) > 10 else ""), SEEDS_FILE,
            "kept (--keep-seed-candidates)" if keep else
            "dropped from the candidates (--keep-seed-candidates keeps them)")
    else:
        log.info("no candidate is also a seed of its campaign")
    if keep:
        return candidates
    return tuple(col[~leaked] for col in candidates)


def output_paths(out_dir):
    return ({k: os.path.join(out_dir, v) for k, v in OUTPUTS.items()},
            os.path.join(out_dir, MAX_IDXS_FILE))


def write_ads(ads, path):
    """ads.csv: aid and the 6 ad fields' dense ids, for tools/expand.py."""
    columns = ("aid", ) + AD_FIELDS
    lines = [",".join(columns)] + [
        ",".join(str(int(v)) for v in row) for row in zip(
            ads.aid, *(ads.ids[name][:-1] for name in AD_FIELDS))]
    write_text(path, "\n".join(lines) + "\n")


def write_users(users, folder):
    """The user table (dataio.user_table) of every parsed user."""
    n = len(users)
    features = np.concatenate(
        [np.stack([ids[:n] for ids in users.static], axis=1)] +
        [ids[:n] for ids in users.dynamic] +
        [np.stack([length[:n] for length in users.length], axis=1)],
        axis=1).astype(np.int64)
    write_user_table(folder, users.uid, features)


def preprocess(raw_dir, out_dir, cold_threshold=2000, seed=2021, force=False,
               verify=False, workers=None, chunk_bytes=CHUNK_BYTES,
               user_table=False, keep_seed_candidates=False):
    """Write the released files; returns max_idxs [[static], [dyn], [ad]].
    With ``user_table`` every user of userFeature.data is kept (so the
    vocabularies cover them all) and ``users/`` (a user table) and
    ``ads.csv`` are written too, for audience expansion. A candidate row
    whose user is also a seed of its campaign is dropped unless
    ``keep_seed_candidates`` (:func:`drop_seed_pairs`)."""
    frames, yaml_path = output_paths(out_dir)
    if not force:
        for path in list(frames.values()) + [yaml_path]:
            if os.path.exists(path):
                raise Refused("refusing to overwrite %s (pass --force)" %
                              path)
    raw = lambda name: os.path.join(raw_dir, name)  # noqa: E731
    for name in (ADS_FILE, USERS_FILE, SEEDS_FILE, CANDIDATES_FILE):
        require(raw(name))
    if force and os.path.exists(yaml_path):
        # written last, it marks a complete set: a forced run that dies
        # half-way must not leave it beside a mix of old and new files
        os.remove(yaml_path)

    with _phase("read csv files"):
        ads = Ads(raw(ADS_FILE))
        seeds = read_rows(raw(SEEDS_FILE), header=True)
        candidates = read_rows(raw(CANDIDATES_FILE), header=False)
        train, hot, cold = split_campaigns(seeds, seed, cold_threshold)
        test = np.concatenate([hot, cold])
        unseen = np.setdiff1d(candidates[0], np.concatenate([train, test]))
        if len(unseen):
            log.warning("%d campaign(s) of %s have no seed set: dropped",
                        len(unseen), CANDIDATES_FILE)
        candidates = drop_seed_pairs(_select(candidates, test),
                                     _select(seeds, test),
                                     keep_seed_candidates)
        wanted = np.unique(np.concatenate([seeds[1], candidates[1]]))
    log.info("campaigns: %d train, %d hot, %d cold (threshold %d positives)",
             len(train), len(hot), len(cold), cold_threshold)
    with _phase("parse %s" % USERS_FILE):
        users = Users(raw(USERS_FILE), None if user_table else wanted,
                      chunk_bytes,
                      default_workers() if workers is None else workers)
    log.info("%d of %d referenced users found", len(users), len(wanted))
    max_idxs = [users.maxima[0], users.maxima[1], ads.maxima]

    jobs = (("train", seeds, train), ("hot1", seeds, hot),
            ("hot2", candidates, hot), ("cold1", seeds, cold),
            ("cold2", candidates, cold))
    for key, rows, aids in jobs:
        with _phase("write %s" % OUTPUTS[key]):
            df, blocks = build_frame(_select(rows, aids), users, ads)
            write_pickle(df, frames[key], blocks)
            log.info("%s: %d rows, %d campaigns", OUTPUTS[key], len(df),
                     df[AID_COL].nunique())
            del df, blocks
        if verify:
            with _phase("verify %s" % OUTPUTS[key]):
                _verify(frames[key], len(aids), max_idxs)
    if user_table:
        with _phase("write users/ and ads.csv"):
            write_users(users, os.path.join(out_dir, USERS_DIR))
            write_ads(ads, os.path.join(out_dir, ADS_OUT))
    write_text(yaml_path, yaml_text(max_idxs))
    return max_idxs
