"""The meta-test (tools/infer_meta.py) in this process, on a tiny generated
test set and an untrained checkpoint (fixture ``meta_test_setup``)."""
from dataclasses import replace

from helpers import CONFIG, yaml_list
from synthetic import generator

META_TEST_SPEC = replace(
    generator.SAMPLE, n_users=400, n_train=2, train_rows_median=40,
    train_rows_range=(30, 50), n_hot=2, hot_seeds=(20, 30), n_cold=2,
    cold_seeds=(10, 20), candidates=40)


def arch():
    """The untrained checkpoint's network, as -o overrides."""
    return ["hyper_parameters.max_idxs=%s" % yaml_list(
                META_TEST_SPEC.max_idxs()),
            "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
            "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
            "hyper_parameters.batch_size=32"]


def write_meta_test_setup(base):
    """Test folders (``base/data``) and an untrained checkpoint (epoch 0 of
    ``base/m``); ``base``."""
    from tools.make_sample_data import write_stages
    from dygraph_model import DygraphModel
    from runkit.checkpoint import save_checkpoint
    from runkit.config import load_config
    write_stages(generator.generate(META_TEST_SPEC, seed=3),
                 str(base / "data"), META_TEST_SPEC)
    model = base / "m"
    model_class = DygraphModel()
    config = load_config(str(CONFIG), arch())
    save_checkpoint(model_class.create_model(config), None, str(model), 0,
                    announce=False)
    return base


def meta_test(setup, result, *extra, cold=None):
    """tools/infer_meta.py's main on ``setup`` (write_meta_test_setup's
    folder), its result file ``result``; its exit status."""
    from tools import infer_meta
    data = setup / "data"
    overrides = arch() + [
        "runner.test_data_dir=%s" % (data / "test"),
        "runner.test_cold_data_dir=%s" % (cold or data / "test_cold"),
        "runner.infer_load_path=%s" % (setup / "m"),
        "runner.infer_result_path=%s" % result,
        "runner.infer_start_epoch=0", "runner.infer_end_epoch=1",
        "runner.infer_train_epoch=1", "runner.num_threads=1"] + list(extra)
    return infer_meta.main(["-m", str(CONFIG), "-o"] + overrides)


def file_hashes(folder):
    """{relative path: SHA-256} of every file below ``folder``."""
    from runkit.runs import sha256
    return {str(p.relative_to(folder)): sha256(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}
