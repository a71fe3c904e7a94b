"""The paper's code (easezyc/MetaHeac, CPU patch: PAPER_CODE on
PYTHONPATH) with its defaults: the config its main.py builds."""
import torch
from run import RunLookalike

CONFIG = {
    'use_cuda': False, 'batchsize': 512, 'root_path': '', 'is_meta': False,
    'weight_decay': 0, 'model': {'mlp': {'dims': (64, 64), 'dropout': 0.2}},
    'emb_dim': 64, 'local_train_lr': 0.0002, 'local_test_lr': 0.001,
    'global_lr': 0.001, 'epoch': 1, 'wd': 0, 'sample_method': 'normal',
    'num_expert': 8, 'num_output': 5, 'task_count': 5}


def runner(cls=RunLookalike, **changes):
    torch.set_num_threads(1)
    return cls(config=dict(CONFIG, **changes), base_model_name='WD')


def load(model, weights):
    """Weights of an npz of torch names into the paper's model."""
    sd = model.state_dict()
    assert set(sd) == set(weights.files), set(sd) ^ set(weights.files)
    model.load_state_dict({k: torch.from_numpy(weights[k]) for k in sd})
