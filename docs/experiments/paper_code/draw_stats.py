"""What an epoch's draws look like (paper_draws.py, proj_draws.py): how
often each campaign is drawn against its share of the rows, the share of
each campaign's rows the epoch touches, the sets' positive rate,
duplicates within a set and rows shared by a task's support and query.
Project venv: draw_stats.py DATA DRAWS.npz ..."""
import sys

import numpy as np
import pandas as pd

data = sys.argv[1]
df = pd.read_pickle(data + "/train/train_stage1.pkl").reset_index(drop=True)
aid, label = df.aid.values, df.label.values
aids, counts = np.unique(aid, return_counts=True)
for path in sys.argv[2:]:
    d = np.load(path)
    tasks, spt, qry = d["tasks"], d["spt"], d["qry"]
    drawn = np.array([(tasks == a).sum() for a in aids])
    share = len(tasks) * counts / counts.sum()
    touched = np.mean([
        len(np.unique(np.concatenate([spt[tasks == a].ravel(),
                                      qry[tasks == a].ravel()]))) / c
        for a, c in zip(aids, counts)])
    dup = np.mean([s.size - len(np.unique(s)) for s in spt])
    shared = np.mean([len(np.intersect1d(s, q)) for s, q in zip(spt, qry)])
    print("%s: drawn vs row share corr %.4f | rows touched %.3f | positive "
          "rate support %.4f query %.4f | duplicates per set %.1f | "
          "support-query shared rows %.1f" % (
              path, np.corrcoef(drawn, share)[0, 1], touched,
              label[spt].mean(), label[qry].mean(), dup, shared))
