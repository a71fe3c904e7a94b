"""The rows the project's reader draws in one epoch under config_big.yaml
for a seed, without a model, as paper_draws.py writes the paper's
(positions in the training pickle, which the reader's stage keeps).
Project venv, from the project root: proj_draws.py DATA SEED OUT.npz"""
import sys

import numpy as np

import reader_train
from project_setup import big_config
from tuning import choice

data, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config, _ = choice.resolved(big_config(data, "runner.seed=%d" % seed),
                            None, announce=False)
ds = reader_train.RecDataset(["%s/train/train_stage1.pkl" % data], config)
tasks, support, query = [], [], []
task_rows = ds.task_rows


def recorded(k):
    s, q = task_rows(k)
    support.append(np.asarray(s).copy())
    query.append(np.asarray(q).copy())
    tasks.append(int(ds.index.aids[k]))
    return s, q


ds.task_rows = recorded
for _ in range(len(ds)):
    ds.meta_batch()
np.savez(out, tasks=np.array(tasks), spt=np.array(support),
         qry=np.array(query))
print("wrote", out, len(tasks), "tasks")
