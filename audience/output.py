"""The files of an expansion run, each written atomically:

    DIR/audiences.csv        aid,uid,tier: every campaign's audience in one
                             upload-ready file, one row per (aid, uid), best
                             first within a campaign
    DIR/<aid>/audience.csv   uid,score,rank,top_percent[,tier]: the top
                             slice, best first (``tier``: with --tiers, the
                             smallest tier holding the user)
    DIR/<aid>/scores.csv     every candidate scored (uid,score[,label])
    DIR/summary.json         per campaign: sizes, score quantiles, seconds,
                             and with labelled candidates AUC, base rate and
                             the reach curve; what produced it
                             (``provenance``)
    DIR/overlap.csv          with --overlap, every pair of audiences
    DIR/reach.png            with --plot, the reach picture
    DIR/report.html          the one-page report (audience/report.py)
``top_percent`` is the share of the campaign's candidates ranked at or
above the user, in percent: rank 1 of 300 is 0.3333, within the top
0.33 %; the last user of a 5 % audience is 5.0. In summary.json every
share is a fraction (0.05 is 5 %: ``top_fraction``, precision, recall,
base rate) and every measured float is rounded to 4 significant digits
(:func:`rounded`, applied once, to the whole document but its
``provenance``, which is exact).

The summary says which tool wrote the folder (``"tool"``): ``--overwrite``
replaces only an earlier output of the same tool, and only when the folder
holds nothing else (see :func:`check_target`).
"""
import collections
import csv
import errno
import io
import json
import logging
import os
import re
import shutil

import numpy as np

from dataio.atomic import atomic_write, temporary_folder, write_text
from runkit.cli import Refused

logger = logging.getLogger("metaheac")


# a spreadsheet evaluates a cell that begins with one of these
FORMULA_START = frozenset("=+-@\t\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


def safe_cell(text):
    """``text`` as a spreadsheet shows it but never evaluates it: a cell
    beginning with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
    return) gets a leading apostrophe (spreadsheets read it as "text
    follows"), unless it is a plain number: -5, -0.25, +1e-3 stay as they
    are, so numeric cells are never altered."""
    if text[:1] in FORMULA_START and not NUMBER.match(text):
        return "'" + text
    return text


def csv_text(columns, rows, text_columns=None):
    """The CSV of ``rows`` (tuples of strings) under the header
    ``columns``, through Python's csv writer: a cell holding a comma, a
    quote or a line break is quoted, so a row keeps its columns whatever
    a name holds. The cells of ``text_columns`` (names; every column by
    default) go through :func:`safe_cell`; leave a column out only when
    the code formats all its cells from numbers."""
    guarded = [i for i, c in enumerate(columns)
               if text_columns is None or c in text_columns]
    if guarded:
        rows = (tuple(safe_cell(c) if i in guarded else c
                      for i, c in enumerate(row)) for row in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in columns])
    writer.writerows(rows)
    return buffer.getvalue()


def audience_csv(expansion, tiers=None):
    """``tiers``: the --tiers percentages (the audience is the largest)."""
    top = expansion.order[:expansion.audience_size]
    n = len(expansion.score)
    rows = ((str(expansion.uid[i]), "%.6f" % expansion.score[i], str(rank),
             "%.4f" % (100.0 * rank / n)) for rank, i in enumerate(top, 1))
    columns = ("uid", "score", "rank", "top_percent")
    if tiers:
        from audience.tiers import label, tier_of_rank
        tier = tier_of_rank(tiers, n)
        if len(tier) != len(top):
            raise ValueError("campaign %s: audience of %d but largest tier "
                             "of %d" % (expansion.aid, len(top), len(tier)))
        rows = (row + (label(t), ) for row, t in zip(rows, tier))
        columns += ("tier", )
    # every cell is formatted here from a number (uids are integers)
    return csv_text(columns, rows, text_columns=())


UNION = "audiences.csv"
UNION_COLUMNS = ("aid", "uid", "tier")


def union_of(expansion, tiers=None, top=None):
    """(uids, tier names) of one campaign's audience as audiences.csv
    holds it: best first, a uid repeated among the candidates once (its
    best rank). The tier name says its unit: "5%" (with ``tiers``, the
    smallest tier holding the user; else the share ``top``) or "1000
    users" (a count ``top``)."""
    from audience.ranking import top_label
    size = expansion.audience_size
    uids = np.asarray(expansion.uid)[expansion.order[:size]]
    if tiers:
        from audience.tiers import label, tier_of_rank
        names = np.array([label(t) + "%"
                          for t in tier_of_rank(tiers, len(expansion.score))],
                         dtype=object)
    else:
        names = np.array([top_label(top)] * size, dtype=object)
    _, first = np.unique(uids, return_index=True)
    keep = np.sort(first)
    return uids[keep], names[keep]


def scores_csv(uid, score, label=None):
    columns = ("uid", "score") + (("label", ) if label is not None else ())
    rows = ((str(u), "%.6f" % s) + ((str(int(label[i])), ) if label is not None
                                    else ())
            for i, (u, s) in enumerate(zip(uid, score)))
    return csv_text(columns, rows, text_columns=())


# A finished output holds one of these, written last: the next start tells
# a finished output from an unfinished one by it.
SUMMARY_FILES = ("summary.json", "export.json")
OLD = ".old"   # an output moved aside while its replacement is put in place

AID = re.compile(r"-?\d+\Z")


def _expand_entry(parts, is_dir):
    if len(parts) == 1:
        return bool(AID.match(parts[0])) if is_dir else parts[0] in (
            "summary.json", UNION, "overlap.csv", "reach.png", "report.html")
    # model.*: the campaign's program (--export, paddle.jit.save's files)
    return len(parts) == 2 and not is_dir and (
        parts[1] in ("audience.csv", "scores.csv") or
        parts[1].startswith("model."))


def _export_entry(parts, is_dir):
    # paddle.jit.save names its files after the prefix "model"
    return len(parts) == 1 and not is_dir and (
        parts[0] == "export.json" or parts[0].startswith("model."))


def _scores_entry(parts, is_dir):
    """<epoch>/<test set>/<aid>/scores.csv"""
    depth = len(parts)
    if depth == 1:
        return parts[0].isdigit() if is_dir else parts[0] == "summary.json"
    if depth == 2:
        return is_dir
    if depth == 3:
        return is_dir and bool(AID.match(parts[2]))
    return depth == 4 and not is_dir and parts[3] == "scores.csv"


Tool = collections.namedtuple("Tool", "name summary program what legacy "
                                      "entry overwrite")
# What each tool that writes an output folder writes, by the name its
# summary gives it (``"tool"``). A summary without that name comes from
# before the tools wrote it; ``legacy`` recognises such a summary by what
# it holds.
TOOLS = {t.name: t for t in (
    Tool("expand", "summary.json", "tools/expand.py", "an expansion",
         lambda doc: isinstance(doc.get("campaigns"), list), _expand_entry,
         "--overwrite"),
    Tool("export", "export.json", "tools/export.py", "an exported model",
         lambda doc: isinstance(doc.get("inputs"), list), _export_entry,
         "--overwrite"),
    Tool("infer_meta", "summary.json", "tools/infer_meta.py",
         "a meta-test's candidates' scores",
         lambda doc: isinstance(doc.get("result"), str), _scores_entry,
         "runner.overwrite"),
)}


def tool_of(tool=None, summary="summary.json"):
    """The :data:`TOOLS` entry of ``tool``, by default the one writing
    ``summary`` (export.json: tools/export.py, else tools/expand.py)."""
    if tool is None:
        tool = "export" if summary == "export.json" else "expand"
    if tool not in TOOLS or TOOLS[tool].summary != summary:
        raise ValueError("output folder: no tool %r writing %s (known: %s)" %
                         (tool, summary, ", ".join(
                             "%s (%s)" % (t.name, t.summary)
                             for t in TOOLS.values())))
    return TOOLS[tool]


def _summary_of(folder, summary):
    """The summary document of ``folder`` (a dict), or None."""
    try:
        with open(os.path.join(folder, summary)) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def written_by(folder):
    """The :data:`TOOLS` entry whose output ``folder`` is, as its summary
    says (or, written before summaries named their tool, as it shows),
    or None."""
    for tool in TOOLS.values():
        doc = _summary_of(folder, tool.summary)
        if doc is None:
            continue
        if doc.get("tool") == tool.name or (
                "tool" not in doc and tool.legacy(doc)):
            return tool
    return None


def _why_not(folder, tool):
    """Why ``folder``, which holds ``tool``'s summary file, is not an
    earlier output of ``tool``; None when it is."""
    doc = _summary_of(folder, tool.summary)
    if doc is None:
        return "its %s is not a summary %s writes (not a JSON object)" % (
            tool.summary, tool.program)
    said = doc.get("tool")
    if said == tool.name or (said is None and tool.legacy(doc)):
        return None
    other = TOOLS.get(said) if isinstance(said, str) else None
    if other is None and said is None:
        other = written_by(folder)
    if other is not None:
        return "it is %s, written by %s (its %s says so)" % (
            other.what, other.program, tool.summary)
    if said is not None:
        return "its %s says it was written by %r" % (tool.summary, said)
    return "its %s is not one %s writes" % (tool.summary, tool.program)


def foreign_entries(folder, tool):
    """What ``folder`` holds that ``tool`` does not write (a user's
    notes.txt, a link), relative paths, a folder with a trailing /:
    the topmost such entry only, not what it holds."""
    found = []

    def visit(path, parts):
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            here = parts + (entry.name, )
            is_dir = entry.is_dir(follow_symlinks=False)
            if entry.is_symlink() or not tool.entry(here, is_dir):
                found.append("/".join(here) + ("/" if is_dir else ""))
            elif is_dir:
                visit(entry.path, here)
    visit(folder, ())
    return found


def _listed(names, most=20):
    if len(names) > most:
        return "%s and %d more" % (", ".join(names[:most]), len(names) - most)
    return ", ".join(names)


def _contents(folder):
    """Every entry of ``folder``, named: a file by its name, a folder by
    its name and how many files it holds."""
    named = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            files = sum(len(f) for _, _, f in os.walk(entry.path))
            named.append("%s/ (%d file%s)" % (entry.name, files,
                                              "" if files == 1 else "s"))
        else:
            named.append(entry.name)
    return ", ".join(named)


def out_path(path, option="--out"):
    """The absolute path of ``path``; a symbolic link is resolved once
    here, so that the output goes where it points (the link stays), and
    everything after works on that one path."""
    path = os.path.abspath(path)
    if not os.path.islink(path):
        return path
    target = os.path.realpath(path)
    if os.path.islink(target):
        raise Refused("%s %s is a symbolic link that leads nowhere (a loop "
                      "of links): remove it, or choose another %s" %
                      (option, path, option))
    return target


def check_target(path, overwrite=False, option="--out",
                 summary="summary.json", tool=None):
    """Refuse, before any work, an output path that cannot become an
    output folder: below a file, a file itself, a folder that is not an
    earlier output of this tool (no ``summary`` file, or one that is not
    this tool's: the user's own folder, another tool's output, which
    ``overwrite`` must not replace), an earlier output holding anything
    this tool does not write (a user's notes, named), or (without
    ``overwrite``) an earlier output. An empty folder may be used. A
    symbolic link is checked where it points (:func:`out_path`). Returns
    whether the path is such an empty folder. ``option`` is what the user
    set the path with, for the message; ``tool`` a key of :data:`TOOLS`
    (by default the one writing ``summary``)."""
    tool = tool_of(tool, summary)
    path = out_path(path, option)
    above = os.path.dirname(path)
    while not os.path.lexists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise Refused("%s %s cannot be made: %s is a file, not a folder; "
                      "choose another %s" % (option, path, above, option))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise Refused("%s %s is a file, not an output folder (%s "
                      "replaces an earlier output folder, never a file): "
                      "choose another %s, or move the file away" %
                      (option, path, tool.overwrite, option))
    if not os.path.exists(path):
        return False
    if not os.listdir(path):
        return True
    if not os.path.isfile(os.path.join(path, summary)):
        other = written_by(path)
        raise Refused("%s %s is a folder holding files but no %s, so it is "
                      "not an earlier output of this tool%s: %s "
                      "replaces only those; choose another %s (a new or "
                      "empty folder)" % (
                          option, path, summary, "" if other is None else
                          " (it is %s, written by %s)" % (other.what,
                                                          other.program),
                          tool.overwrite, option))
    why = _why_not(path, tool)
    if why:
        raise Refused("%s %s holds a %s but is not an earlier output of %s: "
                      "%s; %s replaces only those: choose another "
                      "%s (a new or empty folder)" % (
                          option, path, summary, tool.program, why,
                          tool.overwrite, option))
    foreign = foreign_entries(path, tool)
    if foreign:
        raise Refused("%s %s is an earlier output of %s but also holds what "
                      "%s did not write: %s; %s would delete it: "
                      "move that out of the folder, or choose another %s" % (
                          option, path, tool.program, tool.program,
                          _listed(foreign), tool.overwrite, option))
    if not overwrite:
        raise Refused("%s exists: choose another %s, or pass %s to "
                      "replace it" % (path, option, tool.overwrite))
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
    beside it), so what the next start finds is never a live run's.
    A DIR that is a symbolic link is written where it points (the log
    says so)."""

    def __init__(self, path, overwrite=False, option="--out",
                 summary="summary.json", tool=None):
        """``summary``: the name of this tool's summary file
        (:data:`SUMMARY_FILES`), which an earlier output it may replace
        holds; ``tool``: the key of :data:`TOOLS` the summary names (by
        default the one writing ``summary``)."""
        if summary not in SUMMARY_FILES:
            raise ValueError("OutputDir: the summary file must be one of %s "
                             "(a finished output is known by it)" %
                             ", ".join(SUMMARY_FILES))
        self.tool = tool_of(tool, summary)
        given = os.path.abspath(path)
        self.path = out_path(path, option)
        if self.path != given:
            logger.info("%s %s is a symbolic link: the output goes where it "
                        "points, %s", option, given, self.path)
        self.summary = summary
        # refused: nothing touched
        check_target(self.path, overwrite, option, summary, self.tool.name)
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)
        self._lock = _Lock(os.path.join(
            parent, ".%s.lock" % os.path.basename(self.path)), self.path,
            option)
        try:
            recover(self.path, self.tool.name)
            # what recovery put in place counts
            if check_target(self.path, overwrite, option, summary,
                            self.tool.name):
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

    def write_union(self, expansions, tiers=None, top=None):
        """DIR/audiences.csv, the campaigns' audiences in one file (see
        :func:`union_of`), written a campaign at a time; returns what the
        summary says of it: its rows and distinct users."""
        rows, users = 0, []

        def write(f):
            nonlocal rows
            f.write((",".join(UNION_COLUMNS) + "\n").encode())
            for expansion in expansions:
                uids, names = union_of(expansion, tiers, top)
                buffer = io.StringIO()
                # every cell is formatted here from a number or a label
                csv.writer(buffer, lineterminator="\n").writerows(
                    (expansion.aid, int(u), n) for u, n in zip(uids, names))
                f.write(buffer.getvalue().encode())
                rows += len(uids)
                users.append(uids)
        atomic_write(os.path.join(self.tmp, UNION), write)
        distinct = len(np.unique(np.concatenate(users))) if users else 0
        return {"file": UNION, "rows": rows, "distinct_users": distinct}

    def write_served(self, expansion):
        """The campaign model's program (``expansion.served``) in the
        campaign's folder, recorded in its summary; the program is then
        let go (a campaign's full tables: not held for the whole run)."""
        from audience import serving
        folder = os.path.join(self.tmp, str(expansion.aid))
        os.makedirs(folder, exist_ok=True)
        served = expansion.served
        serving.save(served, os.path.join(folder, "model"))
        expansion.summary["model"] = dict(
            files=["%s/model.json" % expansion.aid,
                   "%s/model.pdiparams" % expansion.aid],
            inputs=list(serving.INPUT_NAMES), **served.record())
        expansion.served = None

    def commit(self, summary):
        """Write the summary document (naming the tool, first) and put the
        folder in place."""
        document = {"tool": self.tool.name}
        document.update((k, v) for k, v in summary.items() if k != "tool")
        try:
            self.write(self.summary, json.dumps(document, indent=1))
            replaced = _place(self.tmp, self.path, self.tool)
        finally:
            self._lock.release()
        if replaced:
            level, message, args = replaced
            logger.log(level, message, *args)
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


def _place(done, path, tool):
    """Put the finished output ``done`` at ``path``; what was there is moved
    aside (``<done>.old``) first and removed once ``done`` is in place,
    if it is still an earlier output of ``tool`` and nothing else (else
    kept, and said). Returns None when nothing was there, else the log
    record (level, message, args) of what became of it. A kill between
    any two steps leaves a state :func:`recover` completes."""
    old = done + OLD
    if os.path.lexists(path):
        os.replace(path, old)
    os.replace(done, path)
    if not os.path.lexists(old):
        return None
    if _empty(old):   # the empty folder the output was put in
        failed = _remove(old)
        return None if not failed else (
            logging.WARNING, "could not remove %s, the empty folder %s was "
            "(%s): remove it by hand", (old, path, failed))
    # checked at the start, it may have got files meanwhile: they are
    # someone's
    why = _why_not(old, tool) if os.path.isfile(os.path.join(
        old, tool.summary)) else "it holds no %s" % tool.summary
    foreign = foreign_entries(old, tool) if why is None else []
    if why or foreign:
        return (logging.WARNING, "kept %s, what %s held before: %s, so it "
                "is not removed: move what is yours where it belongs",
                (old, path, why or "files were put in it during the run (%s)"
                 % _listed(foreign)))
    held = _contents(old)
    failed = _remove(old)
    if failed:
        return (logging.WARNING, "could not remove %s, the earlier output of "
                "%s that %s held (%s): remove it by hand",
                (old, tool.program, path, failed))
    return (logging.INFO, "replaced the earlier output of %s in %s; removed "
            "what it held: %s", (tool.program, path, held))


def _discard(path, what, tool=None):
    """Remove ``path`` (``what`` it is, for the log); with ``tool``, a
    folder holding anything that tool does not write, or a summary that
    is not that tool's, is kept, and said (one half removed, without its
    summary, goes)."""
    why = None
    if tool and os.path.isdir(path) and not os.path.islink(path):
        foreign = foreign_entries(path, tool)
        why = "it holds what %s does not write (%s)" % (
            tool.program, _listed(foreign)) if foreign else None
        if not why and os.path.isfile(os.path.join(path, tool.summary)):
            why = _why_not(path, tool)
    if why:
        logger.warning("kept %s, %s: %s; move what is yours where it "
                       "belongs", path, what, why)
        return
    failed = _remove(path)
    if failed:
        logger.warning("could not remove %s, %s (%s): remove it by hand",
                       path, what, failed)
    else:
        logger.info("removed %s, %s", path, what)


def _mtime(path):
    return os.stat(path).st_mtime


def recover(path, tool=None):
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
    never removed; nor is anything else that is not a folder, nor an
    ``.old`` holding what ``tool`` (a key of :data:`TOOLS`) does not
    write."""
    tool = tool_of(tool) if tool is None else TOOLS[tool]
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
            _discard(partner, "an output replaced twice", tool)
        had = os.path.lexists(path) or os.path.lexists(partner)
        replaced = _place(done, path, tool)
        logger.warning(
            "restored %s from %s, the finished output of a run interrupted "
            "while putting it in place%s", path, done,
            "" if not had or replaced is None else
            "; " + replaced[1] % replaced[2])
    for old in sorted((o for o in olds if os.path.lexists(o)), key=_mtime,
                      reverse=True):
        if os.path.lexists(path) and not os.path.isdir(old):
            logger.warning("kept %s: a file an earlier version moved aside "
                           "when --out named it, not an output; move it "
                           "where it belongs", old)
        elif os.path.lexists(path):
            _discard(old, "the output an interrupted run replaced with %s" %
                     path, tool)
        else:
            os.replace(old, path)
            logger.warning("restored %s from %s, where a run interrupted "
                           "while replacing it had moved it", path, old)


# followed by open(), a lock path that is a link would create or take
# over the file it points to
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class _Lock:
    """Held by the one run writing an output folder (``flock`` on a file
    beside it, released when the run ends, or dies): the temporaries a
    start finds are then never a live run's. A lock path that is a
    symbolic link is refused, never followed."""

    def __init__(self, path, target, option="--out"):
        self.path, self.fd, self.option = path, None, option
        try:
            import fcntl
        except ImportError:   # not POSIX: no lock
            return
        while True:
            fd = self._open(path, target, option)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise Refused("another run is writing %s now (it holds %s): "
                              "wait for it to end, or choose another %s" %
                              (target, path, self.option))
            except OSError:   # a file system without locks
                os.close(fd)
                return
            try:
                same = os.fstat(fd).st_ino == os.lstat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)   # its holder removed it meanwhile: lock anew

    @staticmethod
    def _open(path, target, option):
        refusal = ("%s, the lock file of %s, is a symbolic link (to %s), "
                   "not a file this tool made: nothing was written; remove "
                   "the link, or choose another " + option)
        if os.path.islink(path):
            raise Refused(refusal % (path, target, os.readlink(path)))
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o666)
        except OSError as exc:
            if exc.errno == errno.ELOOP and os.path.islink(path):
                raise Refused(refusal % (path, target, os.readlink(path)))
            raise

    def release(self):
        if self.fd is None:
            return
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


SIGNIFICANT_DIGITS = 4


def rounded(value, digits=SIGNIFICANT_DIGITS):
    """``value`` (a JSON value) with every float rounded to ``digits``
    significant digits (0.8299713 -> 0.83, 3.1892288 -> 3.189): the one
    place summary.json's figures are rounded. Ints, strings, booleans,
    None, NaN and infinities are left as they are."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        return float("%.*g" % (digits, value))
    return value


def summary_document(config, expansions, skipped, top, extra=None,
                     provenance=None):
    """summary.json of an expansion run (``top``: its size, a fraction or
    a count; ``extra``: what the options add; ``provenance``: what
    produced it, :func:`audience.provenance.provenance`), its figures
    :func:`rounded`, its provenance exact."""
    from audience.ranking import top_record
    doc = dict(top_record(top))
    doc.update({"min_seeds": config.get("expand.min_seeds"),
                "negative_ratio": config.get("expand.negative_ratio"),
                "campaigns": [e.summary for e in expansions],
                "skipped": [s.record() for s in skipped]})
    lifts = [r["lift"] for e in expansions for r in e.summary.get("reach", ())
             if r["top_fraction"] == 0.05 and r["lift"] is not None]
    if lifts:
        doc["mean_lift_top_5pct"] = float(np.mean(lifts))
    doc.update(extra or {})
    doc = rounded(doc)
    if provenance is not None:
        doc["provenance"] = provenance
    return doc
