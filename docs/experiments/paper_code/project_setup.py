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
