"""One run per save folder, described by a manifest; true resume.

``<model_save_path>/run.json`` holds the resolved config, the seed, the
start time, the project version, the parameters' internal names (the keys
of ``rec.pdopt``) and, for every finished epoch, the size and SHA-256 of its
files and the state of the reader's random stream after it. It is written
atomically after each epoch folder is in place.

* A trainer run into a folder holding another run's checkpoints is refused
  before any work, unless ``runner.resume`` (continue it) or
  ``runner.overwrite`` (replace it: the old run's files are removed only
  once the new run's first epoch is saved, and the log names them).
* ``runner.resume`` continues from the last epoch the manifest lists:
  model, Adam state, epoch counter and the reader's random stream, so the
  checkpoints equal an uninterrupted run's; a different training config is
  refused, naming the keys.
* Tools that load a checkpoint check it against the manifest
  (``verify_checkpoint``); a folder without one (older runs, PaddleRec's)
  loads with a warning.
"""
import datetime
import hashlib
import json
import logging
import os
import shutil
import subprocess

from dataio.rare_ids import FILE as ID_MAP_FILE
from runkit.atomic import write_text
from runkit.checkpoint import CheckpointError
from runkit.cli import Refused

logger = logging.getLogger("metaheac")

MANIFEST = "run.json"
# and the rare-id mapping, when the run has one
FILES = ("rec.pdparams", "rec.pdopt", ID_MAP_FILE)
# keys a resumed run may change: they do not change what is trained
RESUMABLE_CHANGES = ("runner.epochs", "runner.num_threads",
                     "runner.print_interval", "runner.resume",
                     "runner.overwrite", "runner.use_auc", "runner.use_gpu",
                     "runner.use_cache", "runner.save_scores")


def training_config(config):
    """The config keys that decide the trained weights."""
    return {k: v for k, v in config.items()
            if (k.startswith("hyper_parameters.") or k == "runner.seed")}


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(folder):
    return {name: {"size": os.path.getsize(os.path.join(folder, name)),
                   "sha256": sha256(os.path.join(folder, name))}
            for name in FILES if os.path.isfile(os.path.join(folder, name))}


def read_manifest(save_dir):
    path = os.path.join(save_dir, MANIFEST)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise CheckpointError("%s is unreadable (%s)" % (path, exc))


def epoch_folders(save_dir):
    if not os.path.isdir(save_dir):
        return []
    return sorted((name for name in os.listdir(save_dir) if name.isdigit()),
                  key=int)


def project_version():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(["git", "-C", root, "describe", "--always",
                              "--dirty"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def verify_epoch(save_dir, epoch, manifest):
    """The epoch folder's files match the manifest, else a clear error."""
    folder = os.path.join(save_dir, str(epoch))
    listed = manifest.get("epochs", {}).get(str(epoch))
    if listed is None:
        raise CheckpointError(
            "%s is not part of the run described by %s (epochs %s): it was "
            "left by another run or an interrupted save" % (
                folder, os.path.join(save_dir, MANIFEST),
                ", ".join(manifest.get("epochs", {})) or "none"))
    for name, want in listed["files"].items():
        path = os.path.join(folder, name)
        missing = not os.path.isfile(path)
        if missing or os.path.getsize(path) != want["size"] \
                or sha256(path) != want["sha256"]:
            backup = os.path.join(folder + ".prev", name)
            hint = ""
            if os.path.isfile(backup) and sha256(backup) == want["sha256"]:
                hint = "; an intact copy is %s" % backup
            raise CheckpointError("%s %s in %s: the %s%s" % (
                path, "is missing, but listed" if missing else
                "does not match its checksum", os.path.join(save_dir, MANIFEST),
                "checkpoint is incomplete" if missing else "file is damaged",
                hint))


_warned = set()


def verify_checkpoint(folder):
    """Check an epoch folder a tool is about to load against its run's
    manifest; without a manifest, warn once and go on."""
    folder = os.path.abspath(folder)
    save_dir, epoch = os.path.dirname(folder), os.path.basename(folder)
    manifest = read_manifest(save_dir)
    if manifest is None:
        if save_dir not in _warned:
            logger.warning("%s has no %s (a run from before manifests, or "
                           "PaddleRec's): its checkpoints are not checked",
                           save_dir, MANIFEST)
            _warned.add(save_dir)
        return None
    verify_epoch(save_dir, epoch, manifest)
    return manifest


class Run:
    """The run a trainer writes into ``save_dir``."""

    def __init__(self, save_dir, config, param_names, processes=1,
                 writer=True):
        """``processes``: how many train together (runner.use_fleet);
        ``writer``: whether this process may change ``save_dir`` (only the
        collective run's rank 0 does)."""
        self.save_dir = save_dir
        self.config = config
        self.processes = processes
        self.writer = writer
        self.start_epoch = 0
        self.resume_from = None    # epoch folder to continue from
        self.reader_state = None
        self._old = []             # another run's files, removed once we save
        found = epoch_folders(save_dir)
        manifest = read_manifest(save_dir)
        if config.get("runner.resume"):
            self._resume(manifest, found)
        elif found or manifest is not None:
            if not config.get("runner.overwrite"):
                raise Refused(
                    "%s holds the checkpoints of another run (epochs %s): "
                    "continue it with -o runner.resume=True, or replace it "
                    "with -o runner.overwrite=True (the old run is removed "
                    "only once this run's first epoch is saved)" % (
                        save_dir, ", ".join(found) or "none"))
            self._old = sorted(os.listdir(save_dir))
            self.manifest = self._new_manifest(param_names)
        else:
            self.manifest = self._new_manifest(param_names)

    def _new_manifest(self, param_names):
        return {"run_id": os.urandom(8).hex(),
                "started": datetime.datetime.now().isoformat(timespec="seconds"),
                "project_version": project_version(),
                "seed": self.config.get("runner.seed"),
                "config": {k: v for k, v in self.config.items()},
                "param_names": list(param_names), "processes": self.processes,
                "epochs": {}}

    def _resume(self, manifest, found):
        if manifest is None:
            raise Refused("runner.resume: %s has no %s to resume from%s" % (
                self.save_dir, MANIFEST,
                " (its checkpoints predate manifests: use "
                "runner.model_init_path to warm-start from one)" if found
                else ""))
        before = training_config(manifest["config"])
        now = training_config(self.config)
        differ = sorted(k for k in set(before) | set(now)
                        if before.get(k) != now.get(k))
        if differ:
            raise Refused("runner.resume: the config differs from the run in "
                          "%s in %s; only %s may change" % (
                              self.save_dir, ", ".join(differ),
                              ", ".join(RESUMABLE_CHANGES) + " and paths"))
        before = manifest.get("processes", 1)
        if before != self.processes:
            raise Refused("runner.resume: the run in %s trained with %d "
                          "process(es), this one has %d: a meta-batch would "
                          "change size; resume it with %d" % (
                              self.save_dir, before, self.processes, before))
        self.manifest = manifest
        done = sorted((int(e) for e in manifest["epochs"]))
        if done:
            last = done[-1]
            verify_epoch(self.save_dir, last, manifest)
            self.resume_from = os.path.join(self.save_dir, str(last))
            self.reader_state = manifest["epochs"][str(last)]["reader_rng"]
            self.start_epoch = last + 1
        unlisted = [e for e in found if e not in manifest["epochs"]]
        if not self.writer:
            unlisted = []
        for name in unlisted:  # an interrupted save beyond the last listed
            shutil.rmtree(os.path.join(self.save_dir, name))
        if unlisted:
            logger.info("resume: removed epoch folder(s) %s, saved after the "
                        "manifest's last epoch by the interrupted run",
                        ", ".join(unlisted))
        logger.info("resuming %s from %s", self.save_dir,
                    "epoch %d" % self.start_epoch if done else "the start")

    @property
    def replacing(self):
        """An overwriting run that has not yet removed the old run."""
        return bool(self._old)

    def optimizer_state(self, state, param_names):
        """``rec.pdopt`` keys renamed from the resumed run's parameter names
        to this process's (they are numbered in creation order)."""
        rename = dict(zip(self.manifest["param_names"], param_names))
        out = {}
        for key, value in state.items():
            for old, new in rename.items():
                if key.startswith(old + "_"):
                    key = new + key[len(old):]
                    break
            out[key] = value
        return out

    def record_epoch(self, epoch, folder, reader_state):
        """After ``folder`` is in place: the manifest lists it; the first
        epoch of an overwriting run then removes the old run's files."""
        self.manifest["epochs"][str(epoch)] = {
            "files": file_record(folder), "reader_rng": reader_state,
            "saved": datetime.datetime.now().isoformat(timespec="seconds")}
        write_text(os.path.join(self.save_dir, MANIFEST),
                   json.dumps(self.manifest, indent=1, default=str))
        if self._old:
            mine = set(self.manifest["epochs"]) | {MANIFEST}
            removed = []
            for name in self._old + [str(epoch) + ".prev"]:
                path = os.path.join(self.save_dir, name)
                if name in mine or not os.path.exists(path):
                    continue
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
                removed.append("epoch " + name[:-len(".prev")]
                               if name.endswith(".prev") else name)
            logger.warning("runner.overwrite: removed the earlier run's %s "
                           "from %s", ", ".join(sorted(removed)) or "files",
                           self.save_dir)
            self._old = []
