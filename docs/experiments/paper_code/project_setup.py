"""The project under the paper's settings (config_big.yaml) on a data
folder, as the scripts here build it: ids' maxima from the data, CPU, one
thread. Run from the project root."""
from runkit.config import load_config, resolve_max_idxs


def big_config(data, *overrides):
    config = load_config("config_big.yaml", [
        "runner.train_data_dir=%s/train" % data,
        "hyper_parameters.max_idxs=auto", "runner.use_gpu=False",
        "runner.num_threads=1"] + list(overrides))
    config, _ = resolve_max_idxs(config)
    return config


class MetaTraining:
    """The project's meta-training under config_big.yaml, started from the
    weights of an npz of torch names: the resolved config, the model
    class, the model, its meta-optimiser and the training reader, whose
    draws a script may record or replace before calling :meth:`step`."""

    def __init__(self, data, init):
        import numpy as np
        import paddle
        import reader_train
        from dygraph_model import DygraphModel
        from tuning import choice
        from layouts import from_torch
        paddle.set_device("cpu")
        self.config, _ = choice.resolved(big_config(data), None,
                                         announce=False)
        self.model_class = DygraphModel()
        self.model = self.model_class.create_model(self.config)
        self.model.set_state_dict(from_torch(
            np.load(init), [n for n, _ in self.model.named_parameters()]))
        self.optimizer = self.model_class.create_optimizer(self.model,
                                                           self.config)
        self.reader = reader_train.RecDataset(
            ["%s/train/train_stage1.pkl" % data], self.config)

    def step(self):
        """One meta-batch of the reader, one step: its loss."""
        from tools import trainer
        return trainer.train_step(self.model_class, self.model,
                                  self.optimizer, self.reader.meta_batch(),
                                  self.config)

    def weights(self):
        """The weights now, as torch names."""
        from layouts import to_torch
        return to_torch((n, p.numpy()) for n, p in
                        self.model.named_parameters())
