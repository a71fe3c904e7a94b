"""K meta-training steps of the project under config_big.yaml (batch 512,
local_lr 0.0002, second order, Adam 0.001) from the weights of an npz of
torch names (init_proj.py or convert.py), on meta-batches its own reader
draws. Keeps the drawn rows, the losses and the weights after the steps
(torch names), so that meta_step_paper.py can take the same steps.
Project venv, from the project root: meta_step_proj.py DATA INIT.npz K OUT.npz"""
import sys

import numpy as np

from project_setup import MetaTraining

data, init, k, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
run = MetaTraining(data, init)
ds = run.reader
drawn = []
task_rows = ds.task_rows


def recorded(task):
    support, query = task_rows(task)
    drawn.append((support.copy(), query.copy()))
    return support, query


ds.task_rows = recorded
losses = [run.step() for _ in range(k)]
dump = {"losses": np.array(losses)}
for i, (s, q) in enumerate(drawn):
    dump["spt_%d" % i], dump["qry_%d" % i] = s, q
dump.update(run.weights())
np.savez(out, **dump)
print("losses", losses)
