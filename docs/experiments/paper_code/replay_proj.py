"""The project's meta-training (config_big.yaml, tools/trainer.py's
train_step) from the weights of an npz of torch names, on the rows of a
draws npz (paper_draws.py: the paper's train_stage sampling for a seed)
instead of its own reader's: with the paper's start for that seed
(init_paper.py) it is the paper's run with the project's code. Writes the
weights after (torch names) and the losses.
Project venv, from the project root, with the CPU fast path's variables:
MKL_DEBUG_CPU_TYPE=5 (AMD only) FLAGS_use_stride_kernel=0 \\
    replay_proj.py DATA INIT.npz DRAWS.npz OUT.npz"""
import sys

import numpy as np

from project_setup import MetaTraining

data, init, draws, out = sys.argv[1:5]
run = MetaTraining(data, init)
ds = run.reader
d = np.load(draws)
tasks, support, query = d["tasks"], d["spt"], d["qry"]
per_batch = run.config.get("hyper_parameters.task_count")
position = {int(a): k for k, a in enumerate(ds.index.aids)}
# draws' rows are positions in the pickle; the reader's stage keeps its order
rows = iter(zip(support, query))
batch = iter(range(0, len(tasks), per_batch))
ds.sample_tasks = lambda: np.array(
    [position[int(a)] for a in tasks[next(batch):][:per_batch]])
ds.task_rows = lambda k: next(rows)
losses = [run.step() for _ in range(len(tasks) // per_batch)]
print("mean loss %.6f over %d steps" % (np.mean(losses), len(losses)))
dump = {"losses": np.array(losses)}
dump.update(run.weights())
np.savez(out, **dump)
