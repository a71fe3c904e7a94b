"""Seeded generator of raw Tencent 2018 Look-alike competition files.

Writes ``adFeature.csv``, ``userFeature.data``, ``train.csv`` (the seed sets)
and ``test1_truth.csv`` (the candidates, no header) with the shapes that make
preprocessing non-trivial: users lack some fields, lists have variable
lengths, raw ids are large sparse integers, labels are 1/-1 and campaign
sizes have a long tail.

Everything is vectorised and ``userFeature.data`` is written in chunks of
users, so the full competition size (11 M users) stays memory-bounded.
The text is produced by rendering integers straight into a byte buffer
(:func:`render`), because Python-level string formatting of ~10^9 ids would
dominate the run time.
"""
import os
from dataclasses import dataclass
from typing import NamedTuple, Tuple

import numpy as np
import pandas as pd

from dataio.schema import AD_FIELDS, DYNAMIC_NAMES, STATIC_FIELDS
from rawdata.files import (ADS_FILE, CANDIDATES_FILE, SEEDS_FILE, USERS_FILE,
                           ramp)
from dataio.atomic import atomic_write

# users rendered at once (~8 MB of text): small arrays reuse heap memory
USER_CHUNK = 25_000
ROW_CHUNK = 500_000  # csv rows rendered at once


@dataclass(frozen=True)
class RawSize:
    users: int
    train_rows: int
    test_rows: int
    campaigns: int

    def scaled(self, scale: float) -> "RawSize":
        """The same data shape at ``scale`` x the row and user counts; the
        campaign count stays, so campaign sizes (and the positives a
        cold-start threshold compares against) scale with ``scale``."""
        return RawSize(max(1, round(self.users * scale)),
                       max(1, round(self.train_rows * scale)),
                       max(1, round(self.test_rows * scale)), self.campaigns)


# the preliminary round of the competition: 173 campaigns
FULL_SIZE = RawSize(11_000_000, 8_800_000, 2_300_000, 173)


class UserField(NamedTuple):
    name: str
    presence: float  # probability that a user has the field
    mean_len: float  # lengths: geometric (>= 1) of this mean, clipped
    max_len: int
    vocab: int  # distinct raw values
    raw_range: Tuple[int, int]  # raw values are drawn from [lo, hi]


def _single(name, presence, vocab, raw_range):
    return UserField(name, presence, 1, 1, vocab, raw_range)


# Raw fields in the order the competition file writes them (uid first).
# Sizes follow the real file; ids in sparse ranges so that the dense
# re-index of the preprocessing is exercised.
USER_FIELDS = (
    _single("uid", 1.0, 0, (0, 0)),
    _single("age", 1.0, 6, (0, 5)),
    _single("gender", 1.0, 3, (0, 2)),
    UserField("marriageStatus", 1.0, 1.5, 3, 12, (0, 15)),
    _single("education", 1.0, 8, (0, 7)),
    _single("consumptionAbility", 1.0, 3, (0, 2)),
    _single("LBS", 0.99, 856, (0, 1000)),
    UserField("interest1", 0.9, 15, 38, 122, (1, 130)),
    UserField("interest2", 0.6, 10, 32, 82, (1, 90)),
    UserField("interest3", 0.03, 4, 10, 10, (1, 12)),
    UserField("interest4", 0.03, 4, 10, 10, (1, 12)),
    UserField("interest5", 0.75, 25, 86, 136, (1, 140)),
    UserField("kw1", 0.9, 3, 5, 260_000, (1, 800_000)),
    UserField("kw2", 0.96, 3, 5, 50_000, (1, 800_000)),
    UserField("kw3", 0.05, 3, 5, 11_000, (1, 800_000)),
    UserField("topic1", 0.9, 3, 5, 10_000, (0, 10_000)),
    UserField("topic2", 0.95, 3, 5, 9_980, (0, 10_000)),
    UserField("topic3", 0.05, 3, 5, 5_800, (0, 10_000)),
    UserField("appIdInstall", 0.02, 60, 920, 64_000, (1, 600_000)),
    UserField("appIdAction", 0.01, 30, 500, 6_200, (1, 600_000)),
    UserField("ct", 1.0, 1.5, 4, 5, (0, 4)),
    UserField("os", 1.0, 1.2, 2, 3, (0, 2)),
    _single("carrier", 1.0, 4, (0, 3)),
    _single("house", 0.05, 1, (1, 1)),
)
_NAMES = [f.name for f in USER_FIELDS]
assert set(STATIC_FIELDS + DYNAMIC_NAMES) <= set(_NAMES), \
    "the raw generator must cover every schema field"

AD_COLUMNS = ("aid", "advertiserId", "campaignId", "creativeId",
              "creativeSize", "adCategoryId", "productId", "productType")
assert set(AD_FIELDS) <= set(AD_COLUMNS)

_POW10 = 10**np.arange(1, 19, dtype=np.int64)


def render(values, literal, seps, literals):
    """Render items to bytes, each item followed by its separator byte.

    ``literal[i] >= 0`` renders ``literals[literal[i]]``, otherwise the
    decimal ``values[i]`` (may be negative).
    """
    num = np.flatnonzero(literal < 0)
    neg = values[num] < 0
    mag = np.abs(values[num])
    if len(mag) and mag.max() < 2**32:
        mag = mag.astype(np.uint32)  # ~10x faster division than int64
    top = int(mag.max()) if len(mag) else 0
    digits = np.ones(len(mag), np.int64)
    for power in _POW10[_POW10 <= top]:
        digits += mag >= power
    lit_len = np.array([len(s) for s in literals] + [0], np.int64)
    length = lit_len[literal]
    length[num] = digits + neg
    ends = np.cumsum(length + 1)
    buf = np.empty(int(ends[-1]) if len(ends) else 0, np.uint8)
    buf[ends - 1] = seps
    # least significant digit first; only numbers with digits left stay
    pos, rem = ends[num] - 2, mag
    while len(rem):
        quot = rem // 10
        buf[pos] = rem - quot * 10 + 48
        keep = quot > 0
        pos, rem = pos[keep] - 1, quot[keep]
    buf[(ends - length - 1)[num[neg]]] = ord("-")
    if literals:
        names = np.flatnonzero(literal >= 0)
        code, start = literal[names], (ends - length - 1)[names]
        table = np.zeros((len(literals), int(lit_len.max())), np.uint8)
        for i, text in enumerate(literals):
            table[i, :len(text)] = list(text)
        for j in range(table.shape[1]):
            has = lit_len[code] > j
            buf[start[has] + j] = table[code[has], j]
    return buf


def render_rows(columns, sep=b","):
    """CSV text of equal-length integer columns."""
    width = len(columns)
    n = len(columns[0])
    values = np.empty(n * width, np.int64)
    for j, col in enumerate(columns):
        values[j::width] = col
    seps = np.full(n * width, ord(sep), np.uint8)
    seps[width - 1::width] = ord("\n")
    return render(values, np.full(n * width, -1, np.int8), seps, [])


class _Vocab:
    """Raw ids of one field, ordered by popularity (most popular first)."""

    def __init__(self, field: UserField, rng):
        lo, hi = field.raw_range
        size = min(field.vocab, hi - lo + 1)
        self.ids = lo + rng.choice(hi - lo + 1, size, replace=False)

    def sample(self, rng, n):
        # density ~ 1/sqrt(rank): a few popular ids, a long tail
        rank = (len(self.ids) * rng.random(n)**2).astype(np.int64)
        return self.ids[rank]


def _user_lines(rng, uids, vocabs):
    """userFeature.data text of one chunk of users."""
    n, n_fields = len(uids), len(USER_FIELDS)
    counts = np.zeros((n, n_fields), np.int64)
    counts[:, 0] = 1
    for f, field in enumerate(USER_FIELDS[1:], 1):
        length = np.minimum(rng.geometric(1.0 / field.mean_len, n),
                            field.max_len)
        counts[:, f] = np.where(rng.random(n) < field.presence, length, 0)
    items = np.where(counts > 0, counts + 1, 0)  # name + values
    # row-major (user, field) order is the text order
    start = (np.cumsum(items.ravel()) - items.ravel()).reshape(n, n_fields)
    total = int(items.sum())
    values = np.zeros(total, np.int64)
    literal = np.full(total, -1, np.int8)
    seps = np.full(total, ord(" "), np.uint8)
    for f, field in enumerate(USER_FIELDS):
        users = np.flatnonzero(counts[:, f])
        name_at = start[users, f]
        literal[name_at] = f
        c = counts[users, f]
        at = np.repeat(name_at + 1, c) + ramp(c)
        values[at] = uids if f == 0 else vocabs[f].sample(rng, len(at))
        seps[name_at + c] = ord("|")
    seps[np.cumsum(items.sum(axis=1)) - 1] = ord("\n")
    return render(values, literal, seps, [s.encode() for s in _NAMES])


def _campaign_weights(n):
    """Long-tailed campaign sizes: the largest is ~35x the smallest, so at
    the full size both sides of a 2000-positive threshold are populated."""
    return 1.0 / (np.arange(n) + 5.0)


def _ad_table(rng, n):
    def pool(size, hi, lo=1):
        size = max(1, min(size, hi - lo + 1))
        return lo + rng.choice(hi - lo + 1, size, replace=False)

    def pick(values):
        return values[rng.integers(0, len(values), n)]

    aids = pool(n, max(2300, 3 * n))
    product = pick(pool(35, 30_000))
    return pd.DataFrame({
        "aid": aids,
        "advertiserId": pick(pool(max(1, n // 2), 100_000)),
        "campaignId": pick(pool(max(1, n * 4 // 5), 500_000)),
        "creativeId": pool(n, 1_500_000),
        "creativeSize": pick(np.array([22, 35, 42, 53, 59, 60, 79, 87, 91,
                                       93, 102, 105, 109])),
        "adCategoryId": pick(pool(40, 300)),
        "productId": np.where(rng.random(n) < 0.4, 0, product),
        "productType": pick(np.array([4, 6, 9, 11])),
    }, columns=list(AD_COLUMNS))


def _seed_and_candidates(rng, size, aids, uids):
    """(aid, uid, label) rows of train.csv and test1_truth.csv.

    Each campaign reads a window of a random user permutation: seeds first,
    then its candidates, so within a campaign users are distinct (as long
    as the campaign has fewer rows than there are users).
    """
    n_users, n_camp = len(uids), len(aids)
    weights = _campaign_weights(n_camp)
    weights = rng.permutation(weights / weights.sum())
    positive_rate = rng.uniform(0.03, 0.07, n_camp)
    perm = rng.permutation(n_users)
    offset = rng.integers(0, n_users, n_camp)
    seeds = rng.multinomial(size.train_rows, weights)
    cands = rng.multinomial(size.test_rows, weights)
    out = []
    for counts, shift in ((seeds, np.zeros(n_camp, np.int64)),
                          (cands, seeds)):
        camp = np.repeat(np.arange(n_camp), counts)
        pos = (offset[camp] + shift[camp] + ramp(counts)) % n_users
        label = np.where(rng.random(len(camp)) < positive_rate[camp], 1, -1)
        order = rng.permutation(len(camp))
        out.append((aids[camp][order], uids[perm[pos]][order], label[order]))
    return out


def _write(path, pieces):
    """Write the byte pieces to ``path`` atomically."""
    atomic_write(path, lambda f: f.writelines(pieces))


def _csv_pieces(rows, header):
    if header:
        yield (",".join(header) + "\n").encode()
    for lo in range(0, len(rows[0]), ROW_CHUNK):
        yield render_rows([col[lo:lo + ROW_CHUNK] for col in rows])


def write_raw(out_dir, size: RawSize, seed: int = 0):
    """Write the four raw competition files of ``size`` under ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    root = np.random.SeedSequence(seed)
    ad_seq, user_seq, row_seq, vocab_seq, chunk_seq = root.spawn(5)
    rng = np.random.default_rng(ad_seq)
    ads = _ad_table(rng, size.campaigns)
    ads.to_csv(os.path.join(out_dir, ADS_FILE), index=False)

    rng = np.random.default_rng(user_seq)
    # distinct, sparse uids (gaps of 1..15) in a shuffled file order
    uids = rng.permutation(np.cumsum(rng.integers(1, 16, size.users)))
    vocab_rng = np.random.default_rng(vocab_seq)
    vocabs = [None] + [_Vocab(f, vocab_rng) for f in USER_FIELDS[1:]]
    chunk_seqs = chunk_seq.spawn((size.users + USER_CHUNK - 1) // USER_CHUNK)
    _write(os.path.join(out_dir, USERS_FILE),
           (_user_lines(np.random.default_rng(s), uids[i * USER_CHUNK:
                                                        (i + 1) * USER_CHUNK],
                        vocabs) for i, s in enumerate(chunk_seqs)))

    rng = np.random.default_rng(row_seq)
    seeds, cands = _seed_and_candidates(rng, size, ads["aid"].to_numpy(),
                                        uids)
    _write(os.path.join(out_dir, SEEDS_FILE),
           _csv_pieces(seeds, ("aid", "uid", "label")))
    _write(os.path.join(out_dir, CANDIDATES_FILE), _csv_pieces(cands, None))
