"""One run per save folder, described by a manifest; true resume.

``<model_save_path>/run.json`` holds the resolved config, the seed, the
start time, the project version, the parameters' internal names (the keys
of ``rec.pdopt``), for every epoch the size and SHA-256 of its files, the
state of the reader's random stream after it and its training metrics
(mean loss, AUC, time), and what each resume changed.

* An epoch is listed in the manifest (marked ``saving``) *before* its folder
  is renamed into place, and unmarked after: whatever moment a run is
  killed at, every epoch folder it made is in its manifest, and a resume
  tells a save that finished (the folder matches) from one that did not
  (trained again). A fresh run writes its manifest before its first step,
  so a run killed before its first save resumes from the start.
* A trainer run into a folder holding another run's checkpoints is refused
  before any work, unless ``runner.resume`` (continue it) or
  ``runner.overwrite`` (replace it). Overwrite removes only what the earlier
  run wrote (:func:`run_entries`), once the new run's first epoch is in
  place, and names it; anything else in the folder is kept, and an entry
  that is not the earlier run's but has the name of an epoch folder the new
  run writes is refused before any work.
* ``runner.resume`` checks every epoch the manifest lists, then continues
  from the last: model, Adam state, epoch counter and the reader's random
  stream, so the checkpoints equal an uninterrupted run's; a different
  training config is refused, naming the keys.
* Tools that load a checkpoint (an epoch folder or a file in one) check it
  against the manifest (``verify_checkpoint``); a run without one (older
  runs, PaddleRec's) loads with a warning.
"""
import datetime
import hashlib
import json
import logging
import os
import shutil
import subprocess

from dataio.rare_ids import FILE as ID_MAP_FILE
from dataio.atomic import atomic_write, keep_previous, temporary_folder
from runkit.checkpoint import TMP_MARK, CheckpointError
from runkit.cli import Refused

logger = logging.getLogger("metaheac")

MANIFEST = "run.json"
# and the rare-id mapping, when the run has one
FILES = ("rec.pdparams", "rec.pdopt", ID_MAP_FILE)
PREV = ".prev"
# keys a resumed run may change: they do not change what is trained
RESUMABLE_CHANGES = ("runner.epochs", "runner.num_threads",
                     "runner.print_interval", "runner.resume",
                     "runner.overwrite", "runner.use_auc", "runner.use_gpu",
                     "runner.use_cache", "runner.save_scores",
                     "runner.use_visual", "runner.visual_log_path")
# set by every resume: not a change worth recording
UNRECORDED = ("runner.resume", )


def training_config(config):
    """The config keys that decide the trained weights."""
    return {k: v for k, v in config.items()
            if (k.startswith("hyper_parameters.") or k == "runner.seed")}


def now():
    return datetime.datetime.now().isoformat(timespec="seconds")


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


def epoch_of(name):
    """The epoch of an entry named like an epoch folder (``3``) or its
    backup (``3.prev``), else None."""
    base = name[:-len(PREV)] if name.endswith(PREV) else name
    return int(base) if base.isdigit() else None


def _order(name):
    epoch = epoch_of(name)
    return (epoch is None, epoch or 0, name)


def _holds_checkpoint(path):
    return os.path.isfile(os.path.join(path, FILES[0]))


def run_entries(save_dir, manifest):
    """The entries of ``save_dir`` that its run wrote, which
    ``runner.overwrite`` removes: with a manifest, the epoch folders it
    lists, their ``.prev`` copies (if they hold ``rec.pdparams``), what an
    unfinished overwrite of its own was to remove, and ``run.json``;
    without one (a run from before manifests, or PaddleRec's), the folders
    named ``<epoch>`` or ``<epoch>.prev`` that hold ``rec.pdparams``."""
    if not os.path.isdir(save_dir):
        return []
    present = set(os.listdir(save_dir))
    if manifest is None:
        names = {n for n in present if epoch_of(n) is not None and
                 _holds_checkpoint(os.path.join(save_dir, n))}
    else:
        names = {MANIFEST} | set(manifest.get("replaces", {}).get("names", []))
        for epoch in manifest.get("epochs", {}):
            names.add(epoch)
            if _holds_checkpoint(os.path.join(save_dir, epoch + PREV)):
                names.add(epoch + PREV)
    return sorted(names & present, key=_order)


def project_version():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(["git", "-C", root, "describe", "--always",
                              "--dirty"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _matches(folder, files):
    for name, want in files.items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or os.path.getsize(path) != want["size"] \
                or sha256(path) != want["sha256"]:
            return path
    return None


def verify_epoch(save_dir, epoch, manifest, names=None, then=""):
    """The files of epoch folder ``epoch`` (or of its ``.prev`` copy, when
    ``epoch`` is ``"<n>.prev"``; only ``names`` if given) match the
    manifest, else an error naming the file and the fix (``then``: what to
    do after it)."""
    epoch = str(epoch)
    folder = os.path.join(save_dir, epoch)
    number = epoch_of(epoch)
    listed = manifest.get("epochs", {}).get(
        str(number) if number is not None else epoch)
    run_json = os.path.join(save_dir, MANIFEST)
    if listed is None:
        raise CheckpointError(
            "%s is not part of the run described by %s (epochs %s): it was "
            "left by another run or an interrupted save" % (
                folder, run_json,
                ", ".join(manifest.get("epochs", {})) or "none"))
    files = {k: v for k, v in listed["files"].items()
             if names is None or k in names}
    bad = _matches(folder, files)
    if bad is None:
        return
    if listed.get("saving"):
        raise CheckpointError(
            "%s: epoch %s was being saved when its trainer stopped (%s marks "
            "it so) and its folder is not in place: continue the run with "
            "tools/trainer.py -o runner.resume=True" % (bad, number, run_json))
    backup = os.path.join(save_dir, "%s%s" % (number, PREV))
    intact = backup != folder and os.path.isdir(backup) and \
        _matches(backup, listed["files"]) is None
    if not os.path.isdir(folder):
        problem = "epoch %s of the run in %s is missing (no folder %s)" % (
            number, save_dir, folder)
        repair = "rename it to %s" % folder
    elif not os.path.isfile(bad):
        problem = "%s is missing, but listed in %s: the checkpoint is " \
            "incomplete" % (bad, run_json)
        repair = "copy it back"
    else:
        problem = "%s does not match its checksum in %s: the file is " \
            "damaged" % (bad, run_json)
        repair = "copy it back"
    raise CheckpointError("%s; %s" % (problem, (
        "%s is an intact copy: %s%s" % (backup, repair, then) if intact else
        "restore it from a copy%s, or train the run again (tools/trainer.py "
        "-o runner.overwrite=True)" % then)))


def _sync_folder(folder):
    """Make a rename in ``folder`` durable (where the system allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass   # a file system or platform without directory fsync
    finally:
        os.close(fd)


_warned = set()


def _unchecked(path, why):
    if path not in _warned:
        logger.warning("%s is not checked: %s", path, why)
        _warned.add(path)


def verify_checkpoint(path):
    """Check a checkpoint a tool is about to load, an epoch folder or a file
    in one (``<run>/<epoch>/rec.pdparams``, also in a ``.prev`` copy),
    against its run's manifest; returns the manifest. Without a manifest,
    warn once and go on; a path that does not exist is left to the loader,
    which names it."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        folder, names = path, None
    elif os.path.isfile(path):
        folder, names = os.path.dirname(path), [os.path.basename(path)]
    else:
        return None
    save_dir, epoch = os.path.dirname(folder), os.path.basename(folder)
    manifest = read_manifest(save_dir)
    if manifest is None and names and epoch_of(epoch) is None:
        # a loose file: its folder is no epoch folder, so no run is above
        _unchecked(path, "its folder %s is not a run's epoch folder "
                   "(<runner.model_save_path>/<epoch>/, described by the "
                   "run's %s)" % (folder, MANIFEST))
        return None
    if manifest is None:
        _unchecked(path, "%s has no %s (a run from before manifests, or "
                   "PaddleRec's, or not a run's epoch folder)" % (
                       save_dir, MANIFEST))
        return None
    if names and (epoch_of(epoch) is None or names[0] not in FILES):
        _unchecked(path, "%s lists only the %s of its epoch folders" % (
            os.path.join(save_dir, MANIFEST), " and ".join(FILES)))
        return manifest
    verify_epoch(save_dir, epoch, manifest, names)
    warning = manifest.get("epochs", {}).get(epoch, {}).get("warning")
    if warning:   # recorded when it was saved: every user of it is told
        logger.warning("%s: its run recorded: %s", folder, warning)
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
        self.trained_now = False   # an epoch was trained by this process
        self.resume_from = None    # epoch folder to continue from
        self.reader_state = None
        self._replaces = []        # the earlier run's, removed once we save
        self._replaced_run = None
        manifest = read_manifest(save_dir)
        if config.get("runner.resume"):
            self._resume(manifest)
            return
        earlier = run_entries(save_dir, manifest)
        if manifest is not None and not manifest.get("epochs") and \
                not manifest.get("replaces"):
            earlier = []   # a run that saved nothing: nothing to keep
        if earlier:
            self._replace(earlier, manifest)
        self._refuse_what_is_in_the_way(0)
        self.manifest = self._new_manifest(param_names)

    # ------------------------------------------------------------ set-up
    def _new_manifest(self, param_names):
        return {"run_id": os.urandom(8).hex(), "started": now(),
                "project_version": project_version(),
                "seed": self.config.get("runner.seed"),
                "config": {k: v for k, v in self.config.items()},
                "param_names": list(param_names), "processes": self.processes,
                "epochs": {}}

    def _replace(self, earlier, manifest):
        epochs = sorted(manifest["epochs"], key=int) if manifest else sorted(
            {str(epoch_of(n)) for n in earlier}, key=int)
        if not self.config.get("runner.overwrite"):
            raise Refused(
                "%s holds the checkpoints of another run (epochs %s): "
                "continue it with -o runner.resume=True, or replace it with "
                "-o runner.overwrite=True (that removes its %s once this "
                "run's first epoch is saved; other files there are kept)" % (
                    self.save_dir, ", ".join(epochs) or "none",
                    ", ".join(earlier)))
        self._replaces = earlier
        self._replaced_run = manifest.get("run_id") if manifest else None
        logger.info("runner.overwrite: the earlier run in %s (epochs %s) is "
                    "removed once this run's first epoch is saved: %s; "
                    "anything else there is kept", self.save_dir,
                    ", ".join(epochs) or "none", ", ".join(earlier))

    def _refuse_what_is_in_the_way(self, first):
        """An entry this run would save over, or that saving would replace
        (an epoch's ``.prev``), and that is not the earlier run's: refused
        before any work, as nothing but the earlier run is removed."""
        ours = set(self._replaces)
        if self.config.get("runner.resume"):
            # a save killed between moving the earlier run's epoch aside and
            # renaming its own into place left that epoch in <epoch>.prev
            ours |= {n + PREV for n in ours if n.isdigit()}
        why = ("%s does not list it" % MANIFEST
               if os.path.isfile(os.path.join(self.save_dir, MANIFEST)) or
               self.config.get("runner.resume") else
               "not a folder holding %s" % FILES[0])
        for epoch in range(first, self.config.get("runner.epochs")):
            path = os.path.join(self.save_dir, str(epoch))
            if os.path.lexists(path) and str(epoch) not in ours:
                blocker, what = path, "this run saves epoch %d there" % epoch
            elif str(epoch) in ours and os.path.lexists(path + PREV) and \
                    str(epoch) + PREV not in ours:
                blocker, what = path + PREV, (
                    "saving epoch %d moves the earlier run's %s there" % (
                        epoch, path))
            else:
                continue
            resume = self.config.get("runner.resume")
            raise Refused(
                "%s is in the way: %s, and it is not a checkpoint of %s run "
                "in %s (%s), so it is not removed: move it elsewhere, %s" % (
                    blocker, what, "the" if resume else "an earlier",
                    self.save_dir, why, "then resume again" if resume else
                    "or choose another runner.model_save_path"))

    def _resume(self, manifest):
        if manifest is None:
            raise Refused(self._no_manifest())
        before = self._effective_config(manifest)
        differ = sorted(k for k in set(training_config(before)) |
                        set(training_config(self.config))
                        if before.get(k) != self.config.get(k))
        if differ:
            raise Refused("runner.resume: the config differs from the run in "
                          "%s in %s; only %s may change" % (
                              self.save_dir, ", ".join(differ),
                              ", ".join(RESUMABLE_CHANGES) + " and paths"))
        count = manifest.get("processes", 1)
        if count != self.processes:
            raise Refused("runner.resume: the run in %s trained with %d "
                          "process(es), this one has %d: a meta-batch would "
                          "change size; resume it with %d" % (
                              self.save_dir, count, self.processes, count))
        self.manifest = manifest
        settled = self._settle_interrupted_save()
        done = sorted(int(e) for e in manifest["epochs"])
        for epoch in done:   # a hole or damage anywhere, not only the last
            verify_epoch(self.save_dir, epoch, manifest,
                         then=", then resume again")
        if done:
            last = done[-1]
            self.resume_from = os.path.join(self.save_dir, str(last))
            self.reader_state = manifest["epochs"][str(last)]["reader_rng"]
            self.start_epoch = last + 1
        replaces = manifest.get("replaces", {})
        self._replaces = list(replaces.get("names", []))
        self._replaced_run = replaces.get("run_id")
        self._refuse_what_is_in_the_way(self.start_epoch)
        changed = {k: [before.get(k), self.config.get(k)]
                   for k in sorted(set(before) | set(self.config))
                   if k not in UNRECORDED and
                   before.get(k) != self.config.get(k)}
        manifest.setdefault("resumes", []).append(
            {"time": now(), "from_epoch": self.start_epoch,
             "changed": changed})
        if self.writer and done and self._replaces:
            self._remove_replaced()
            settled = True
        if self.writer and settled:
            self._write()
        logger.info("resuming %s from %s%s", self.save_dir,
                    "epoch %d" % self.start_epoch if done else "the start",
                    "; changed: %s" % ", ".join(
                        "%s %r -> %r" % (k, a, b)
                        for k, (a, b) in changed.items()) if changed else "")

    def _no_manifest(self):
        """Why a folder without run.json cannot be resumed, and what can
        be done with its checkpoints. Epoch folders without it are a run
        from before manifests (or PaddleRec's), or a run of this trainer
        whose run.json was lost (moved, or not on disk yet when the
        machine stopped in its first save): either way the reader's random
        state and the config it trained with are gone, so it cannot go on
        exactly."""
        entries = run_entries(self.save_dir, None)
        if not entries:
            return ("runner.resume: %s has no %s to resume from: no run was "
                    "started there; start one without runner.resume" % (
                        self.save_dir, MANIFEST))
        epochs = sorted({epoch_of(n) for n in entries
                         if not n.endswith(PREV)})
        last = os.path.join(self.save_dir, str(epochs[-1])) if epochs \
            else os.path.join(self.save_dir, entries[-1])
        return ("runner.resume: %s has no %s, though it holds checkpoints "
                "(%s); %s records what a resume needs (the config the run "
                "trained with, the reader's random state after each epoch): "
                "this is a run from before manifests (or PaddleRec's), or "
                "one whose %s was lost, so it cannot be continued exactly; "
                "warm-start "
                "from its last epoch with -o runner.model_init_path=%s "
                "(its weights, a fresh optimiser) into another "
                "runner.model_save_path, or train it again with -o "
                "runner.overwrite=True" % (
                    self.save_dir, MANIFEST, ", ".join(entries), MANIFEST,
                    MANIFEST, last))

    @staticmethod
    def _effective_config(manifest):
        """The config the run last trained with: the one it started with,
        and what each resume changed."""
        config = dict(manifest["config"])
        for resume in manifest.get("resumes", []):
            config.update({k: new
                           for k, (_, new) in resume["changed"].items()})
        return config

    def _settle_interrupted_save(self):
        """An epoch marked as being saved: kept if its folder got into place
        (the save finished but for the manifest's last write), else
        forgotten and trained again. Returns whether anything changed."""
        epochs = self.manifest["epochs"]
        changed = False
        for name in [n for n, r in epochs.items() if r.get("saving")]:
            folder = os.path.join(self.save_dir, name)
            if os.path.isdir(folder) and \
                    _matches(folder, epochs[name]["files"]) is None:
                del epochs[name]["saving"]
                logger.info("resume: the save of epoch %s had finished but "
                            "for its record in %s: kept", name, MANIFEST)
            else:
                del epochs[name]
                logger.info("resume: the save of epoch %s was interrupted "
                            "before its folder was in place: it is trained "
                            "again", name)
            changed = True
        return changed

    # --------------------------------------------------------- the work
    def start(self):
        """Before the first step: a new run's manifest is written, so that
        a run killed before its first save can be resumed; an overwriting
        run keeps the earlier run's manifest until its first epoch."""
        if self.writer and not self._replaces and not self.manifest["epochs"] \
                and not self.config.get("runner.resume"):
            self._write()

    def _write(self):
        """run.json, on disk before anything it lists is renamed into
        place: a machine that stops right after an epoch's rename must
        not come back with the epoch folder and no manifest."""
        os.makedirs(self.save_dir, exist_ok=True)
        data = json.dumps(self.manifest, indent=1, default=str).encode()

        def write(f):
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        atomic_write(os.path.join(self.save_dir, MANIFEST), write)
        _sync_folder(self.save_dir)

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

    def save_epoch(self, epoch, write, reader_state, warning=None,
                   metrics=None):
        """Save epoch ``epoch``: ``write(folder)`` fills a temporary folder;
        the manifest lists the epoch as being saved, the folder is renamed
        into place, then the manifest lists it as saved. The first save of
        an overwriting run removes the earlier run's entries. ``warning``
        (e.g. the training diverged) and ``metrics`` (the epoch's mean
        loss, AUC and time: the run's training curve, epoch by epoch) go
        into the epoch's record. Returns the epoch folder."""
        name = str(epoch)
        target = os.path.join(self.save_dir, name)
        if os.path.lexists(target) and name not in self._replaces:
            raise CheckpointError(
                "%s appeared during the run and is not this run's: it is not "
                "saved over; move it elsewhere, then continue with -o "
                "runner.resume=True" % target)
        os.makedirs(self.save_dir, exist_ok=True)
        tmp = temporary_folder(self.save_dir, ".%s%s" % (name, TMP_MARK))
        try:
            write(tmp)
            record = {"files": file_record(tmp), "reader_rng": reader_state,
                      "saved": now(), "saving": True}
            if metrics:
                record["metrics"] = metrics
            if warning:
                record["warning"] = warning
            self.manifest["epochs"][name] = record
            if self._replaces:
                self.manifest["replaces"] = {"run_id": self._replaced_run,
                                             "names": self._replaces}
            self._write()
            # only an earlier run's epoch is there (checked above); its
            # .prev is removed with the rest of that run below
            keep_previous(target, announce=False)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        del record["saving"]
        if self._replaces:
            self._remove_replaced()
        self._write()
        return target

    def settle(self, config, record):
        """A new run's config once its ``auto`` meta-training settings are
        chosen from the training rows (tuning/meta_settings.py), with the
        choice's record: both go into run.json."""
        self.config = config
        self.manifest["config"] = {k: v for k, v in config.items()}
        self.manifest["meta_training"] = record

    def record_validation(self, doc):
        """The meta-validation's grid and choice (tuning/search.py), which
        the tools that load this run's checkpoints apply (tuning/choice.py)."""
        self.manifest["meta_validation"] = doc
        if self.writer:
            self._write()

    def _remove_replaced(self):
        """Remove the earlier run's entries (its epochs that this run has
        saved over are in ``<epoch>.prev`` by now), and say what went and
        what was kept."""
        mine = set(self.manifest["epochs"])
        labels = []
        for name in self._replaces:
            if name == MANIFEST:
                continue   # this run's manifest has replaced it
            path = os.path.join(self.save_dir, name)
            if name in mine:
                path += PREV
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
            labels.append("epoch " + name if name.isdigit() else name)
        if MANIFEST in self._replaces:
            labels.append(MANIFEST)
        kept = sorted(n for n in os.listdir(self.save_dir)
                      if n not in mine and n != MANIFEST and
                      not (n.startswith(".") and TMP_MARK in n))
        logger.warning("runner.overwrite: removed the earlier run's %s from "
                       "%s%s", ", ".join(labels), self.save_dir,
                       "; kept %s" % ", ".join(kept) if kept else "")
        self._replaces = []
        self.manifest.pop("replaces", None)
