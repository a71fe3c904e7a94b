"""Training runs for the tests: tools/trainer.py in this process on a
little-compute config, and the tiny generated data set that the tools run
on end to end."""
from dataclasses import replace

from helpers import CONFIG, NO_TUNING, yaml_list
from synthetic import generator

# little compute: one task per meta-batch
FAST = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
        "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
        "hyper_parameters.batch_size=512", "hyper_parameters.local_lr=0.3",
        "hyper_parameters.task_count=1",
        "runner.print_interval=1", NO_TUNING]


def train_here(folder, *extra):
    """tools/trainer.py in this process; its exit status."""
    from tools import trainer
    return trainer.main(["-m", str(CONFIG), "-o"] + FAST +
                        ["runner.model_save_path=%s" % folder] + list(extra))


def config_for(folder, *extra):
    """The resolved config of a train_here run saving to ``folder``."""
    from runkit.config import load_config, resolve_max_idxs
    config, _ = resolve_max_idxs(load_config(str(CONFIG), FAST + [
        "runner.model_save_path=%s" % folder] + list(extra)))
    return config


def flip_a_byte(path):
    """Damage a file in its middle, keeping its size."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# ---------------------------------------------------------- tiny data set
TINY_SPEC = replace(generator.SAMPLE, n_users=800, n_train=4, train_rows_median=60,
                    train_rows_range=(30, 100), n_hot=2, hot_seeds=(40, 60),
                    n_cold=2, cold_seeds=(10, 20), candidates=60)


def tiny_data(folder):
    """TINY_SPEC's stage files (train, test, test_cold) in ``folder``."""
    from synthetic.datasets import write_stages
    write_stages(generator.generate(TINY_SPEC, seed=5), str(folder), TINY_SPEC)
    return folder


def tiny_overrides(data, model, result):
    """A one-epoch run on tiny_data ``data``: train into ``model``,
    meta-test into ``result``."""
    return [
        "runner.train_data_dir=%s" % (data / "train"),
        "runner.test_data_dir=%s" % (data / "test"),
        "runner.test_cold_data_dir=%s" % (data / "test_cold"),
        "runner.model_save_path=%s" % model,
        "runner.infer_load_path=%s" % model,
        "runner.infer_result_path=%s" % result,
        "runner.epochs=1", "runner.infer_start_epoch=0",
        "runner.infer_end_epoch=1", "runner.infer_train_epoch=1",
        "hyper_parameters.max_idxs=%s" % yaml_list(TINY_SPEC.max_idxs()),
        "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
        "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
        "hyper_parameters.task_count=2", "hyper_parameters.batch_size=32",
    ]


def without_timing(value):
    """A summary (JSON value) without its "seconds" entries, which differ
    from run to run."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items()
                if k != "seconds"}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value
