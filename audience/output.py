"""The files of an expansion run, each written atomically:

    DIR/<aid>/audience.csv   uid,score,rank,percentile[,tier]: the top slice,
                             best first (``tier``: with --tiers, the
                             smallest tier holding the user)
    DIR/<aid>/scores.csv     every candidate scored (uid,score[,label])
    DIR/summary.json         per campaign: sizes, score quantiles, seconds,
                             and with labelled candidates AUC, base rate and
                             the reach curve
    DIR/overlap.csv          with --overlap, every pair of audiences
    DIR/reach.png            with --plot, the reach curves
``percentile`` is the share of the campaign's candidates scored at least as
high, in percent (1.0: within the best 1 %).
"""
import json
import logging
import os
import shutil

import numpy as np

from runkit.atomic import atomic_write, temporary_folder, write_text
from runkit.cli import Refused

logger = logging.getLogger("metaheac")


def csv_text(columns, rows):
    lines = [",".join(columns)]
    lines += [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


def audience_csv(expansion, tiers=None):
    """``tiers``: the --tiers percentages (the audience is the largest)."""
    top = expansion.order[:expansion.audience_size]
    n = len(expansion.score)
    rows = ((str(expansion.uid[i]), "%.6f" % expansion.score[i], str(rank),
             "%.4f" % (100.0 * rank / n)) for rank, i in enumerate(top, 1))
    columns = ("uid", "score", "rank", "percentile")
    if tiers:
        from audience.tiers import label, tier_of_rank
        tier = tier_of_rank(tiers, n)
        if len(tier) != len(top):
            raise ValueError("campaign %s: audience of %d but largest tier "
                             "of %d" % (expansion.aid, len(top), len(tier)))
        rows = (row + (label(t), ) for row, t in zip(rows, tier))
        columns += ("tier", )
    return csv_text(columns, rows)


def scores_csv(uid, score, label=None):
    columns = ("uid", "score") + (("label", ) if label is not None else ())
    rows = ((str(u), "%.6f" % s) + ((str(int(label[i])), ) if label is not None
                                    else ())
            for i, (u, s) in enumerate(zip(uid, score)))
    return csv_text(columns, rows)


# A finished output holds one of these, written last: the next start tells
# a finished output from an unfinished one by it.
SUMMARY_FILES = ("summary.json", "export.json")
OLD = ".old"   # an output moved aside while its replacement is put in place


def check_target(path, overwrite=False, option="--out",
                 summary="summary.json"):
    """Refuse, before any work, an output path that cannot become an
    output folder: below a file, a file itself, a folder that is not an
    earlier output of this tool (it has no ``summary`` file: the user's
    own folder, which ``overwrite`` must not replace), or (without
    ``overwrite``) an earlier output. An empty folder may be used. Returns
    whether ``path`` is such an empty folder. ``option`` is what the user
    set the path with, for the message."""
    path = os.path.abspath(path)
    above = os.path.dirname(path)
    while not os.path.lexists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise Refused("%s %s cannot be made: %s is a file, not a folder; "
                      "choose another %s" % (option, path, above, option))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise Refused("%s %s is a file, not an output folder (--overwrite "
                      "replaces an earlier output folder, never a file): "
                      "choose another %s, or move the file away" %
                      (option, path, option))
    if not os.path.exists(path):
        return False
    if not os.listdir(path):
        return True
    if not os.path.isfile(os.path.join(path, summary)):
        raise Refused("%s %s is a folder holding files but no %s, so it is "
                      "not an earlier output of this tool: --overwrite "
                      "replaces only those; choose another %s (a new or "
                      "empty folder)" % (option, path, summary, option))
    if not overwrite:
        raise Refused("%s exists: choose another %s, or pass --overwrite to "
                      "replace it" % (path, option))
    return False


class OutputDir:
    """An output folder filled under a temporary name and renamed into place
    at the end, so a killed run never leaves a partial DIR, and an existing
    DIR is refused (nothing touched) unless ``overwrite``, in which case
    the old one is replaced only once the new one is complete.

    The summary file is written last: an output holding it is finished.
    A run killed while putting its finished output in place leaves it (and
    the output it was replacing, ``<tmp>.old``) under hidden names; the
    next start on the same DIR completes that run's swap before anything
    else (see :func:`recover`). One run at a time writes a DIR (a lock
    beside it), so what the next start finds is never a live run's."""

    def __init__(self, path, overwrite=False, option="--out",
                 summary="summary.json"):
        """``summary``: the name of this tool's summary file
        (:data:`SUMMARY_FILES`), which an earlier output it may replace
        holds."""
        if summary not in SUMMARY_FILES:
            raise ValueError("OutputDir: the summary file must be one of %s "
                             "(a finished output is known by it)" %
                             ", ".join(SUMMARY_FILES))
        self.path = os.path.abspath(path)
        self.summary = summary
        # refused: nothing touched
        check_target(self.path, overwrite, option, summary)
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)
        self._lock = _Lock(os.path.join(
            parent, ".%s.lock" % os.path.basename(self.path)), self.path)
        try:
            recover(self.path)
            # what recovery put in place counts
            if check_target(self.path, overwrite, option, summary):
                logger.info("%s %s exists and is empty: the output goes "
                            "there", option, self.path)
            self.tmp = temporary_folder(parent, _prefix(self.path))
        except BaseException:
            self._lock.release()
            raise

    def write(self, relative, text):
        write_text(os.path.join(self.tmp, relative), text)

    def write_bytes(self, relative, data):
        atomic_write(os.path.join(self.tmp, relative),
                     lambda f: f.write(data))

    def write_expansion(self, expansion, all_scores=True, tiers=None):
        folder = str(expansion.aid)
        self.write(os.path.join(folder, "audience.csv"),
                   audience_csv(expansion, tiers))
        if all_scores:
            self.write(os.path.join(folder, "scores.csv"),
                       scores_csv(expansion.uid, expansion.score,
                                  expansion.label))

    def commit(self, summary):
        """Write the summary document and put the folder in place."""
        try:
            self.write(self.summary, json.dumps(summary, indent=1))
            old, failed = _place(self.tmp, self.path)
        finally:
            self._lock.release()
        if failed:
            logger.warning("could not remove %s, what %s held before (%s)",
                           old, self.path, failed)
        return self.path

    def abandon(self):
        """Remove the unfinished folder (a finished one, whose commit was
        interrupted, is put in place by the next start instead)."""
        try:
            if os.path.isdir(self.tmp) and _finished(self.tmp):
                logger.warning("kept %s: finished, it goes in place at %s "
                               "at the next start", self.tmp, self.path)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            self._lock.release()


def _prefix(path):
    return ".%s.tmp-" % os.path.basename(path)


def _empty(folder):
    return os.path.isdir(folder) and not os.listdir(folder)


def _finished(folder):
    return os.path.isdir(folder) and any(
        os.path.isfile(os.path.join(folder, n)) for n in SUMMARY_FILES)


def _remove(path):
    """Remove a folder or file; None, or why it could not be."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _place(done, path):
    """Put the finished output ``done`` at ``path``; what was there is moved
    aside (``<done>.old``) first and removed once ``done`` is in place.
    Returns (that old path or None, why it could not be removed or None).
    A kill between any two steps leaves a state :func:`recover` completes."""
    old = done + OLD
    if os.path.lexists(path):
        os.replace(path, old)
    os.replace(done, path)
    if not os.path.lexists(old):
        return None, None
    if not (_finished(old) or _empty(old)):
        # checked empty or an earlier output at the start, it got files
        # meanwhile: they are someone's
        return old, ("files were put in it during the run, so it is kept: "
                     "move them where they belong")
    failed = _remove(old)
    return old, failed and "%s: remove it by hand" % failed


def _discard(path, what):
    failed = _remove(path)
    if failed:
        logger.warning("could not remove %s, %s (%s): remove it by hand",
                       path, what, failed)
    else:
        logger.info("removed %s, %s", path, what)


def _mtime(path):
    return os.stat(path).st_mtime


def recover(path):
    """Complete what runs killed while writing the output folder ``path``
    left beside it, before anything else is touched, one log line each:

    * an unfinished temporary (no summary file): removed;
    * a finished one (killed before or between the two renames of the
      swap): put in place, as its run was doing; the output it replaces
      (``path``, or its ``.old`` already moved aside) is then removed;
    * an ``.old`` folder alone (killed after the swap, while removing it):
      removed when ``path`` is there, else put back at ``path``.

    A hidden ``.old`` that is not a folder is nobody's output (an earlier
    version moved a file given as --out aside): it is put back, or named,
    never removed; nor is anything else that is not a folder."""
    parent = os.path.dirname(path)
    prefix = _prefix(path)
    entries = [os.path.join(parent, n) for n in sorted(os.listdir(parent))
               if n.startswith(prefix)]
    olds = [e for e in entries if e.endswith(OLD)]
    finished = []
    for entry in entries:
        if entry.endswith(OLD):
            continue
        if _finished(entry):
            finished.append(entry)
        elif os.path.isdir(entry):
            _discard(entry, "the unfinished output of an interrupted run")
        else:
            logger.warning("%s is not an output folder of this tool: left "
                           "as it is", entry)
    for done in sorted(finished, key=_mtime):
        partner = done + OLD
        if os.path.lexists(path) and os.path.lexists(partner):
            _discard(partner, "an output replaced twice")
        had = os.path.lexists(path) or os.path.lexists(partner)
        old, failed = _place(done, path)
        logger.warning(
            "restored %s from %s, the finished output of a run interrupted "
            "while putting it in place%s", path, done,
            "" if not had else "; the output it replaced was removed" if
            not failed else "; could not remove %s, the output it replaced "
            "(%s)" % (old, failed))
    for old in sorted((o for o in olds if os.path.lexists(o)), key=_mtime,
                      reverse=True):
        if os.path.lexists(path) and not os.path.isdir(old):
            logger.warning("kept %s: a file an earlier version moved aside "
                           "when --out named it, not an output; move it "
                           "where it belongs", old)
        elif os.path.lexists(path):
            _discard(old, "the output an interrupted run replaced with %s" %
                     path)
        else:
            os.replace(old, path)
            logger.warning("restored %s from %s, where a run interrupted "
                           "while replacing it had moved it", path, old)


class _Lock:
    """Held by the one run writing an output folder (``flock`` on a file
    beside it, released when the run ends, or dies): the temporaries a
    start finds are then never a live run's."""

    def __init__(self, path, target):
        self.path, self.fd = path, None
        try:
            import fcntl
        except ImportError:   # not POSIX: no lock
            return
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise Refused("another run is writing %s now (it holds %s): "
                              "wait for it to end, or choose another --out" %
                              (target, path))
            except OSError:   # a file system without locks
                os.close(fd)
                return
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)   # its holder removed it meanwhile: lock anew

    def release(self):
        if self.fd is None:
            return
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


def summary_document(config, expansions, skipped, top, extra=None):
    doc = {"top": top, "min_seeds": config.get("expand.min_seeds"),
           "negative_ratio": config.get("expand.negative_ratio"),
           "campaigns": [e.summary for e in expansions], "skipped": skipped}
    lifts = [r["lift"] for e in expansions for r in e.summary.get("reach", ())
             if r["top"] == 0.05 and r["lift"] is not None]
    if lifts:
        doc["mean_lift_top_5pct"] = float(np.mean(lifts))
    doc.update(extra or {})
    return doc
