"""A project checkpoint as the paper's torch state_dict (npz).
Project venv: convert.py CHECKPOINT_DIR OUT.npz"""
import sys

import numpy as np

from runkit.checkpoint import load_state
from layouts import to_torch

src, out = sys.argv[1:3]
state = load_state(src)
conv = to_torch((name, np.asarray(v)) for name, v in state.items())
np.savez(out, **conv)
print("wrote", out, len(conv), "tensors")
