"""Columnar cache of stage files: plain .npy arrays, loaded memory-mapped.

Converting a multi-million-row DataFrame of list cells to arrays takes
minutes and several GiB; the cache does it once. Each cached stage is a
folder ``<cache_dir>/<file name>.<path tag>.<key>/`` holding one .npy per
array and a ``meta.json``. The path tag hashes the source's absolute path,
so same-named files of two folders sharing a cache keep one entry each; the
key hashes the path, size and modification time and the schema, so a
changed, truncated or replaced source file (or a schema change) misses the
cache and is converted again. A folder is written under a temporary name
(``.tmp-<host>-<pid>-...``) and renamed into place, so a crash never leaves
a half-written entry under a real key, and the next start knows whether
the writer of a temporary folder is gone.
"""
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time

import numpy as np

from dataio import schema
from dataio.atomic import temporary_folder

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
# features: static, dynamic, lengths and ad side by side ([N, 70]), so that
# a sampled row is one contiguous read
ARRAYS = ("label", "aid", "features")


def cache_key(path):
    st = os.stat(path)
    key = {
        "path": os.path.abspath(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "format": FORMAT_VERSION,
        "columns": schema.ALL_COLUMNS,
        "dynamic": schema.DYNAMIC_FIELDS,
    }
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def default_cache_dir(path):
    return os.path.join(os.path.dirname(os.path.abspath(path)), ".cache")


def writable(folder):
    """Whether to write into ``folder`` (or where it would be created).

    A folder without any write permission bit is treated as read-only even
    for root, who could write anyway: shared or released data stays as is.
    """
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent
    mode = os.stat(folder).st_mode
    return bool(mode & 0o222) and os.access(folder, os.W_OK)


def _entry_prefix(path):
    """The start of every entry name of this very file, whatever its key."""
    tag = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:8]
    return "%s.%s." % (os.path.basename(path), tag)


def _entry(cache_dir, path):
    return os.path.join(cache_dir, _entry_prefix(path) + cache_key(path))


def _stale(name, path, entry):
    """Whether cache folder ``name`` is an outdated entry of ``path``: its
    own under an older key, or one of the layout before path tags (named by
    file name only, so no run finds it any more)."""
    if name == os.path.basename(entry):
        return False
    return name.startswith(_entry_prefix(path)) or re.fullmatch(
        re.escape(os.path.basename(path)) + r"\.[0-9a-f]{16}", name)


def _narrow(array):
    """The smallest of int8/int32/int64 that holds every value."""
    if array.size == 0:
        return array.astype(np.int32)
    lo, hi = int(array.min()), int(array.max())
    for dtype in (np.int8, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return array.astype(dtype)
    return array.astype(np.int64)


def load(cache_dir, path):
    """The cached arrays of ``path`` (memory-mapped), or None on a miss.
    Leftovers of dead writers in ``cache_dir`` go first (one listdir), so
    a hit cleans up too, not only the next write."""
    if os.path.isdir(cache_dir):
        _remove_leftovers(cache_dir)
    entry = _entry(cache_dir, path)
    meta_file = os.path.join(entry, "meta.json")
    if not os.path.isfile(meta_file):
        return None
    try:
        with open(meta_file) as f:
            meta = json.load(f)
        arrays = {name: np.load(os.path.join(entry, name + ".npy"),
                                mmap_mode="r") for name in ARRAYS}
    except (OSError, ValueError) as exc:
        logger.warning("cache entry %s is unreadable (%s): converting %s "
                       "again", entry, exc, path)
        return None
    if any(len(a) != meta["rows"] for a in arrays.values()):
        logger.warning("cache entry %s is inconsistent: converting %s again",
                       entry, path)
        return None
    return arrays, meta


# a foreign temporary folder (another machine's, or named before writers
# put their pid in the name) younger than this may be a write in progress
LEFTOVER_AGE_S = 600
TMP_PREFIX = ".tmp-"
_TMP_NAME = re.compile(r"\.tmp-(?P<space>.+)-(?P<pid>\d+)-[^-]*")


def _process_space():
    """Where a pid means one process: this host, and its pid namespace when
    known (containers sharing a hostname and a mounted cache see different
    processes under the same pids)."""
    host = socket.gethostname()
    try:
        return "%s@%d" % (host, os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return host


def temporary_prefix(pid=None):
    """The prefix of the temporary folders process ``pid`` (this one if
    None) writes: it tells a later start whether their writer is alive."""
    return "%s%s-%d-" % (TMP_PREFIX, _process_space(),
                         os.getpid() if pid is None else pid)


def _writer_alive(pid):
    if pid <= 0:
        return False
    if pid == os.getpid():
        # this process writes one entry at a time and is not writing now:
        # the folder is an earlier process's that had the same pid (pids
        # repeat, e.g. in a container)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # alive, another user's (EPERM)
        return True
    return True


def _is_leftover(cache_dir, name, now):
    match = _TMP_NAME.fullmatch(name)
    if match and match["space"] == _process_space():
        return not _writer_alive(int(match["pid"]))
    return now - os.path.getmtime(os.path.join(cache_dir, name)) > \
        LEFTOVER_AGE_S


def _remove_leftovers(cache_dir):
    """Half-written entries of an interrupted run, named in one log line.
    The processes of a collective run share the cache: a folder whose
    writer is alive is left to it."""
    now = time.time()
    found = []
    for name in sorted(os.listdir(cache_dir)):
        try:
            if name.startswith(TMP_PREFIX) and _is_leftover(cache_dir, name,
                                                            now):
                found.append(name)
        except OSError:   # finished and renamed meanwhile
            continue
    for name in found:
        shutil.rmtree(os.path.join(cache_dir, name), ignore_errors=True)
    # a read-only cache folder keeps them: only what went is said gone
    removed = [n for n in found
               if not os.path.lexists(os.path.join(cache_dir, n))]
    if removed:
        logger.info("removed leftovers of an interrupted cache write in %s: %s",
                    cache_dir, ", ".join(removed))


def store(cache_dir, path, arrays, meta):
    """Write an entry atomically; drop stale entries of the same file.

    Returns False (with a warning) when the cache folder is not writable,
    e.g. beside read-only data: the caller then works without a cache.
    """
    if not writable(cache_dir):
        logger.warning("%s is read-only: %s is read without a cache "
                       "(set runner.cache_dir to a writable folder)",
                       cache_dir, path)
        return False
    try:
        os.makedirs(cache_dir, exist_ok=True)
        _remove_leftovers(cache_dir)
        tmp = temporary_folder(cache_dir, temporary_prefix())
    except OSError as exc:
        logger.warning("cannot write the cache in %s (%s): %s is read "
                       "without one", cache_dir, exc, path)
        return False
    try:
        for name in ARRAYS:
            np.save(os.path.join(tmp, name + ".npy"), _narrow(arrays[name]))
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f)
        entry = _entry(cache_dir, path)
        for old in os.listdir(cache_dir):
            if _stale(old, path, entry):
                shutil.rmtree(os.path.join(cache_dir, old), ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:
            if not os.path.isfile(os.path.join(entry, "meta.json")):
                raise
            # another process stored the same entry first: keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        logger.warning("cannot write the cache for %s (%s)", path, exc)
        return False
    return True
