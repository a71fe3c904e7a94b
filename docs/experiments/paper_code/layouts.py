"""The project's parameter names and layouts against the paper's torch
``state_dict``: the same names under ``model.``; a Paddle Linear weight is
[in, out] where torch's is [out, in], embeddings are [rows, dim] on both."""
import numpy as np


def transposed(name):
    return "embeddings" not in name and name.endswith(".weight")


def to_torch(named_arrays):
    """{project name: array} -> {torch name: array}."""
    return {"model." + name: np.ascontiguousarray(
        (a.T if transposed(name) else a).astype(np.float32))
        for name, a in named_arrays}


def from_torch(weights, names):
    """npz of torch names -> {project name: array} for ``names``."""
    out = {}
    for name in names:
        a = weights["model." + name]
        out[name] = a.T if transposed(name) else a
    return out
