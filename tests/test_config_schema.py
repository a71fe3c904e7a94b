"""Each config key is declared once (runkit/config_schema.py): the checks of
runkit.config follow the declaration, the readme's key table is the one
generated from it, the paper's profile (config_big.yaml) holds only
declared keys and marks where the paper departs from the defaults, and
the paper's values are written nowhere else."""
import dataclasses
import re

import pytest
import yaml

from helpers import CONFIG, ROOT
from runkit import key_table
from runkit.config import (PAPER_PROFILE, ConfigError, _flatten, load_config,
                           paper_marked, paper_profile)
from runkit.config_schema import BY_NAME, EVERY_TOOL, KEYS, bounds
from tools import key_table as key_table_tool
from tuning import choice

README = ROOT / "readme.md"


def rows(table):
    """{key: its row's cells} of a generated-style Markdown table."""
    found = {}
    for line in table.splitlines():
        match = re.match(r"^\| `([\w.]+)` \| (.*) \|$", line)
        if match:
            found[match.group(1)] = match.group(2).split(" | ")
    return found


# ------------------------------------------------------ the readme's table
def test_the_readme_table_is_the_one_generated_from_the_declaration():
    have = rows(key_table.readme_table(README.read_text(encoding="utf-8")))
    want = rows(key_table.table())
    assert set(want) == {key.name for key in KEYS}
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    differ = {k: (have[k], want[k]) for k in want
              if k in have and have[k] != want[k]}
    assert not (missing or extra or differ), (
        "readme.md's key table disagrees with runkit/config_schema.py (run "
        "tools/key_table.py): missing %s, not declared %s, differing %s" % (
            missing, extra, differ))
    # the rest too: header, order
    assert key_table.readme_table(README.read_text(encoding="utf-8")) == \
        key_table.table()


def test_a_changed_default_or_help_changes_the_generated_row():
    key = BY_NAME["runner.epochs"]
    changed = dataclasses.replace(key, default=3, help="another line")
    (row, ) = rows(key_table.table([changed])).values()
    assert row[0] == "3" and row[-1] == "another line"
    assert row != rows(key_table.table([key]))["runner.epochs"]


def test_the_tool_checks_and_rewrites_the_table(tmp_path, capsys):
    readme = tmp_path / "readme.md"
    text = README.read_text(encoding="utf-8")
    stale = text.replace("| `runner.epochs` | 1 |", "| `runner.epochs` | 7 |")
    assert stale != text
    readme.write_text(stale, encoding="utf-8")
    assert key_table_tool.main(["--readme", str(readme), "--check"]) == 1
    assert readme.read_text(encoding="utf-8") == stale   # --check writes nothing
    assert key_table_tool.main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == text
    assert key_table_tool.main(["--readme", str(readme), "--check"]) == 0
    readme.write_text("# no table\n", encoding="utf-8")
    assert key_table_tool.main(["--readme", str(readme)]) == 1
    assert "no generated key table" in capsys.readouterr().err


# ------------------------------------------------------- the declaration
def test_every_declaration_is_consistent(tmp_path):
    for key in KEYS:
        where = key.name
        assert key.help and "\n" not in key.help, where
        assert key.tools and set(key.tools) <= set(EVERY_TOOL), where
        assert not key.choices or key.default in key.choices, where
        assert not key.path or str in key.types, where
        if key.grid_of:
            assert BY_NAME[key.grid_of].accepts_auto(), where
        if key.default == "auto":
            assert key.accepts_auto(), where
    # a config that sets only the required keys takes every default, and
    # every default passes the checks
    path = tmp_path / "c.yaml"
    path.write_text("".join("%s:\n  %s: x\n" % tuple(k.name.split(".", 1))
                            for k in KEYS if k.required))
    minimal = load_config(str(path))
    for key in KEYS:
        if not (key.required or key.path):
            assert minimal[key.name] == key.default, key.name


def test_every_declared_key_is_read_somewhere():
    """A key no code reads is a setting that silently does nothing."""
    sources = [p for p in ROOT.glob("**/*.py")
               if ".venv" not in p.parts and "tests" not in p.parts
               and p.name not in ("config_schema.py", "key_table.py")]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sources)
    unread = [k.name for k in KEYS
              if k.name not in text and '"%s"' % k.leaf not in text]
    assert not unread, unread


def _edges(key):
    """(value, accepted?) at and beyond each declared bound."""
    step = 1 if int in key.types and float not in key.types else 0.5
    edges = []
    if key.low is not None:
        edges += [(key.low, key.low_inclusive), (key.low - step, False)]
        if not key.low_inclusive:
            edges.append((key.low + step / 10 if step < 1 else key.low + 1,
                          True))
    if key.high is not None:
        edges += [(key.high, key.high_inclusive), (key.high + step, False)]
    return edges


BOUNDED = [k for k in KEYS if (k.low is not None or k.high is not None)
           and not (k.each or k.grid_of)]


@pytest.mark.parametrize("key", BOUNDED, ids=[k.name for k in BOUNDED])
def test_the_declared_bounds_are_the_checked_ones(key):
    for value, accepted in _edges(key):
        value = float(value) if float in key.types else int(value)
        override = ["%s=%r" % (key.name, value)]
        if key.name == "runner.infer_start_epoch":
            override.append("runner.infer_end_epoch=%d" % (int(value) + 1))
        if accepted:
            assert load_config(str(CONFIG), override)[key.name] == value
        else:
            with pytest.raises(ConfigError) as caught:
                load_config(str(CONFIG), override)
            assert repr(key.name) in str(caught.value)
            assert bounds(key) in str(caught.value)


def test_a_grid_takes_the_bounds_of_the_key_it_searches():
    for grid in (k for k in KEYS if k.grid_of):
        target = BY_NAME[grid.grid_of]
        below = target.low - 1
        with pytest.raises(ConfigError) as caught:
            load_config(str(CONFIG), ["%s=[%r]" % (grid.name, below)])
        assert grid.name in str(caught.value)
        assert target.name in str(caught.value)
    with pytest.raises(ConfigError, match="tuning.passes.*non-empty"):
        load_config(str(CONFIG), ["tuning.passes=[]"])


def test_auto_only_where_something_resolves_it():
    for key in KEYS:
        if key.accepts_auto():
            continue
        if str in key.types:   # a text key: "auto" is just a text
            continue
        with pytest.raises(ConfigError, match=re.escape(repr(key.name))):
            load_config(str(CONFIG), ["%s=auto" % key.name])
    with pytest.raises(ConfigError, match="must be an integer or auto"):
        load_config(str(CONFIG), ["runner.infer_train_epoch=often"])


def test_the_searched_keys_are_the_grids():
    assert choice.SEARCHED == {
        choice.LEARNING_RATE: "tuning.learning_rates",
        choice.PASSES: "tuning.passes",
        choice.SEED_BLEND: "tuning.seed_blends"}


# ------------------------------------------------------ the paper's profile
def profile_file():
    with open(PAPER_PROFILE) as f:
        return _flatten(yaml.safe_load(f))


def test_every_key_of_the_paper_profile_is_declared():
    undeclared = sorted(set(profile_file()) - set(BY_NAME))
    assert not undeclared, undeclared
    assert paper_profile()["runner.train_data_dir"]   # it loads: types, ranges


def test_the_keys_marked_paper_depart_from_the_defaults():
    marked, stated, profile = paper_marked(), profile_file(), paper_profile()
    assert len(marked) == len(set(marked)) >= 3
    for name in marked:
        assert name in BY_NAME, name
        assert name in stated, name   # written in the file, not defaulted
        assert profile[name] != BY_NAME[name].default, name
    # the meta-test's fallback is stated there, as numbers
    assert set(choice.SEARCHED) <= set(marked)


def test_the_marks_are_read_from_the_comments_of_nested_keys(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "# paper: a heading comment, not a key\n"
        "runner:\n"
        "  epochs: 3          # paper\n"
        "  seed: 1            # the paper's code seeds nothing\n"
        "hyper_parameters:\n"
        "  optimizer:\n"
        "    global_learning_rate: 0.5   # paper: its Adam\n"
        "  local_lr: 0.1 #paper\n"
        "tuning:\n"
        "  share: 0\n")
    assert paper_marked(str(path)) == [
        "runner.epochs", "hyper_parameters.optimizer.global_learning_rate",
        "hyper_parameters.local_lr"]


def test_the_fallback_is_the_profiles(tmp_path, monkeypatch):
    profile = paper_profile()
    assert choice.fallback() == {k: profile[k] for k in choice.SEARCHED}
    # a profile that leaves one auto cannot be fallen back on: said, named
    text = (ROOT / "config_big.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "config_big.yaml"
    broken.write_text(re.sub(r"infer_train_epoch: \d+", "infer_train_epoch: "
                             "auto", text), encoding="utf-8")
    monkeypatch.setattr(choice, "paper_profile",
                        lambda: load_config(str(broken)))
    with pytest.raises(ConfigError, match="runner.infer_train_epoch"):
        choice.fallback()
    with pytest.raises(ConfigError, match="paper's profile .*none.yaml"):
        paper_profile(str(tmp_path / "none.yaml"))


PAPER_VALUE = re.compile(r"paper\W{0,3}\d")


def test_the_papers_values_are_written_only_in_its_profile():
    """config.yaml's comments and the readme (but for its generated table)
    name the profile instead of copying its values."""
    text = README.read_text(encoding="utf-8")
    outside = text.replace(key_table.readme_table(text), "")
    assert not PAPER_VALUE.findall(outside)
    comments = [line.split("#", 1)[1] for line in
                CONFIG.read_text(encoding="utf-8").splitlines() if "#" in line]
    assert not [c for c in comments if PAPER_VALUE.search(c)]
    big = (ROOT / "config_big.yaml").read_text(encoding="utf-8")
    assert not [line for line in big.splitlines()
                if PAPER_VALUE.search(line.split("#", 1)[-1])
                and "#" in line]
    # and the table shows them, from the profile
    table = rows(key_table.table())
    profile = paper_profile()
    for name in paper_marked():
        assert "(paper " in table[name][0], name
        shown = table[name][0].split("(paper ", 1)[1].rstrip(")")
        assert float(shown) == profile[name], name
