"""The project's initial network (config_big.yaml, init torch), seeded,
as an npz of torch names. Project venv, from the project root:
init_proj.py DATA SEED OUT.npz"""
import sys

import numpy as np
import paddle

from dygraph_model import DygraphModel
from runkit.config import load_config, resolve_max_idxs
from layouts import to_torch

data, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = load_config("config_big.yaml", [
    "runner.train_data_dir=%s/train" % data, "hyper_parameters.max_idxs=auto"])
config, _ = resolve_max_idxs(config)
paddle.seed(seed)
model = DygraphModel().create_model(config)
np.savez(out, **to_torch((n, p.numpy()) for n, p in model.named_parameters()))
