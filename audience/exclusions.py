"""Users no audience may hold (``tools/expand.py --exclude FILE``): existing
customers, opt-outs.

The file is a CSV with a ``uid`` column and optionally an ``aid`` column
(the row then applies to that campaign only; an empty aid applies to every
campaign), or a plain list of uids, one per line, with no header; ids are
64-bit signed integers. It is read and checked before any work: a
malformed file is a one-line error naming the file and its line, so a
typo never costs a run.

Tens of millions of customer ids must fit: the file is read a block of
lines at a time, each block parsed by numpy straight into int64 arrays (5
million lines in about a second, holding 8 bytes per id). A block holding
anything but plain ids (a bad line, a quoted comma, a 20-digit id) sends
the whole file through the line-by-line reader, which says which line is
wrong, or reads it when none is: the two read the same ids.
"""
import logging
import os
import re
from array import array

import numpy as np

from dataio.stage_files import DataError

logger = logging.getLogger("metaheac")

HOLDS = ("an exclusion file is a CSV with a uid column (and optionally aid: "
         "the campaign a row applies to) or a plain list of uids, one per "
         "line")

# blanks and quotes around an id are not part of it
AROUND = " \t\r\x0b\x0c\""
_ID = re.compile(r"[+-]?[0-9]+\Z")
INT64 = (-2 ** 63, 2 ** 63 - 1)
# bytes parsed at a time: the numpy pass holds a few arrays of this many
# characters' worth of cells
BLOCK = 1 << 21
BOM = b"\xef\xbb\xbf"
# the first bytes of files that are no text: gzip, zip, bzip2, xz
PACKED = (b"\x1f\x8b", b"PK\x03\x04", b"BZh", b"\xfd7zXZ")


def _unique(uids):
    """Sorted unique uids (a sort: numpy's hashing unique is slower on
    millions of ids)."""
    uids = np.sort(np.asarray(uids, np.int64))
    return uids[np.r_[True, uids[1:] != uids[:-1]]] if len(uids) else uids


def sorted_ids(uids):
    """``uids`` as sorted unique int64: as given when they are (a check in
    one pass, as ``Exclusions.of`` returns them), else sorted."""
    uids = np.asarray(uids, np.int64)
    if len(uids) < 2 or bool(np.all(uids[1:] > uids[:-1])):
        return uids
    return _unique(uids)


def member(values, sorted_ids):
    """Which ``values`` are in ``sorted_ids`` (sorted, unique): a binary
    search per value, so a campaign's few hundred candidates against a
    customer list of millions cost microseconds, where ``np.isin`` sorts
    the list again for every campaign."""
    values = np.asarray(values, np.int64)
    if not len(sorted_ids) or not len(values):
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
    return sorted_ids[at] == values


def union_sorted(few, many):
    """The sorted union of ``few`` ids and ``many`` sorted unique ids, in
    one pass over ``many`` (np.union1d sorts both again)."""
    few = _unique(few)
    extra = few[~member(few, many)]
    return np.insert(many, np.searchsorted(many, extra), extra)


EVERY_CANDIDATE_EXCLUDED = ("every candidate that is not a seed (%d) is in "
                            "the --exclude file: no audience to make")


class Exclusions:
    """The uids to leave out, for every campaign and per campaign."""

    def __init__(self, path, everywhere, per_aid):
        self.path = path
        self.everywhere = _unique(everywhere)
        self.per_aid = {int(a): _unique(u)
                        for a, u in per_aid.items()}
        self._users = None

    def of(self, aid):
        """Sorted unique uids excluded from campaign ``aid``."""
        mine = self.per_aid.get(int(aid))
        if mine is None:
            return self.everywhere
        return union_sorted(mine, self.everywhere)

    def uids(self, aids=None):
        """Sorted unique uids the file names (for the campaigns ``aids``
        only, when given)."""
        per_aid = self.per_aid if aids is None else \
            {a: u for a, u in self.per_aid.items() if a in aids}
        return _unique(np.concatenate([self.everywhere] +
                                      list(per_aid.values())))

    @property
    def users(self):
        if self._users is None:
            self._users = len(self.uids())
        return self._users

    def check_use(self, expansions, skipped, table=None):
        """Warn when the file named no user the run knows (wrong ids, or
        the wrong file), and name the campaigns its rows point at that the
        run did not have. A user is known when a campaign had them among
        its candidates (left out of an audience, or of a campaign skipped
        because every candidate was excluded) or, with a user ``table``
        (form 2), when the table holds them: there excluded users outside
        the candidates are not drawn as negatives either."""
        ran = {e.aid for e in expansions} | {s.aid for s in skipped}
        unknown = sorted(set(self.per_aid) - ran)
        if unknown:
            logger.warning("--exclude %s: rows for campaign(s) %s, which the "
                           "seeds do not hold: ignored", self.path,
                           ", ".join(map(str, unknown)))
        if not expansions or self._named_known_user(expansions, skipped,
                                                    table, ran):
            return
        logger.warning("--exclude %s names no candidate of any campaign%s "
                       "(%d uids): nothing was excluded; check that it holds "
                       "the same user ids as the candidates", self.path,
                       "" if table is None else " nor any user of %s" %
                       table.folder, self.users)

    def _named_known_user(self, expansions, skipped, table, ran):
        if any(e.summary.get("excluded") for e in expansions):
            return True
        if any(_every_candidate_excluded(s.reason) for s in skipped):
            return True
        if table is None:
            return False
        return bool((table.positions(self.uids(ran)) >= 0).any())


def _every_candidate_excluded(reason):
    """Whether a skip's reason is that --exclude left no candidate."""
    before, after = EVERY_CANDIDATE_EXCLUDED.split("%d")
    return reason.startswith(before) and reason.endswith(after)


# ------------------------------------------------------------ the reader
def read_exclusions(path):
    """The :class:`Exclusions` of ``path``; DataError (one line) when it is
    malformed or cannot be read, FileNotFoundError when missing."""
    if os.path.isdir(path):
        raise DataError("--exclude %s is a folder, not a file: %s" %
                        (path, HOLDS))
    if not os.path.exists(path):
        raise FileNotFoundError("--exclude %s does not exist" % path)
    try:
        layout = _Layout(path)
        parts = [_block_fast(block, number, layout) or
                 _block_exactly(path, block, number, layout)
                 for number, block in _blocks(path, layout.carriage_only)]
    except OSError as exc:
        raise DataError("--exclude %s cannot be read: %s" %
                        (path, exc.strerror or exc))
    uid, aid, everywhere = (np.concatenate(p) for p in zip(
        *parts, (np.zeros(0, np.int64), np.zeros(0, np.int64),
                 np.zeros(0, bool))))
    del parts
    if layout.aid is None:
        return Exclusions(path, uid, {})
    return Exclusions(path, uid[everywhere],
                      _by_aid(uid[~everywhere], aid[~everywhere]))


def _by_aid(uid, aid):
    """{aid: its uids} of rows that name a campaign."""
    if not len(aid):
        return {}
    order = np.argsort(aid, kind="stable")
    aid, uid = aid[order], uid[order]
    keys, starts = np.unique(aid, return_index=True)
    return dict(zip(keys.tolist(), np.split(uid, starts[1:])))


def _blocks(path, carriage_only):
    """``(number of its first line, bytes)`` of the file's whole lines,
    about BLOCK bytes at a time, each ending in a newline; a leading
    byte-order mark dropped; old Mac files (carriage returns only) read
    as lines too."""
    number, rest = 1, b""
    with open(path, "rb") as f:
        data = f.read(BLOCK)
        if data.startswith(BOM):
            data = data[len(BOM):]
        while data:
            if carriage_only:
                data = data.replace(b"\r", b"\n")
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut:
                yield number, data[:cut]
                number += data.count(b"\n", 0, cut)
            rest = data[cut:]
            data = f.read(BLOCK)
        if rest:
            yield number, rest + b"\n"


def _text(line):
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


def _cell(text):
    return text.strip(AROUND)


class _Layout:
    """Where the ids are: the header line (0 for a plain list), the
    number of fields, the uid's and the aid's (None: no aid column)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            start = f.read(4096)
        if b"\0" in start or start.startswith(PACKED):
            raise DataError("--exclude %s is not a text file (compressed or "
                            "binary: unpack it first): %s" % (path, HOLDS))
        self.carriage_only = b"\r" in start and b"\n" not in start
        first = None
        for number, block in _blocks(path, self.carriage_only):
            first = next(((n, line) for n, line in enumerate(
                block.split(b"\n")[:-1], number) if line.strip()), None)
            if first:
                break
        if first is None:
            raise DataError("%s is empty: %s" % (path, HOLDS))
        number, text = first[0], _text(first[1])
        if "," not in text and _ID.match(_cell(text)):
            self.header, self.line, self.fields = None, 0, 1
            self.uid, self.aid = 0, None
            return
        header = [_cell(c) for c in text.split(",")]
        if "uid" not in header:
            raise DataError("%s has no uid column (header: %s): %s" %
                            (path, ",".join(header), HOLDS))
        self.header, self.line, self.fields = header, number, len(header)
        self.uid = header.index("uid")
        self.aid = header.index("aid") if "aid" in header else None


# ------------------------------------------- the numpy pass (a block)
_BLANK = np.zeros(256, bool)
_BLANK[np.frombuffer(b" \t\r\n\x0b\x0c", np.uint8)] = True
_AROUND_BYTES = np.zeros(256, bool)
_AROUND_BYTES[np.frombuffer(AROUND.encode(), np.uint8)] = True


def _block_fast(block, number, layout):
    """``(uid, aid, everywhere)`` arrays of the lines of ``block`` (its
    first is line ``number``) when they hold plain ids, else None
    (:func:`_block_exactly` then reads it, or says which line is wrong)."""
    buf = np.frombuffer(block, np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    starts = np.r_[0, ends[:-1] + 1]
    # blank lines carry nothing; the header line is no row
    filled = np.r_[0, np.cumsum(~_BLANK[buf])]
    keep = (filled[ends] > filled[starts]) & \
        (np.arange(number, number + len(ends)) > layout.line)
    starts, ends = starts[keep], ends[keep]
    commas = np.flatnonzero(buf == ord(","))
    before = np.searchsorted(commas, starts)
    if (np.searchsorted(commas, ends) - before + 1 != layout.fields).any():
        return None
    uid, ok, _ = _parse(buf, *_cell_bounds(starts, ends, commas, before,
                                           layout.uid, layout.fields))
    if not ok.all():
        return None
    if layout.aid is None:
        return uid, np.zeros(0, np.int64), np.zeros(0, bool)
    aid, ok, empty = _parse(buf, *_cell_bounds(
        starts, ends, commas, before, layout.aid, layout.fields))
    if not (ok | empty).all():
        return None
    return uid, aid, empty


def _cell_bounds(starts, ends, commas, before, at, fields):
    """Where field ``at`` of each line (``starts``/``ends``, ``before``
    its first comma's index in ``commas``) begins and ends."""
    begin = starts if at == 0 else commas[before + at - 1] + 1
    end = ends if at == fields - 1 else commas[before + at]
    return begin, end


def _parse(buf, begin, end):
    """``(values, ok, empty)`` of the cells ``buf[begin:end]``: ok where a
    cell is one integer id of at most 19 digits within int64 (blanks and
    quotes around it aside), empty where it holds nothing else."""
    begin, end = begin.copy(), end.copy()
    while True:   # blanks and quotes around the id: a few rounds at most
        lead = (begin < end) & _AROUND_BYTES[buf[begin]]
        if not lead.any():
            break
        begin += lead
    while True:
        trail = (end > begin) & _AROUND_BYTES[buf[end - 1]]
        if not trail.any():
            break
        end -= trail
    empty = begin == end
    first = buf[np.minimum(begin, len(buf) - 1)]
    negative = ~empty & (first == ord("-"))
    digits_from = begin + (~empty & (negative | (first == ord("+"))))
    count = end - digits_from
    ok = (count >= 1) & (count <= 19)
    # digit by digit from the left, the ids aligned on their last digit;
    # below 10**19, so within uint64
    value = np.zeros(len(begin), np.uint64)
    for back in range(int(min(count.max(initial=0), 19)), 0, -1):
        at = end - back
        here = at >= digits_from
        digit = buf[np.where(here, at, 0)] - np.uint8(ord("0"))
        ok &= ~here | (digit <= 9)
        value = value * np.uint64(10) + np.where(here, digit, 0).astype(
            np.uint64)
    ok &= value <= np.where(negative, np.uint64(2 ** 63),
                            np.uint64(2 ** 63 - 1))
    values = np.where(negative, np.uint64(0) - value, value).view(np.int64)
    return values, ok, empty


# ----------------------------------------------- the line-by-line reader
def _integer(text, path, column, line):
    """``text`` (a cell) as an int64 id; else an error naming the file
    and line."""
    cell = _cell(text)
    if not _ID.match(cell):
        raise DataError("%s line %d: %s %r is not an integer id (%s)" %
                        (path, line, column, cell, HOLDS))
    value = int(cell)
    if not INT64[0] <= value <= INT64[1]:
        raise DataError("%s line %d: %s %s is beyond 64-bit ids (%d to %d)"
                        % (path, line, column, cell, INT64[0], INT64[1]))
    return value


def _block_exactly(path, block, number, layout):
    """What :func:`_block_fast` gives, line by line: the first line that
    is not right is a DataError naming it."""
    uid, aid, everywhere = array("q"), array("q"), bytearray()
    for n, raw in enumerate(block.split(b"\n")[:-1], number):
        if n <= layout.line or not raw.strip():
            continue
        text = _text(raw)
        if layout.header is None:
            if "," in text:
                raise DataError(
                    "%s line %d: %r is not one uid; a plain list holds one "
                    "uid per line with no header (%s)" % (path, n, text,
                                                          HOLDS))
            uid.append(_integer(text, path, "uid", n))
            continue
        cells = text.split(",")
        if len(cells) != layout.fields:
            raise DataError("%s line %d has %d fields, the header %d (%s)" %
                            (path, n, len(cells), layout.fields, HOLDS))
        uid.append(_integer(cells[layout.uid], path, "uid", n))
        if layout.aid is not None:
            # an empty aid: the row applies to every campaign
            empty = _cell(cells[layout.aid]) == ""
            everywhere.append(empty)
            aid.append(0 if empty else
                       _integer(cells[layout.aid], path, "aid", n))
    return (np.array(uid, np.int64), np.array(aid, np.int64),
            np.array(everywhere, bool))
