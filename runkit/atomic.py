"""Files written so that a crash never leaves a half-written one under its
real name: the one writer every tool uses (results, frames, raw files)."""
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
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
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


def check_writable(folder, key):
    """Fail before any work if ``folder`` (the value of config ``key``)
    cannot be created or written: a probe file is made and removed there
    (mode bits say nothing for root). The probe goes in every case: on a
    full disk it is created and only its write fails."""
    probe = os.path.join(folder, ".write-probe.tmp-%d" % os.getpid())
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "w") as f:
            f.write("probe")
    except OSError as exc:
        raise ValueError("%s %s is not writable: %s" % (key, folder,
                                                        exc.strerror or exc))
    finally:
        try:
            os.remove(probe)
        except OSError:
            pass   # never made


def check_room(folder, needed, key):
    """Fail before any work when ``folder`` has less than ``needed`` bytes."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ValueError("%s %s has %.1f MB free; a checkpoint needs about "
                         "%.1f MB" % (key, folder, free / 2**20, needed / 2**20))
