"""Users no audience may hold (``tools/expand.py --exclude FILE``): existing
customers, opt-outs.

The file is a CSV with a ``uid`` column and optionally an ``aid`` column
(the row then applies to that campaign only; an empty aid applies to every
campaign), or a plain list of uids, one per line, with no header. It is
read whole and checked before any work: a malformed file is a one-line
error naming the file and its line, so a typo never costs a run.
"""
import logging
import os

import numpy as np

from dataio.stage_files import DataError

logger = logging.getLogger("metaheac")

HOLDS = ("an exclusion file is a CSV with a uid column (and optionally aid: "
         "the campaign a row applies to) or a plain list of uids, one per "
         "line")


def _unique(uids):
    """Sorted unique uids (a sort: numpy's hashing unique is slower on
    millions of ids)."""
    uids = np.sort(np.asarray(uids, np.int64))
    return uids[np.r_[True, uids[1:] != uids[:-1]]] if len(uids) else uids


class Exclusions:
    """The uids to leave out, for every campaign and per campaign."""

    def __init__(self, path, everywhere, per_aid):
        self.path = path
        self.everywhere = _unique(everywhere)
        self.per_aid = {int(a): _unique(u)
                        for a, u in per_aid.items()}

    def of(self, aid):
        """Sorted unique uids excluded from campaign ``aid``."""
        mine = self.per_aid.get(int(aid))
        if mine is None:
            return self.everywhere
        return np.union1d(self.everywhere, mine)

    @property
    def users(self):
        return len(_unique(np.concatenate(
            [self.everywhere] + list(self.per_aid.values()))))

    def check_use(self, expansions, skipped):
        """Warn when the file named no user of any audience (wrong ids, or
        the wrong file), and name the campaigns its rows point at that the
        run did not have."""
        ran = {e.aid for e in expansions} | {s["aid"] for s in skipped}
        unknown = sorted(set(self.per_aid) - ran)
        if unknown:
            logger.warning("--exclude %s: rows for campaign(s) %s, which the "
                           "seeds do not hold: ignored", self.path,
                           ", ".join(map(str, unknown)))
        if expansions and not any(e.summary.get("excluded")
                                  for e in expansions):
            logger.warning("--exclude %s names no candidate of any campaign "
                           "(%d uids): nothing was excluded; check that it "
                           "holds the same user ids as the candidates",
                           self.path, self.users)


def _integer(text, path, column, line):
    """``text`` as an int; else an error naming the file and line."""
    try:
        return int(text)
    except ValueError:
        raise DataError("%s line %d: %s %r is not an integer id (%s)" %
                        (path, line, column, text, HOLDS))


def _integers(texts, lines, path, column):
    """``texts`` as int64, converted at once (a million lines in a
    fraction of a second); on a bad one, the line-by-line pass names it."""
    try:
        return np.asarray(texts, dtype=str).astype(np.int64) if texts \
            else np.zeros(0, np.int64)
    except (ValueError, OverflowError):
        return np.array([_integer(t, path, column, n)
                         for t, n in zip(texts, lines)], np.int64)


def read_exclusions(path):
    """The :class:`Exclusions` of ``path``; DataError (one line) when it is
    malformed, FileNotFoundError when missing."""
    if not os.path.isfile(path):
        raise FileNotFoundError("--exclude %s does not exist" % path)
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        lines = f.read().splitlines()
    # blank lines carry nothing; remember where the others were
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise DataError("%s is empty: %s" % (path, HOLDS))
    first = numbered[0][1].strip()
    try:
        int(first)
        header = None
    except ValueError:
        header = [c.strip().strip('"') for c in first.split(",")]
    if header is None:   # a plain list of uids
        bad = next(((n, l) for n, l in numbered if "," in l), None)
        if bad:
            raise DataError("%s line %d: %r is not one uid; a plain list "
                            "holds one uid per line with no header (%s)" %
                            (path, bad[0], bad[1], HOLDS))
        return Exclusions(path, _integers([l.strip() for _, l in numbered],
                                          [n for n, _ in numbered], path,
                                          "uid"), {})
    if "uid" not in header:
        raise DataError("%s has no uid column (header: %s): %s" %
                        (path, ",".join(header), HOLDS))
    rows = [(n, [c.strip().strip('"') for c in line.split(",")])
            for n, line in numbered[1:]]
    for n, cells in rows:
        if len(cells) != len(header):
            raise DataError("%s line %d has %d fields, the header %d (%s)" %
                            (path, n, len(cells), len(header), HOLDS))
    lines = [n for n, _ in rows]
    at = header.index("uid")
    uid = _integers([c[at] for _, c in rows], lines, path, "uid")
    if "aid" not in header:
        return Exclusions(path, uid, {})
    at = header.index("aid")
    # an empty aid: the row applies to every campaign
    aid_text = [c[at] or "-1" for _, c in rows]
    everywhere = np.array([c[at] == "" for _, c in rows], bool)
    aid = _integers(aid_text, lines, path, "aid")
    per_aid = {int(a): uid[~everywhere & (aid == a)]
               for a in np.unique(aid[~everywhere])}
    return Exclusions(path, uid[everywhere], per_aid)
