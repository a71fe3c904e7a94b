"""Files written so that a crash never leaves a half-written one under its
real name: the one writer every tool uses (results, frames, raw files)."""
import errno
import logging
import os
import shutil

logger = logging.getLogger("metaheac")


def temporary_folder(parent, prefix):
    """A folder to fill and then rename into place. ``tempfile.mkdtemp``
    makes it owner-only (0700); it gets the permissions the umask gives a
    plain new folder, so that once renamed it is as readable as any other
    output (a serving process may run as another user)."""
    import tempfile
    folder = tempfile.mkdtemp(prefix=prefix, dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    return folder


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary binary file beside ``path``, then
    rename it to ``path``; on any failure the temporary file is removed."""
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError) and exc.errno and not exc.filename:
            # a full disk fails in write or close, which name no file
            raise OSError(exc.errno, exc.strerror, path) from exc
        raise


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text.encode()))


def keep_previous(path, announce=True):
    """Move an existing output aside (``<path>.prev``), saying so unless the
    caller reports it itself."""
    if not os.path.exists(path):
        return
    backup = path + ".prev"
    if os.path.isdir(backup):
        shutil.rmtree(backup)
    elif os.path.exists(backup):
        os.remove(backup)
    os.replace(path, backup)
    if announce:
        logger.warning("%s existed from an earlier run: kept it as %s", path,
                       backup)


def check_writable(folder, key, setting=None):
    """Fail before any work if ``folder`` (the value of config ``key``)
    cannot be created or written: a probe file is made and removed there
    (mode bits say nothing for root). The probe goes in every case: on a
    full disk it is created and only its write fails. The fix names
    config key or option ``setting`` (``key`` itself by default)."""
    probe = os.path.join(folder, ".write-probe.tmp-%d" % os.getpid())
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "w") as f:
            f.write("probe")
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", None))
        raise ValueError("%s %s is not writable: %s: %s, or set %s to "
                         "another folder" % (
                             key, folder, exc.strerror or exc,
                             "free space on its disk" if full else
                             "make it writable for this user",
                             setting or key))
    finally:
        try:
            os.remove(probe)
        except OSError:
            pass   # never made


def check_room(folder, needed, key, what="a checkpoint", setting=None):
    """Fail before any work when ``folder`` (named by ``key``) has less than
    the ``needed`` bytes ``what`` takes; the fix names config key or
    option ``setting`` (``key`` itself by default)."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ValueError("%s %s has %.1f MB free; about %.1f MB is needed "
                         "for %s: free space there, or set %s to a folder "
                         "with room" % (key, folder, free / 2**20,
                                        needed / 2**20, what, setting or key))


def existing_folder(path):
    """``path``, or its nearest ancestor that exists: where a probe can go
    without making folders."""
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def folders_to_make(folder):
    """The folders ``os.makedirs(folder)`` would create, deepest first."""
    made = []
    path = os.path.abspath(folder)
    while not os.path.lexists(path):
        made.append(path)
        path = os.path.dirname(path)
    return made


def remove_if_empty(folders):
    """Remove ``folders`` (deepest first, from :func:`folders_to_make`)
    that are empty: what a failed run made and left with nothing in it.
    Stops at the first that is not empty (or gone)."""
    for path in folders:
        try:
            os.rmdir(path)
        except OSError:
            return
