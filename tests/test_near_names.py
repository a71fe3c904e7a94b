"""A mistyped config key or option is answered with the name it was
probably meant to be: ``-o runner.epoch=2`` (did you mean runner.epochs?),
a key of a YAML file (the file named), ``--tops 5`` (did you mean --top?),
in every tool."""
import re

import pytest

from helpers import CONFIG, ROOT, run_tool, write
from runkit import cli
from runkit.config import ConfigError, load_config
from runkit.near_names import near


def test_near_names_are_the_nearest_by_edit_distance():
    assert near("runner.epoch", ["runner.epochs", "runner.seed"]) == \
        ["runner.epochs"]
    # the nearest alone, not every name sharing a few letters
    assert near("embed_dims", ["embed_dim", "mlp_dims", "max_idxs"]) == \
        ["embed_dim"]
    # equally near: both, in the names' order
    assert near("model_path", ["model_save_path", "model_init_path"]) == \
        ["model_save_path", "model_init_path"]
    assert near("use_visual", ["use_gpu", "use_auc", "use_cache"]) == []


def test_a_mistyped_override_names_the_key_meant():
    with pytest.raises(ConfigError) as caught:
        load_config(str(CONFIG), ["runner.epoch=2"])
    assert str(caught.value) == (
        "unknown config key 'runner.epoch' in -o runner.epoch=2 (did you "
        "mean runner.epochs?)")
    # a key in the wrong section: the section that has it
    with pytest.raises(ConfigError, match=r"did you mean runner\.epochs\?"):
        load_config(str(CONFIG), ["hyper_parameters.epochs=2"])
    with pytest.raises(ConfigError) as caught:
        load_config(str(CONFIG), ["runner.use_visuals=True"])
    assert "did you mean" not in str(caught.value)


def test_a_mistyped_key_of_a_config_file_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "mine.yaml"
    write(path, "runner:\n  train_data_dir: data/train\n  epoch: 2\n"
                "hyper_parameters:\n  embed_dims: 8\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(caught.value) == (
        "unknown config key 'runner.epoch' in %s (did you mean "
        "runner.epochs?)" % path)


def test_a_changed_config_names_the_key_meant_too():
    config = load_config(str(CONFIG))
    with pytest.raises(ConfigError, match=r"did you mean expand\.diagnose\?"):
        config.with_overrides({"expand.diagnos": False})


def parser_error(capsys, argv, required=False):
    parser = cli.ArgumentParser(prog="tool")
    parser.add_argument("--top", type=float)
    parser.add_argument("--tiers")
    parser.add_argument("--seeds", required=required)
    parser.add_argument("--overwrite", action="store_true")
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_an_unknown_option_names_the_option_meant(capsys):
    assert parser_error(capsys, ["--tops", "5"]) == \
        "tool: error: unrecognized arguments: --tops 5 (did you mean --top?)"
    assert parser_error(capsys, ["--tops=5"]).endswith(
        "--tops=5 (did you mean --top?)")
    # two: each named with its own
    assert parser_error(capsys, ["--tops", "5", "--teirs", "1,5"]).endswith(
        "(did you mean --top for --tops, --tiers for --teirs?)")
    # nothing near: argparse's own line
    assert parser_error(capsys, ["--users", "u"]) == \
        "tool: error: unrecognized arguments: --users u"


def test_a_missing_option_that_was_mistyped_is_explained(capsys):
    # argparse reports the missing required option before the unknown one
    assert parser_error(capsys, ["--sedes", "s.csv"], required=True) == (
        "tool: error: the following arguments are required: --seeds; "
        "unknown option --sedes (did you mean --seeds?)")


def test_an_option_named_like_a_config_key_names_its_override(capsys):
    with pytest.raises(SystemExit):
        cli.parse("a tool", ["-m", str(CONFIG), "--epochs", "2"])
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "unrecognized arguments: --epochs 2 (did you mean -o "
        "runner.epochs=...?)")


def test_abbreviations_and_values_are_not_taken_for_typos(capsys):
    parser = cli.ArgumentParser(prog="tool")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("-o", nargs="*", default=[])
    args = parser.parse_args(["--overw", "-o", "runner.seed=-1"])
    assert args.overwrite and args.o == ["runner.seed=-1"]


def test_every_tool_builds_its_parser_with_near_names():
    """argparse.ArgumentParser itself nowhere in tools/: each tool's parser
    is cli.ArgumentParser, directly or through cli.run / cli.parse."""
    for path in sorted((ROOT / "tools").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "def main(" not in text:
            continue
        assert "argparse.ArgumentParser(" not in text, path.name
        assert re.search(r"cli\.(ArgumentParser|run|parse)\(", text), \
            path.name


@pytest.mark.slow
def test_the_tools_answer_typos_with_near_names():
    done = run_tool("trainer.py", ["runner.epoch=2"])
    assert done.returncode == 2
    assert "unknown config key 'runner.epoch' in -o runner.epoch=2 (did you " \
        "mean runner.epochs?)" in done.stderr
    done = run_tool("expand.py", [], extra=[
        "--seeds", "s.csv", "--out", "a", "--tops", "5"])
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "expand.py: error: unrecognized arguments: --tops 5 (did you mean "
        "--top?)")
