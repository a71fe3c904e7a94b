"""Checkpoints in PaddleRec's layout, written atomically, read as data.

``<model_save_path>/<epoch>/rec.pdparams`` and ``rec.pdopt``, and
``id_map.npz`` when the model reads rare ids through a mapping
(dataio/rare_ids.py), which every load brings back. An epoch folder
is first written under a temporary name and renamed into place, so a
crash never leaves a half-written checkpoint under the real name (the
trainer's saves, with their manifest, are ``runkit.runs.Run.save_epoch``).
``save_checkpoint`` does not silently replace a folder that already exists:
it is moved to ``<epoch>.prev`` with a warning.

Both files are pickles (``paddle.save``), and ``paddle.load`` unpickles
without restriction: a shared checkpoint could run code. They are read here
by an allow-list unpickler instead, as PyTorch's ``weights_only=True``
does: plain containers and scalars, and numpy's array reconstructor,
``ndarray`` and ``dtype``. Anything else is refused, naming the global and
the file, before it is imported or called.
"""
import io
import logging
import os
import pickle
import shutil

from dataio.atomic import keep_previous, temporary_folder

logger = logging.getLogger("metaheac")


class CheckpointError(ValueError):
    pass


TMP_MARK = ".tmp-"


def remove_leftovers(folder, what="an interrupted save"):
    """Remove the temporary folders and files an earlier interrupted run
    left in ``folder`` (their names hold ``.tmp-``), with one log line."""
    if not os.path.isdir(folder):
        return []
    found = sorted(name for name in os.listdir(folder)
                   if name.startswith(".") and TMP_MARK in name)
    for name in found:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
    if found:
        logger.info("removed leftovers of %s in %s: %s", what, folder,
                    ", ".join(found))
    return found


def write_checkpoint(model, optimizer, folder):
    """``rec.pdparams`` (and ``rec.pdopt`` unless ``optimizer`` is None)
    into ``folder``."""
    import paddle
    paddle.save(model.state_dict(), os.path.join(folder, "rec.pdparams"))
    if optimizer is not None:
        paddle.save(optimizer.state_dict(), os.path.join(folder, "rec.pdopt"))
    if getattr(model, "id_map", None) is not None:
        from dataio.rare_ids import FILE
        model.id_map.save(os.path.join(folder, FILE))


def save_checkpoint(model, optimizer, save_dir, epoch, announce=True):
    """A checkpoint folder outside a run (the trainer saves through
    ``runkit.runs.Run.save_epoch``, which also keeps the manifest)."""
    target = os.path.join(save_dir, str(epoch))
    os.makedirs(save_dir, exist_ok=True)
    tmp = temporary_folder(save_dir, ".%s%s" % (epoch, TMP_MARK))
    try:
        write_checkpoint(model, optimizer, tmp)
    except BaseException:
        # a failed or interrupted save leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    keep_previous(target, announce)
    os.replace(tmp, target)
    return target


_SAFE_BUILTINS = ("bool", "int", "float", "complex", "str", "bytes",
                  "bytearray", "list", "tuple", "dict", "set", "frozenset",
                  "slice")
_NUMPY = ("_reconstruct", "scalar", "_frombuffer")


class _DataOnly(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file)
        self._path = path

    def find_class(self, module, name):
        import numpy as np
        allowed = (
            (module == "builtins" and name in _SAFE_BUILTINS) or
            (module == "numpy" and name in ("ndarray", "dtype")) or
            (module in ("numpy.core.multiarray", "numpy._core.multiarray",
                        "numpy.core.numeric", "numpy._core.numeric") and
             name in _NUMPY) or
            (module == "collections" and name == "OrderedDict"))
        if not allowed:
            raise CheckpointError(
                "%s: refused to load global %s.%s: a checkpoint may hold only "
                "arrays, numbers, strings and containers" % (self._path, module,
                                                             name))
        if module.startswith("numpy.core") and \
                int(np.__version__.split(".")[0]) >= 2:
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def read_pickle_data(file):
    """Unpickle a .pdparams/.pdopt file allowing data only."""
    with open(file, "rb") as f:
        data = f.read()
    try:
        return _DataOnly(io.BytesIO(data), file).load()
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - garbage fails in many ways
        raise CheckpointError("checkpoint %s cannot be read (%s: %s)" % (
            file, type(exc).__name__, exc))


def load_state(path):
    """The parameter dict of a checkpoint folder or .pdparams file."""
    file = os.path.join(path, "rec.pdparams") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise CheckpointError(
            "no checkpoint at %s: expected a folder holding rec.pdparams (as "
            "tools/trainer.py writes to <model_save_path>/<epoch>) or a "
            ".pdparams file" % path)
    state = read_pickle_data(file)
    if not isinstance(state, dict):
        raise CheckpointError("checkpoint %s holds a %s, not a parameter dict"
                              % (file, type(state).__name__))
    # paddle.save's bookkeeping entry, not a parameter
    state.pop("StructuredToParameterName@@", None)
    return state


def load_into(model, state, source):
    """Load ``state`` into ``model``; a missing or mis-shaped tensor is an
    error naming it (Paddle itself only warns and keeps random weights)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise CheckpointError(
            "%s does not match the model: missing %s, unexpected %s" %
            (source, missing[:5], unexpected[:5]))
    for name, tensor in own.items():
        shape = list(state[name].shape)
        if shape != list(tensor.shape):
            raise CheckpointError(
                "%s: %s has shape %s, the model (config max_idxs, embed_dim, "
                "...) expects %s%s" % (source, name, shape, list(tensor.shape),
                                       _input_hint(name, shape, tensor.shape)))
    model.set_state_dict(state)


def _input_hint(name, saved, wanted):
    """What a mismatch of an expert's inputs most likely means: the
    bi-interaction adds inputs to every expert's first layer only."""
    if not (name.startswith("mlp.") and name.endswith(".mlp.0.weight")):
        return ""
    if len(saved) != 2 or list(saved[1:]) != list(wanted[1:]):
        return ""
    return ("; an expert's inputs differ: was it trained with another "
            "hyper_parameters.field_interaction (bi adds embed_dim inputs)?")


def load_checkpoint(model, path, config=None):
    """Load a checkpoint folder (or .pdparams file) into ``model``, with the
    rare-id mapping saved beside it (``model.id_map``; None when it has
    none). With ``config``, a ``min_id_count`` that differs from the
    checkpoint's is named in a warning: the checkpoint's mapping is the one
    its weights were trained with, so it is the one applied."""
    from dataio import rare_ids
    load_into(model, load_state(path), path)
    model.id_map = rare_ids.load_beside(path, model.maxima)
    if model.id_map is not None:
        logger.info("rare ids (%s): %s", rare_ids.path_beside(path),
                    model.id_map.describe())
    if config is None:
        return
    wanted = config.get(rare_ids.KEY)
    trained = model.id_map.min_count if model.id_map is not None else 0
    if max(wanted, 1) != max(trained, 1):
        logger.warning(
            "%s is %d, but %s was trained %s: that is applied (the key acts "
            "when meta-training)", rare_ids.KEY, wanted, path,
            "with min_id_count %d" % trained if trained > 1 else
            "without a rare-id mapping (no %s beside it), so every id reads "
            "its own row" % rare_ids.FILE)
