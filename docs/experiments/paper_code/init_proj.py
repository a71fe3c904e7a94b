"""The project's initial network (config_big.yaml, init torch), seeded,
as an npz of torch names. Project venv, from the project root:
init_proj.py DATA SEED OUT.npz"""
import sys

import numpy as np
import paddle

from dygraph_model import DygraphModel
from layouts import to_torch
from project_setup import big_config

data, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = big_config(data)
paddle.seed(seed)
model = DygraphModel().create_model(config)
np.savez(out, **to_torch((n, p.numpy()) for n, p in model.named_parameters()))
