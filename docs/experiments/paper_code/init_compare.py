"""Each parameter's spread under the paper's torch initialisation against
the project's (init_proj.py): the std ratio, and the bounds.
torch venv: PYTHONPATH=$PAPER_CODE init_compare.py PROJ_INIT.npz"""
import sys

import numpy as np
import torch

import paper_setup

torch.manual_seed(2021)
model = paper_setup.runner().get_model()
proj = np.load(sys.argv[1])
worst = 0
for k, v in model.state_dict().items():
    a, b = v.numpy(), proj[k]
    assert a.shape == b.shape, (k, a.shape, b.shape)
    if a.std() == 0:
        print("%-48s constant in torch %g, project %g" % (k, a.mean(), b.mean()))
        continue
    r = b.std() / a.std()
    print("%-48s torch std %.4f [%.3f,%.3f] | project std %.4f [%.3f,%.3f] "
          "ratio %.3f (%d values)" % (k, a.std(), a.min(), a.max(), b.std(),
                                      b.min(), b.max(), r, a.size))
    # small tensors (a gate's 8 biases) give noisy ratios
    if a.size >= 1000:
        worst = max(worst, abs(r - 1))
print("largest relative std difference over tensors of 1000+ values %.3f" % worst)
