"""Weights of torch names (the paper's code's --save-weights, or
meta_step_*.py) as a project checkpoint, epoch 0 of OUT_DIR, so that the
project's meta-test (identical on the same weights, compare.py) scores
them in seconds where the paper's takes minutes.
Project venv, from the project root: to_checkpoint.py DATA W.npz OUT_DIR"""
import sys

import numpy as np
import paddle

from dygraph_model import DygraphModel
from runkit.checkpoint import save_checkpoint
from layouts import from_torch
from project_setup import big_config

data, weights, out = sys.argv[1:4]
paddle.set_device("cpu")
config = big_config(data)
model = DygraphModel().create_model(config)
model.set_state_dict(from_torch(np.load(weights),
                                [n for n, _ in model.named_parameters()]))
print("wrote", save_checkpoint(model, None, out, 0))
