"""The paper's initial network for a seed (torch.manual_seed, then its
model, as paper_metatest.py --train builds it), as an npz of torch names:
with to_checkpoint.py and the trainer's runner.model_init_path, the
project meta-trains from the paper's start on its own draws.
torch venv: PYTHONPATH=$PAPER_CODE init_paper.py SEED OUT.npz"""
import random
import sys

import numpy as np
import torch

import paper_setup

seed, out = int(sys.argv[1]), sys.argv[2]
random.seed(seed)
np.random.seed(seed)
torch.manual_seed(seed)
model = paper_setup.runner().get_model()
np.savez(out, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
print("wrote", out)
