"""Checkpoints in PaddleRec's layout, written atomically.

``<model_save_path>/<epoch>/rec.pdparams`` and ``rec.pdopt``. An epoch folder
is first written under a temporary name and renamed into place, so a
crash never leaves a half-written checkpoint under the real name. A folder
that already exists is not silently replaced: it is moved to
``<epoch>.prev`` with a warning.
"""
import logging
import os
import tempfile

from runkit.atomic import keep_previous

logger = logging.getLogger("metaheac")


class CheckpointError(ValueError):
    pass


def save_checkpoint(model, optimizer, save_dir, epoch):
    import paddle
    target = os.path.join(save_dir, str(epoch))
    os.makedirs(save_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".%s.tmp-" % epoch, dir=save_dir)
    paddle.save(model.state_dict(), os.path.join(tmp, "rec.pdparams"))
    if optimizer is not None:
        paddle.save(optimizer.state_dict(), os.path.join(tmp, "rec.pdopt"))
    keep_previous(target)
    os.replace(tmp, target)
    return target


def load_state(path):
    """The parameter dict of a checkpoint folder or .pdparams file."""
    import paddle
    file = os.path.join(path, "rec.pdparams") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise CheckpointError(
            "no checkpoint at %s: expected a folder holding rec.pdparams (as "
            "tools/trainer.py writes to <model_save_path>/<epoch>) or a "
            ".pdparams file" % path)
    try:
        return paddle.load(file)
    except Exception as exc:  # paddle raises assorted errors on bad files
        raise CheckpointError("checkpoint %s cannot be read: %s" % (file, exc))


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
                "...) expects %s" % (source, name, shape, list(tensor.shape)))
    model.set_state_dict(state)
