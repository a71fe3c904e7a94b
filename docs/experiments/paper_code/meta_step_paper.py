"""The same K meta-steps in the paper's code (MetaModel.global_update, the
body of run.py's train_stage) on the rows meta_step_proj.py drew; compares
the losses and the weights after the steps.
torch venv: PYTHONPATH=$PAPER_CODE meta_step_paper.py DATA INIT.npz PROJ_OUT.npz [PAPER_OUT.npz]"""
import sys

import numpy as np

import paper_setup

data, init, proj = sys.argv[1:4]
save = sys.argv[4] if len(sys.argv) > 4 else None
run = paper_setup.runner()
model = run.get_model()
w = np.load(init)
paper_setup.load(model, w)
p = np.load(proj)
df = run.read_data(data + "/train/train_stage1.pkl")[run.all_col]
tasks = paper_setup.CONFIG["task_count"]
n = len([f for f in p.files if f.startswith("spt_")])
losses = []
for step in range(n // tasks):
    sx, sy, qx, qy = [], [], [], []
    for t in range(tasks):
        i = step * tasks + t
        s, q = df.iloc[p["spt_%d" % i]], df.iloc[p["qry_%d" % i]]
        sx.append(s[run.train_col])
        sy.append(s[run.label_col].values)
        qx.append(q[run.train_col])
        qy.append(q[run.label_col].values)
    model.train()
    losses.append(model.global_update(sx, sy, qx, qy).item())
pl = p["losses"]
print("losses: paper mean %.6f project mean %.6f; max |diff| per step %.2e"
      % (np.mean(losses), pl.mean(), np.abs(np.array(losses) - pl).max()))
for i in range(0, len(losses), max(1, len(losses) // 10)):
    print("step %d: paper %.6f project %.6f" % (i, losses[i], pl[i]))
sd = model.state_dict()
if save:
    np.savez(save, **{k: v.numpy() for k, v in sd.items()})
worst = sorted(((float(np.abs(v.numpy() - p[k]).max()), k,
                 float(np.abs(v.numpy() - w[k]).max()))
                for k, v in sd.items()), reverse=True)
for d, k, moved in worst[:6]:
    print("max|paper-proj| %.2e  (max move %.2e)  %s" % (d, moved, k))
