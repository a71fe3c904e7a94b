"""Files written so that a crash never leaves a half-written one under its
real name: the one writer every tool uses (results, frames, raw files)."""
import logging
import os
import shutil

logger = logging.getLogger("metaheac")


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


def keep_previous(path):
    """Move an existing output aside (``<path>.prev``), saying so."""
    if not os.path.exists(path):
        return
    backup = path + ".prev"
    if os.path.isdir(backup):
        shutil.rmtree(backup)
    elif os.path.exists(backup):
        os.remove(backup)
    os.replace(path, backup)
    logger.warning("%s existed from an earlier run: kept it as %s", path,
                   backup)


def write_result(path, text):
    """Write a result file atomically, keeping an earlier one as .prev."""
    keep_previous(path)
    write_text(path, text)
