"""The range of a meta-trained network's predictions on seed (stage 1) and
candidate (stage 2) rows: how near the project's loss floor (p < 1e-7 or
p > 1 - 1e-7, zero gradient there) and 1.0 they come.
torch venv: PYTHONPATH=$PAPER_CODE saturation.py DATA WEIGHTS.npz [--train]"""
import sys

import numpy as np

import paper_setup

data, weights = sys.argv[1:3]
run = paper_setup.runner()
model = run.get_model()
paper_setup.load(model, np.load(weights))
model.eval()
files = [("%s/%s/%s_stage%d.pkl" % (data, s, s, st), s, st)
         for s in ("test_hot", "test_cold") for st in (1, 2)]
if "--train" in sys.argv:
    files.append(("%s/train/train_stage1.pkl" % data, "train", 1))
for path, s, st in files:
    df = run.read_data(path)[run.all_col]
    _, p = run.test_eval(df, model)
    p = np.array(p, np.float32)
    print("%s stage%d: n %d min %.3g max %.6g  <1e-7: %d  >1-1e-7: %d  "
          "==1.0: %d  distinct %d" % (
              s, st, len(p), p.min(), p.max(), (p < 1e-7).sum(),
              (p > np.float32(1 - 1e-7)).sum(), (p == 1).sum(),
              len(np.unique(p))))
