"""runkit.config: flattening, typed overrides, errors naming the key."""
import os
import subprocess
import sys

import pytest

from helpers import CONFIG, ROOT, tool_env
from runkit import cli
from runkit.config import ConfigError, load_config, parse_override

MINIMAL = """\
runner:
  train_data_dir: "data/train"
  test_data_dir: "/abs/test"
  model_save_path: "~/models"
hyper_parameters:
  max_idxs: [[3, 2, 9, 5, 7, 2, 1], [9, 8, 6, 11, 10, 7, 7], [5, 6, 4, 3, 5, 3]]
  optimizer:
    class: adam
    global_learning_rate: 0.01
"""


def write_config(tmp_path, text=MINIMAL, name="conf.yaml"):
    folder = tmp_path / "cfg"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return str(path)


def test_flattens_to_dotted_keys_with_defaults(tmp_path):
    config = load_config(write_config(tmp_path))
    assert config["hyper_parameters.optimizer.global_learning_rate"] == 0.01
    assert config["hyper_parameters.optimizer.class"] == "adam"
    assert config["hyper_parameters.max_idxs"][1][3] == 11
    assert not any(isinstance(v, dict) for v in config.values())
    # defaults fill what the file leaves out
    assert config["hyper_parameters.local_lr"] == "auto"
    assert config["runner.epochs"] == 1
    assert config["hyper_parameters.meta_order"] == 2


def test_shipped_config_loads():
    config = load_config(str(CONFIG))
    assert config["runner.train_data_dir"] == str(ROOT / "data" / "train")
    assert config["hyper_parameters.sample_method"] in ("normal", "sqrt", "unit")


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    path = write_config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        config = load_config(os.path.relpath(path))
    finally:
        os.chdir(cwd)
    folder = str(tmp_path / "cfg")
    assert config["runner.train_data_dir"] == os.path.join(folder, "data/train")
    assert config["runner.test_data_dir"] == "/abs/test"
    assert config["runner.model_save_path"] == os.path.expanduser("~/models")
    assert config["runner.test_cold_data_dir"] is None


def test_overrides_parse_yaml(tmp_path):
    config = load_config(write_config(tmp_path), [
        "hyper_parameters.mlp_dims=[16, 8, 4]",
        "runner.use_gpu=true",
        "runner.use_auc=False",
        "hyper_parameters.local_lr=0.5",
        "hyper_parameters.optimizer.global_learning_rate=2",
        "runner.epochs=7",
        "runner.test_cold_data_dir=null",
        "hyper_parameters.sample_method=sqrt",
    ])
    assert config["hyper_parameters.mlp_dims"] == [16, 8, 4]
    assert config["runner.use_gpu"] is True
    assert config["runner.use_auc"] is False
    assert config["hyper_parameters.local_lr"] == 0.5
    lr = config["hyper_parameters.optimizer.global_learning_rate"]
    assert lr == 2.0 and isinstance(lr, float)
    assert config["runner.epochs"] == 7
    assert config["runner.test_cold_data_dir"] is None
    assert config["hyper_parameters.sample_method"] == "sqrt"


def test_override_value_may_contain_equals():
    assert parse_override("runner.model_save_path=a=b") == \
        ("runner.model_save_path", "a=b")
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("runner.epochs")


def test_exponent_float_without_dot_is_a_float(tmp_path):
    config = load_config(write_config(tmp_path),
                         ["hyper_parameters.local_lr=1e-3"])
    assert config["hyper_parameters.local_lr"] == 0.001


@pytest.mark.parametrize("override", ["runner.bogus=1", "hyper_parameters.embed=8",
                                      "bogus=1"])
def test_unknown_override_key(tmp_path, override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match="'%s'" % key.replace(".", r"\.")):
        load_config(write_config(tmp_path), [override])


def test_unknown_key_in_the_file(tmp_path):
    path = write_config(tmp_path, MINIMAL + "  embed_dims: 8\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "'hyper_parameters.embed_dims'" in str(info.value)
    assert path in str(info.value)


@pytest.mark.parametrize("override, key", [
    ("runner.epochs=abc", "runner.epochs"),
    ("runner.epochs=2.5", "runner.epochs"),
    ("runner.epochs=true", "runner.epochs"),
    ("runner.use_gpu=3", "runner.use_gpu"),
    ("hyper_parameters.local_lr=fast", "hyper_parameters.local_lr"),
    ("hyper_parameters.mlp_dims=8", "hyper_parameters.mlp_dims"),
    ("hyper_parameters.sample_method=sqrtt", "hyper_parameters.sample_method"),
    ("hyper_parameters.meta_order=3", "hyper_parameters.meta_order"),
])
def test_wrong_type_or_value(tmp_path, override, key):
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path), [override])
    assert "'%s'" % key in str(info.value)


def test_required_keys(tmp_path):
    path = write_config(tmp_path, "hyper_parameters:\n  embed_dim: 8\n")
    with pytest.raises(ConfigError, match="runner.train_data_dir"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="max_idxs.*auto"):
        load_config(write_config(tmp_path), ["hyper_parameters.max_idxs=all"])


# ------------------------------------------------------- max_idxs: auto
def test_max_idxs_default_to_auto_and_come_from_the_data_folder(tmp_path):
    from runkit.config import resolve_max_idxs
    path = write_config(tmp_path, "runner:\n  train_data_dir: data/train\n")
    config = load_config(path)
    assert config["hyper_parameters.max_idxs"] == "auto"
    (tmp_path / "cfg" / "data" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="max_idxs.yaml"):
        resolve_max_idxs(dict(config))
    wanted = [[3, 2, 9, 5, 7, 2, 1], [9, 8, 6, 11, 10, 7, 7], [5, 6, 4, 3, 5, 3]]
    (tmp_path / "cfg" / "data" / "max_idxs.yaml").write_text(
        "hyper_parameters:\n  max_idxs: %s\n" % wanted)
    resolved, source = resolve_max_idxs(config)
    assert source.endswith(os.path.join("data", "max_idxs.yaml"))
    assert resolved["hyper_parameters.max_idxs"] == wanted
    # a new config: the loaded one is left as it was
    assert config["hyper_parameters.max_idxs"] == "auto"
    # an explicit list wins, and a malformed file is named
    explicit = load_config(path, ["hyper_parameters.max_idxs=%s" %
                                  str(wanted).replace(" ", "")])
    assert resolve_max_idxs(explicit) == (explicit, "the config")
    (tmp_path / "cfg" / "data" / "max_idxs.yaml").write_text(
        "hyper_parameters:\n  max_idxs: [[1, 2]]\n")
    with pytest.raises(ValueError, match="max_idxs"):
        resolve_max_idxs(load_config(path))


def test_max_idxs_auto_falls_back_to_the_cached_id_ranges(tmp_path):
    """No max_idxs.yaml: the id ranges the cache recorded are the maxima."""
    import numpy as np
    from dataio.frames import arrays_to_frame, write_pickle
    from dataio.schema import IdMaxima
    from dataio.stage_files import read_stage
    from runkit.config import resolve_max_idxs
    from helpers import SMALL_MAX_IDXS, random_inputs
    folder = tmp_path / "cfg" / "data" / "train"
    folder.mkdir(parents=True)
    x = random_inputs(np.random.default_rng(0), 200)
    frame = arrays_to_frame(np.ones(200), np.zeros(200), *x)
    write_pickle(frame, str(folder / "train_stage1.pkl"))
    path = write_config(tmp_path, "runner:\n  train_data_dir: data/train\n")
    read_stage(str(folder / "train_stage1.pkl"), IdMaxima.from_config(
        SMALL_MAX_IDXS))  # writes the cache entry
    config = load_config(path)
    config, source = resolve_max_idxs(config)
    assert "cache" in source
    found = config["hyper_parameters.max_idxs"]
    assert [len(g) for g in found] == [7, 7, 6]
    # the observed maxima: never above the generator's, and reached here
    assert all(f <= m for g, h in zip(found, SMALL_MAX_IDXS)
               for f, m in zip(g, h))
    assert found[0][2] == int(x[0][:, 2].max())


def test_cli_collects_several_overrides():
    config = cli.parse("t", ["-m", str(CONFIG), "-o", "runner.epochs=4",
                             "runner.seed=5"])
    assert (config["runner.epochs"], config["runner.seed"]) == (4, 5)


def test_cli_repeated_o_options_all_apply():
    config = cli.parse("t", ["-m", str(CONFIG), "-o", "runner.epochs=17",
                             "-o", "runner.seed=5"])
    assert (config["runner.epochs"], config["runner.seed"]) == (17, 5)


@pytest.mark.slow
def test_trainer_rejects_an_unknown_key():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "trainer.py"), "-m", str(CONFIG),
         "-o", "runner.bogus=1"],
        cwd=str(ROOT), env=tool_env(), capture_output=True, text=True,
        timeout=120)
    assert proc.returncode != 0
    assert "runner.bogus" in proc.stderr
    assert "saved" not in proc.stdout


# ---------------------------------------------------------------- ranges
OUT_OF_RANGE = [
    ("hyper_parameters.batch_size=-5", "hyper_parameters.batch_size"),
    ("hyper_parameters.batch_size=0", "hyper_parameters.batch_size"),
    ("runner.epochs=0", "runner.epochs"),
    ("runner.epochs=-1", "runner.epochs"),
    ("hyper_parameters.local_lr=-1", "hyper_parameters.local_lr"),
    ("runner.print_interval=0", "runner.print_interval"),
    ("hyper_parameters.mlp_dims=[]", "hyper_parameters.mlp_dims"),
    ("hyper_parameters.mlp_dims=[a,b]", "hyper_parameters.mlp_dims"),
    ("hyper_parameters.mlp_dims=[-4]", "hyper_parameters.mlp_dims"),
    ("hyper_parameters.mlp_dims=[0]", "hyper_parameters.mlp_dims"),
    ("hyper_parameters.task_count=0", "hyper_parameters.task_count"),
    ("hyper_parameters.task_count=-2", "hyper_parameters.task_count"),
    ("hyper_parameters.embed_dim=0", "hyper_parameters.embed_dim"),
    ("hyper_parameters.num_expert=0", "hyper_parameters.num_expert"),
    ("hyper_parameters.num_output=0", "hyper_parameters.num_output"),
    ("hyper_parameters.optimizer.global_learning_rate=-0.001",
     "hyper_parameters.optimizer.global_learning_rate"),
    ("hyper_parameters.optimizer.local_test_learning_rate=0",
     "hyper_parameters.optimizer.local_test_learning_rate"),
    ("runner.infer_start_epoch=2", "runner.infer_start_epoch"),
    ("runner.infer_train_epoch=-1", "runner.infer_train_epoch"),
    ("runner.num_threads=-1", "runner.num_threads"),
    ("hyper_parameters.inner_steps=-1", "hyper_parameters.inner_steps"),
    ("expand.min_seeds=0", "expand.min_seeds"),
]


@pytest.mark.parametrize("override, key", OUT_OF_RANGE)
def test_out_of_range_values_name_the_key(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(str(CONFIG), [override])


@pytest.mark.parametrize("override, key", OUT_OF_RANGE[::4])
@pytest.mark.slow
def test_tools_exit_2_on_an_out_of_range_key_before_reading_data(tmp_path,
                                                                 override, key):
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "trainer.py"), "-m", str(CONFIG),
         "-o", override, "runner.model_save_path=%s" % (tmp_path / "m")],
        env=tool_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert key in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m").exists()


def test_edges_of_the_ranges_are_accepted():
    config = load_config(str(CONFIG), ["hyper_parameters.inner_steps=0",
                                       "hyper_parameters.local_lr=0",
                                       "runner.num_threads=0",
                                       "runner.infer_train_epoch=0"])
    assert config["hyper_parameters.inner_steps"] == 0
