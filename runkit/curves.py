"""Training curves for VisualDL (``runner.use_visual``), as PaddleRec's
trainer writes them: a ``visualdl.LogWriter`` in
``<runner.visual_log_path>/train`` (default ``visualDL_log`` beside the
config, PaddleRec's folder), scalars tagged ``train/loss`` and
``train/AUC`` every ``runner.print_interval`` meta-batches (the step: the
meta-batches trained since the run's start, resumes included), each
epoch's mean (``epoch/loss``, ``epoch/AUC``, the step: the epoch) and the
meta-validation's grid (``meta_validation/*``, the step: the row of the
grid) and choice (``meta_validation/chosen_*``, at the last training
step). ``visualdl --logdir visualDL_log`` shows them.

VisualDL is optional (not in requirements.txt): it is imported only when
``runner.use_visual`` is on, and a Python without it is told so in one
line before any work (:func:`require`).
"""
import os

NEEDS = ("runner.use_visual needs VisualDL, which this Python lacks: pip "
         "install visualdl (or leave runner.use_visual False)")


def enabled(config):
    return bool(config.get("runner.use_visual"))


def require(config):
    """Stop before any work, in one line, when the curves are asked for
    and VisualDL is missing."""
    if enabled(config) and not available():
        raise ValueError(NEEDS)
    if enabled(config):
        try:   # installed is not enough: a broken install fails here
            import visualdl  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - any import failure
            raise ValueError("runner.use_visual: visualdl is installed but "
                             "does not import (%s: %s): reinstall it (pip "
                             "install --force-reinstall visualdl) or set "
                             "runner.use_visual=False" % (
                                 type(exc).__name__, exc))


def available():
    import importlib.util
    import sys
    if "visualdl" in sys.modules:   # imported (None: known to be absent)
        return sys.modules["visualdl"] is not None
    return importlib.util.find_spec("visualdl") is not None


def folder(config):
    """Where the training's scalars go."""
    return os.path.join(config.get("runner.visual_log_path"), "train")


class Curves:
    """The scalars of one training process; a no-op unless
    ``runner.use_visual`` (and ``write``: rank 0 of a collective run)."""

    def __init__(self, config, write=True):
        self.writer = None
        self.path = None
        if not (write and enabled(config)):
            return
        require(config)
        from visualdl import LogWriter
        self.path = folder(config)
        os.makedirs(self.path, exist_ok=True)
        self.writer = LogWriter(logdir=self.path)

    def add(self, tag, step, value):
        if self.writer is not None and value is not None:
            self.writer.add_scalar(tag=tag, step=int(step),
                                   value=float(value))

    def validation(self, doc, step):
        """The meta-validation's grid (one step per row) and its choice
        (at the training's last ``step``)."""
        if self.writer is None:
            return
        for i, row in enumerate(doc["grid"]):
            self.add("meta_validation/hot_gauc", i, row["hot_gauc"])
            self.add("meta_validation/cold_gauc", i, row["cold_gauc"])
            self.add("meta_validation/mean_gauc", i, row["score"])
        chosen = [r for r in doc["grid"] if r["settings"] == doc["chosen"]]
        if chosen:
            self.add("meta_validation/chosen_mean_gauc", step,
                     chosen[0]["score"])
        for key, value in doc["chosen"].items():
            self.add("meta_validation/chosen_%s" % key.split(".")[-1], step,
                     value)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
