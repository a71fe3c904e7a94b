"""Turn the raw Tencent 2018 Look-alike files into MetaHeac's released format.

    python -m tools.preprocess --raw DIR --out DIR [--cold-threshold 2000]
        [--seed 2021] [--force] [--workers N] [--verify]

Reads ``adFeature.csv``, ``userFeature.data``, ``train.csv`` (seed sets) and
``test1_truth.csv`` (candidates, no header) from ``--raw`` and writes

    train_data/train_stage1.pkl        seed rows of the train campaigns
    test_hot_data/test_hot_stage{1,2}.pkl    seeds / candidates of hot test
    test_cold_data/test_cold_stage{1,2}.pkl  campaigns, and of cold ones
    max_idxs.yaml                      hyper_parameters.max_idxs (last)

Campaigns (aid of train.csv) are split with ``--seed``: floor(n/2) train,
the rest test; a test campaign with at most ``--cold-threshold`` positive
seed rows is cold, the others hot. Stage 1 holds a campaign's train.csv
rows, stage 2 its test1_truth.csv rows, in file order. Labels -1 become 0.

Id convention (every categorical field, user and ad): raw values are
re-indexed densely in ascending raw order to 1..K; index 0 means "missing"
for static and ad fields and is the pad of the dynamic lists, whose
``<field>_length`` counts the real leading ids (0 for a user without the
field). The inclusive maximum of a field is K, so every id, pad included,
lies in [0, K]. User ids are dense over the users of the written rows
(dynamic fields over their kept first 10 or 5 ids), ad ids over
adFeature.csv. ``aid`` stays the raw campaign id. A static field's extra
values and a field's repeats on a line are ignored (the first wins).

The user file (~4 GB at full size) is parsed in byte chunks with numpy (in
``--workers`` processes): the tokens of a chunk are located from separator
masks and the integers decoded digit by digit over all tokens at once; no
Python code runs per line. Measured on a 34 MB chunk, this takes 1.2 s of
CPU where pandas ``str.split``/``explode`` takes 8.7 s before even placing
the values.
"""
import argparse
import contextlib
import logging
import multiprocessing
import os
import resource
import sys
import time

import numpy as np
import pandas as pd
import yaml

if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))

from dataio.frames import atomic_write, write_pickle  # noqa: E402
from dataio.schema import (AD_FIELDS, AID_COL, ALL_COLUMNS,  # noqa: E402
                                DYNAMIC_FIELDS, DYNAMIC_NAMES, LABEL_COL,
                                LENGTH_COLS, STATIC_FIELDS)

log = logging.getLogger("preprocess")

ADS_FILE, USERS_FILE = "adFeature.csv", "userFeature.data"
SEEDS_FILE, CANDIDATES_FILE = "train.csv", "test1_truth.csv"
ROW_COLS = ("aid", "uid", "label")
OUTPUTS = {
    "train": "train_data/train_stage1.pkl",
    "hot1": "test_hot_data/test_hot_stage1.pkl",
    "hot2": "test_hot_data/test_hot_stage2.pkl",
    "cold1": "test_cold_data/test_cold_stage1.pkl",
    "cold2": "test_cold_data/test_cold_stage2.pkl",
}
MAX_IDXS_FILE = "max_idxs.yaml"
# small chunks: their temporaries reuse heap memory; 64 MB chunks spent
# more time faulting in fresh pages than parsing
CHUNK_BYTES = 8 << 20


def default_workers():
    return max(1, min(4, len(os.sched_getaffinity(0))
                      if hasattr(os, "sched_getaffinity") else
                      os.cpu_count() or 1))


class PreprocessError(Exception):
    """Bad input or refused output; the message names the file."""


@contextlib.contextmanager
def _phase(name):
    start = time.perf_counter()
    yield
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    log.info("%-28s %7.1fs  (peak RSS so far %.2f GiB)", name,
             time.perf_counter() - start, peak)


def _ramp(counts):
    """0..c-1 for every c in counts, concatenated."""
    return (np.arange(int(counts.sum())) -
            np.repeat(np.cumsum(counts) - counts, counts))


def _members(sorted_values, query):
    """Boolean mask: query values present in the sorted array."""
    if len(sorted_values) == 0:
        return np.zeros(len(query), bool)
    pos = np.minimum(np.searchsorted(sorted_values, query),
                     len(sorted_values) - 1)
    return sorted_values[pos] == query


# ---------------------------------------------------------------- csv files

def _require(path):
    if not os.path.isfile(path):
        raise PreprocessError("missing raw file %s" % path)


def read_rows(path, header):
    """(aid, uid, label) int64 arrays of train.csv / test1_truth.csv, label
    mapped {1: 1, -1: 0, 0: 0}."""
    _require(path)
    with open(path) as f:
        first = f.readline().strip()
    # test1_truth.csv ships without a header; tolerate one all the same
    if first.split(",")[0].strip().lstrip("-").isdigit() and not header:
        n_cols = len(first.split(","))
        if n_cols < 3:
            raise PreprocessError("%s: expected 3 columns aid,uid,label, "
                                  "found %d" % (path, n_cols))
        kwargs = dict(header=None, names=list(ROW_COLS), usecols=[0, 1, 2])
    else:
        present = [c.strip() for c in first.split(",")]
        missing = [c for c in ROW_COLS if c not in present]
        if missing:
            raise PreprocessError("%s lacks column(s) %s (header: %s)" %
                                  (path, ", ".join(missing), first))
        kwargs = dict(usecols=list(ROW_COLS))
    try:
        df = pd.read_csv(path, dtype=np.int64, **kwargs)
    except ValueError as e:
        raise PreprocessError("%s: non-integer aid/uid/label: %s" % (path, e))
    label = df["label"].to_numpy()
    bad = ~np.isin(label, (1, 0, -1))
    if bad.any():
        raise PreprocessError("%s: label %d is not 1, 0 or -1" %
                              (path, label[bad][0]))
    return (df["aid"].to_numpy(), df["uid"].to_numpy(),
            (label == 1).astype(np.int64))


class Ads:
    """Dense ad-field ids per aid; unknown aids get the missing index 0."""

    def __init__(self, path):
        _require(path)
        cols = ("aid", ) + AD_FIELDS
        present = pd.read_csv(path, nrows=0).columns
        missing = [c for c in cols if c not in present]
        if missing:
            raise PreprocessError("%s lacks column(s) %s" %
                                  (path, ", ".join(missing)))
        df = pd.read_csv(path, usecols=list(cols))
        if len(df) == 0:
            raise PreprocessError("%s holds no ads" % path)
        if df["aid"].isna().any() or df["aid"].duplicated().any():
            raise PreprocessError("%s: aid must be unique and present" % path)
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


# --------------------------------------------------------- userFeature.data

_BAR, _NEWLINE = ord("|"), ord("\n")
USER_FIELDS = ("uid", ) + STATIC_FIELDS + DYNAMIC_NAMES
_WIDTH = dict(DYNAMIC_FIELDS)


def _name_key(buf, start, stop):
    """Length, first two and last byte of each token in one uint32: unique
    over the competition's 27 field names, and three gathers only."""
    key = np.minimum(stop - start, 255).astype(np.uint32) << 24
    key |= buf[start].astype(np.uint32) << 16
    key |= buf[start + 1].astype(np.uint32) << 8
    key |= buf[stop - 1]
    return key


def _known_keys():
    keys = [_name_key(np.frombuffer(name.encode() + b" ", np.uint8),
                      np.array([0]), np.array([len(name)]))[0]
            for name in USER_FIELDS]
    assert len(set(keys)) == len(keys)
    order = np.argsort(keys)
    return np.array(keys, np.uint32)[order], order.astype(np.int8)


_KEYS, _KEY_FIELD = _known_keys()


def _decode_ints(buf, start, stop, where):
    """Non-negative decimal integers of the given tokens."""
    length = stop - start
    top = int(length.max()) if len(length) else 0
    if top > 18:
        raise PreprocessError("%s: a value of %d digits" % (where, top))
    value = np.zeros(len(start), np.int64)
    for k in range(top):
        live = np.flatnonzero(length > k) if k else slice(None)
        digit = buf[start[live] + k] - np.uint8(48)
        if (digit > 9).any():
            bad = start[live][digit > 9][0]
            end = bad + np.argmax(buf[bad:] <= 32)
            raise PreprocessError("%s: non-integer value %r" % (
                where, bytes(buf[bad:end]).decode("replace")))
        value[live] = value[live] * 10 + digit
    return value


def _compact(raw):
    """uint32 when the values fit: half the memory until re-indexing."""
    return raw.astype(np.uint32) if raw.size and raw.max() < 1 << 32 else raw


class _Chunk:
    """The wanted users of one chunk of lines, raw values + 1 (0: missing)."""

    def __init__(self, buf, offset, wanted, path):
        where = "%s (chunk at byte %d)" % (path, offset)
        # separators: space, tab, \r, \n (all <= 32) and '|'
        sep = buf <= 32
        sep |= buf == _BAR
        # buf starts with a token and ends with '\n'
        start = np.flatnonzero(sep[:-1] > sep[1:]) + 1
        start = np.concatenate([[0], start]) if not sep[0] else start
        stop = np.flatnonzero(sep[1:] > sep[:-1]) + 1
        del sep
        # a field name follows '|' or a line start; buf[-1] is '\n', so it
        # stands for the byte before the first token
        before = buf[start - 1]
        names = np.flatnonzero((before == _BAR) | (before == _NEWLINE))
        line = np.cumsum(before[names] == _NEWLINE) - 1
        del before
        n_lines = int(line[-1]) + 1 if len(line) else 0
        count = np.diff(names, append=len(start)) - 1
        key = _name_key(buf, start[names], stop[names])
        pos = np.minimum(np.searchsorted(_KEYS, key), len(_KEYS) - 1)
        field = np.where(_KEYS[pos] == key, _KEY_FIELD[pos], -1)
        self._check_names(buf, start[names], stop[names], field, where)
        # name instances grouped by field, in line order within a field
        order = np.argsort(field, kind="stable")
        bounds = np.searchsorted(field[order], np.arange(len(USER_FIELDS) + 1))

        # the tokens to decode: uid, first value of each static field, the
        # first `width` values of each dynamic field
        lines, slots, tokens, sizes = [], [], [], []
        for f, name in enumerate(USER_FIELDS):
            inst = order[bounds[f]:bounds[f + 1]]
            if f:  # a field repeated on a line: its first instance wins
                inst = inst[np.diff(line[inst], prepend=-1) != 0]
            width = _WIDTH.get(name, 1)
            m = np.minimum(count[inst], width)
            ramp = _ramp(m)
            lines.append(np.repeat(line[inst], m))
            slots.append(ramp)
            tokens.append(np.repeat(names[inst] + 1, m) + ramp)
            sizes.append(len(ramp))
            if f == 0 and (len(inst) != n_lines or (m != 1).any() or
                           (np.bincount(line[inst], minlength=n_lines) !=
                            1).any()):
                raise PreprocessError("%s: every line needs exactly one "
                                      "'uid <id>' field" % where)
        tokens = np.concatenate(tokens)
        values = _decode_ints(buf, start[tokens], stop[tokens], where) + 1
        split = np.cumsum(sizes)[:-1]
        lines, slots = np.split(np.concatenate(lines), split), \
            np.split(np.concatenate(slots), split)
        values = np.split(values, split)

        uid = np.empty(n_lines, np.int64)
        uid[lines[0]] = values[0] - 1
        keep = _members(wanted, uid)
        self.uid = uid[keep]
        self.static = np.zeros((n_lines, len(STATIC_FIELDS)), np.int64)
        for i in range(len(STATIC_FIELDS)):
            # extra values of a single-valued field are ignored
            self.static[lines[1 + i], i] = values[1 + i]
        self.static = _compact(self.static[keep])
        self.dynamic, self.length = [], []
        for i, name in enumerate(DYNAMIC_NAMES, 1 + len(STATIC_FIELDS)):
            ids = np.zeros((n_lines, _WIDTH[name]), np.int64)
            ids[lines[i], slots[i]] = values[i]
            self.dynamic.append(_compact(ids[keep]))
            self.length.append(np.bincount(lines[i], minlength=n_lines)[keep]
                               .astype(np.int8))

    @staticmethod
    def _check_names(buf, start, stop, field, where):
        """The key lookup is only a hash: compare the first instance of each
        matched field name in full."""
        known = np.flatnonzero(field >= 0)[::-1]
        first = np.full(len(USER_FIELDS), -1)
        first[field[known]] = known  # reversed: the first instance wins
        for f, i in enumerate(first):
            if i >= 0 and bytes(buf[start[i]:stop[i]]) != \
                    USER_FIELDS[f].encode():
                raise PreprocessError("%s: unexpected field name %r" % (
                    where, bytes(buf[start[i]:stop[i]]).decode("replace")))


def _line_ranges(path, size):
    """[start, stop) byte ranges of whole lines, about ``size`` long."""
    total = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as f:
        while bounds[-1] < total:
            f.seek(min(bounds[-1] + size, total))
            f.readline()  # on to the end of the line
            bounds.append(min(f.tell(), total))
    return list(zip(bounds[:-1], bounds[1:]))


_WANTED = None  # the uids to keep, set in each worker


def _init_worker(wanted):
    global _WANTED
    _WANTED = wanted


def _parse_range(job):
    path, lo, hi = job
    with open(path, "rb") as f:
        f.seek(lo)
        data = f.read(hi - lo)
    if not data.endswith(b"\n"):
        data += b"\n"
    return _Chunk(np.frombuffer(data, np.uint8), lo, _WANTED, path)


def _parse_users(path, wanted, chunk_bytes, workers):
    """_Chunk of every range of the file, in file order."""
    jobs = [(path, lo, hi) for lo, hi in _line_ranges(path, chunk_bytes)]
    if workers <= 1 or len(jobs) <= 1:
        _init_worker(wanted)
        return [_parse_range(job) for job in jobs]
    # fork: the workers inherit `wanted` without a copy
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ctx.Pool(min(workers, len(jobs)), _init_worker, (wanted, )) as pool:
        return list(pool.imap(_parse_range, jobs))


def _dense(raw):
    """Dense 1..K ids of raw values + 1 (0 stays 0), and K."""
    top = int(raw.max()) if raw.size else 0
    if top < 1 << 27:
        # ~O(n) rank through a presence table: np.unique would sort ~10^8 ids
        rank = np.zeros(top + 1, np.int32)
        rank[raw.ravel()] = 1
        rank[0] = 0
        k = int(rank.sum())
        np.cumsum(rank, out=rank)
        return rank[raw], k
    vocab, inverse = np.unique(raw, return_inverse=True)
    ids = inverse.reshape(raw.shape).astype(np.int32)
    if vocab[0] != 0:  # no missing value at all: shift so 0 stays missing
        ids += 1
    return ids, len(vocab) - (vocab[0] == 0)


class Users:
    """Dense user-field ids, one row per wanted user and a last all-missing
    row for users that userFeature.data lacks."""

    def __init__(self, path, wanted, chunk_bytes=CHUNK_BYTES, workers=1):
        _require(path)
        chunks = _parse_users(path, wanted, chunk_bytes, workers)
        self.uid = np.concatenate([c.uid for c in chunks] +
                                  [np.zeros(0, np.int64)])
        self.static, self.dynamic, self.length = [], [], []
        maxima = ([], [])
        # the zero row: the all-missing user
        static = np.concatenate([c.static for c in chunks] +
                                [np.zeros((1, len(STATIC_FIELDS)), np.uint32)])
        for i in range(len(STATIC_FIELDS)):
            ids, k = _dense(static[:, i])
            self.static.append(ids)
            maxima[0].append(k)
        del static
        for i, name in enumerate(DYNAMIC_NAMES):
            raw = np.concatenate([c.dynamic[i] for c in chunks] +
                                 [np.zeros((1, _WIDTH[name]), np.uint32)])
            for c in chunks:
                c.dynamic[i] = None  # free the raw pieces as we go
            ids, k = _dense(raw)
            self.dynamic.append(ids)
            maxima[1].append(k)
            self.length.append(np.concatenate(
                [c.length[i] for c in chunks] + [np.zeros(1, np.int8)]))
        self.maxima = [list(m) for m in maxima]
        order = np.argsort(self.uid, kind="stable")
        self._sorted_uid, self._order = self.uid[order], order
        dup = self._sorted_uid[1:] == self._sorted_uid[:-1]
        if dup.any():
            log.warning("%s repeats %d uids; the first line of each wins",
                        path, dup.sum())

    def __len__(self):
        return len(self.uid)

    def rows(self, uid):
        found = _members(self._sorted_uid, uid)
        if not found.any():
            return np.full(len(uid), len(self))
        if not found.all():
            log.warning("%d rows name a uid absent from %s: user fields set "
                        "to the missing index", (~found).sum(), USERS_FILE)
        pos = np.searchsorted(self._sorted_uid, uid)
        return np.where(found, self._order[np.minimum(pos, len(self) - 1)],
                        len(self))


# ------------------------------------------------------------------ outputs

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


def write_max_idxs(max_idxs, path):
    text = yaml.safe_dump({"hyper_parameters": {"max_idxs": max_idxs}},
                          default_flow_style=None, sort_keys=False)
    atomic_write(path, lambda f: f.write(text.encode()))


# -------------------------------------------------------------------- split

def split_campaigns(seeds, seed, cold_threshold):
    """(train, hot, cold) sorted aid arrays of the seed-set campaigns."""
    aid, _, label = seeds
    aids = np.unique(aid)
    if len(aids) < 2:
        raise PreprocessError("%s names %d campaign(s); the split needs at "
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


# --------------------------------------------------------------------- main

def output_paths(out_dir):
    return ({k: os.path.join(out_dir, v) for k, v in OUTPUTS.items()},
            os.path.join(out_dir, MAX_IDXS_FILE))


def preprocess(raw_dir, out_dir, cold_threshold=2000, seed=2021, force=False,
               verify=False, workers=None, chunk_bytes=CHUNK_BYTES):
    """Write the released files; returns max_idxs [[static], [dyn], [ad]]."""
    frames, yaml_path = output_paths(out_dir)
    if not force:
        for path in list(frames.values()) + [yaml_path]:
            if os.path.exists(path):
                raise PreprocessError("refusing to overwrite %s (pass --force)"
                                      % path)
    raw = lambda name: os.path.join(raw_dir, name)  # noqa: E731
    for name in (ADS_FILE, USERS_FILE, SEEDS_FILE, CANDIDATES_FILE):
        _require(raw(name))
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
        candidates = _select(candidates, test)
        wanted = np.unique(np.concatenate([seeds[1], candidates[1]]))
    log.info("campaigns: %d train, %d hot, %d cold (threshold %d positives)",
             len(train), len(hot), len(cold), cold_threshold)
    with _phase("parse %s" % USERS_FILE):
        users = Users(raw(USERS_FILE), wanted, chunk_bytes,
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
                back = pd.read_pickle(frames[key])
                if list(back.columns) != list(ALL_COLUMNS):
                    raise PreprocessError("%s reads back with columns %s" %
                                          (frames[key], list(back.columns)))
                del back
    write_max_idxs(max_idxs, yaml_path)
    return max_idxs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--raw", required=True, help="directory of the raw files")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--cold-threshold", type=int, default=2000,
                   help="test campaigns with at most this many positive "
                   "seed rows are cold (default 2000)")
    p.add_argument("--seed", type=int, default=2021,
                   help="seed of the train/test campaign split")
    p.add_argument("--force", action="store_true",
                   help="overwrite existing output files")
    p.add_argument("--workers", type=int, default=None,
                   help="processes parsing %s (default: min(4, cores))"
                   % USERS_FILE)
    p.add_argument("--verify", action="store_true",
                   help="read every output back with pandas.read_pickle")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    start = time.perf_counter()
    try:
        max_idxs = preprocess(args.raw, args.out, args.cold_threshold,
                              args.seed, args.force, args.verify,
                              args.workers)
    except PreprocessError as e:
        log.error("%s", e)
        return 2
    log.info("done in %.1fs", time.perf_counter() - start)
    print("max_idxs: %s" % (max_idxs, ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
