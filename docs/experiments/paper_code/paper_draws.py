"""The rows the paper's train_stage draws for a seed, without its model:
the same global numpy stream (seeded as paper_metatest.py seeds it, and
nothing else draws from it before train_stage), the same campaign draw
and ``.sample(batchsize)`` per set, with replacement for a campaign
smaller than a set (paper_sampling.py, as paper_metatest.py). Rows are positions in
the training pickle. For comparing the two codes' sampling, and for
replay_proj.py. Any venv with pandas: paper_draws.py DATA SEED OUT.npz"""
import random
import sys

import numpy as np
import pandas as pd

from paper_sampling import sample_with_replacement

BATCH, TASKS = 512, 5   # the paper's batchsize and task_count

data, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
random.seed(seed)
np.random.seed(seed)
df = pd.read_pickle(data + "/train/train_stage1.pkl").reset_index(drop=True)
df["_row"] = np.arange(len(df))
sample_with_replacement()
# train_stage's order of operations, so that the stream is consumed alike
aid_set = list(set(df.aid))
sizes = [df[df.aid == aid].shape[0] for aid in aid_set]
prob = [n / sum(sizes) for n in sizes]
tasks, support, query = [], [], []
for _ in range(int(np.ceil(len(df) / BATCH))):
    for aid in np.random.choice(aid_set, size=TASKS, replace=False, p=prob):
        rows = df[df.aid == aid]
        support.append(rows.sample(BATCH)["_row"].values)
        query.append(rows.sample(BATCH)["_row"].values)
        tasks.append(aid)
np.savez(out, tasks=np.array(tasks), spt=np.array(support),
         qry=np.array(query))
print("wrote", out, len(tasks), "tasks")
