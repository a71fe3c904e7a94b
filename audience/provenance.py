"""What produced an expansion, so that its audiences can be traced and made
again: summary.json's ``provenance``.

    checkpoint   the .pdparams file the campaigns were fine-tuned from: its
                 path and sha256
    seeds, candidates, users, ads, exclude
                 the input files, absolute paths (None when not given;
                 ``users`` and ``ads``: the user table of form 2)
    config       every config key as the run resolved it (the meta-test
                 settings a checkpoint's run chose included), as run.json
                 records a training run's
    created      when, UTC, ISO 8601
    version      the installed project's version (``metaheac-paddle``) and
                 the git commit of its source, each None when unknown
"""
import datetime
import json
import os
import subprocess

PACKAGE = "metaheac-paddle"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def checkpoint_record(path):
    """The .pdparams file of a checkpoint folder or file, and its sha256."""
    from runkit.runs import sha256
    path = os.path.abspath(path)
    file = os.path.join(path, "rec.pdparams") if os.path.isdir(path) else path
    return {"path": file, "sha256": sha256(file)}


def package_version():
    from importlib import metadata
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def git_commit(root=ROOT):
    """The commit of the source checkout at ``root`` (``-dirty`` appended
    when it has uncommitted changes), or None: not a git checkout (an
    installed copy: no git folder of its own, so an enclosing repository
    is never named instead), or git is absent or fails."""
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit + "-dirty" if dirty.returncode == 0 and \
        dirty.stdout.strip() else commit


def version_record():
    return {"package": package_version(), "commit": git_commit()}


def _path(path):
    return None if path is None else os.path.abspath(path)


def provenance(config, checkpoint, seeds, candidates=None, users=None,
               ads=None, exclude=None, now=None):
    """The ``provenance`` record of a run of ``config`` (the resolved
    Config) from the checkpoint folder or file ``checkpoint`` on these
    inputs; ``now``: the time to record (default: now)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        "checkpoint": checkpoint_record(checkpoint),
        "seeds": _path(seeds), "candidates": _path(candidates),
        "users": _path(users), "ads": _path(ads), "exclude": _path(exclude),
        # as run.json dumps a run's config: values JSON cannot hold as
        # they are, as their text
        "config": json.loads(json.dumps(dict(config), default=str)),
        "created": now.astimezone(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "version": version_record(),
    }
