"""Dense re-indexing of the parsed user fields: every categorical value
becomes 1..K in ascending raw order, 0 meaning missing (and the pad of the
multi-id lists)."""
import logging

import numpy as np

from dataio.schema import DYNAMIC_FIELDS, DYNAMIC_NAMES, STATIC_FIELDS
from rawdata.files import USERS_FILE, members, require
from rawdata.user_parser import CHUNK_BYTES, parse_users

log = logging.getLogger("metaheac")
_WIDTH = dict(DYNAMIC_FIELDS)


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
        require(path)
        chunks = parse_users(path, wanted, chunk_bytes, workers)
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
        found = members(self._sorted_uid, uid)
        if not found.any():
            return np.full(len(uid), len(self))
        if not found.all():
            log.warning("%d rows name a uid absent from %s: user fields set "
                        "to the missing index", (~found).sum(), USERS_FILE)
        pos = np.searchsorted(self._sorted_uid, uid)
        return np.where(found, self._order[np.minimum(pos, len(self) - 1)],
                        len(self))
