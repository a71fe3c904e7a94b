"""The paper's code on generated data: its own meta-training (--train, its
train_stage) or weights converted from a project checkpoint (--weights,
convert.py); then its meta-test (run.py's test_stage, every candidate's
score kept) on the hot and cold sets, as an npz of ``<set>_<aid>_score``
and ``_label`` arrays.

Protocol switches (defaults: the paper's test_stage):
  --passes N      fine-tuning passes per campaign (paper 2)
  --bs N          fine-tuning batch (paper: its batchsize, 512)
  --no-shuffle    keep the seeds' row order (paper: sample(frac=1) per pass)
  --floor         the project's fine-tuning loss (p floored at 1e-7)
  --proj-order    each pass's row order from the project's stream
                  (dygraph_model.campaign_rng: default_rng([seed, aid]))
torch venv: PYTHONPATH=$PAPER_CODE paper_metatest.py --data DIR --out OUT.npz
"""
import argparse
import copy
import random
import time

import numpy as np
import torch

import paper_setup
from paper_sampling import sample_with_replacement
from run import RunLookalike

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--out", required=True)
p.add_argument("--weights")
p.add_argument("--train", action="store_true")
p.add_argument("--seed", type=int, default=2021)
p.add_argument("--passes", type=int, default=2)
p.add_argument("--bs", type=int, default=512)
p.add_argument("--no-shuffle", action="store_true")
p.add_argument("--floor", action="store_true")
p.add_argument("--proj-order", action="store_true")
p.add_argument("--save-weights")
p.add_argument("--sets", default="hot,cold")
args = p.parse_args()

random.seed(args.seed)
np.random.seed(args.seed)
torch.manual_seed(args.seed)


class FloorBCE(torch.nn.Module):
    """The project's fine-tuning loss: BCE with p floored at 1e-7."""
    def forward(self, pred, label):
        f = torch.tensor(1e-7, dtype=pred.dtype)
        ll = label * torch.log(torch.maximum(pred, f)) + \
            (1 - label) * torch.log(torch.maximum(1 - pred, f))
        return -ll.mean()


class Run(RunLookalike):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        d = args.data
        self.train_stage1_path = d + '/train/train_stage1.pkl'
        self.test_hot_stage1_path = d + '/test_hot/test_hot_stage1.pkl'
        self.test_hot_stage2_path = d + '/test_hot/test_hot_stage2.pkl'
        self.test_cold_stage1_path = d + '/test_cold/test_cold_stage1.pkl'
        self.test_cold_stage2_path = d + '/test_cold/test_cold_stage2.pkl'
        self.dump = {}

    def test_train(self, data_train, model, criterion, optimizer, epoch):
        # run.py's test_train with the batch size as a switch
        model.train()
        bs = args.bs
        labels = data_train[self.label_col]
        data_train = data_train[self.train_col]
        for i_batch in range(int(np.ceil(len(data_train) / bs))):
            batch_x = data_train.iloc[i_batch * bs: (i_batch + 1) * bs]
            batch_y = labels.iloc[i_batch * bs: (i_batch + 1) * bs].values
            loss = criterion(model(batch_x),
                             torch.from_numpy(batch_y.astype('float32')))
            model.zero_grad()
            loss.backward()
            optimizer.step()

    def test_stage(self, data_test_stage1, data_test_stage2, model, criterion,
                   stage):
        # run.py's test_stage; every candidate's score is kept
        init_model = copy.deepcopy(model.state_dict())
        for aid in set(data_test_stage1.aid):
            seeds = data_test_stage1[data_test_stage1.aid == aid]
            candidates = data_test_stage2[data_test_stage2.aid == aid]
            model.load_state_dict(init_model)
            optimizer = self.get_optimizer(model)
            prng = np.random.default_rng([args.seed, int(aid)])
            for i in range(args.passes):
                if args.proj_order:
                    rows = seeds.iloc[prng.permutation(len(seeds))]
                else:
                    rows = seeds if args.no_shuffle else seeds.sample(frac=1)
                self.test_train(rows, model, criterion, optimizer, i)
            targets, predicts = self.test_eval(candidates, model)
            self.dump["%s_%d_score" % (stage, aid)] = np.array(predicts)
            self.dump["%s_%d_label" % (stage, aid)] = np.array(targets)
        model.load_state_dict(init_model)


run = paper_setup.runner(Run, root_path=args.data + "/")
model = run.get_model()
if args.train:
    sample_with_replacement()
    data = run.read_data(run.train_stage1_path)[run.all_col]
    t = time.time()
    run.train_stage(data, None, model, 0)
    print("meta-training %.1f s" % (time.time() - t))
    np.random.seed(args.seed)   # the meta-test's shuffles from a known state
elif args.weights:
    paper_setup.load(model, np.load(args.weights))
if args.save_weights:
    np.savez(args.save_weights, **{k: v.detach().numpy()
                                   for k, v in model.state_dict().items()})
criterion = FloorBCE() if args.floor else run.get_criterion()
t = time.time()
for stage in args.sets.split(","):
    s1, s2 = (run.get_test_hot_data() if stage == "hot"
              else run.get_test_cold_data())
    run.test_stage(s1, s2, model, criterion, stage)
print("meta-test %.1f s" % (time.time() - t))
np.savez(args.out, **run.dump)
print("wrote", args.out)
