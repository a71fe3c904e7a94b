"""The commands of the readme and docs/ (not docs/experiments/, which is
history) can be pasted: every fenced block says what it holds (``sh`` or
``bash``: commands; ``console``: commands after ``$ ``, then their output;
``text``, ``python``, ... otherwise); every command parses as bash, names
tools that exist, config keys that are declared and options its tool
accepts; and what the commands write inside the checkout is ignored by
git."""
import importlib
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, tool_env
from runkit import cli
from runkit.config_schema import BY_NAME, KEYS

DOCS = [ROOT / "readme.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^\s*```\s*([\w+-]*)")
COMMAND_LANGUAGES = ("sh", "bash", "console")
SECTIONS = {key.section for key in KEYS}
# key=value words of the config: "runner.epochs=2", in -o or an array
OVERRIDE = re.compile(r"^(%s)\.[\w.]+=" % "|".join(sorted(SECTIONS)))
TOOL = re.compile(r"^tools/(\w+)\.py$")
# options whose value is a path the command writes
WRITES = ("--out", "--log_dir", ">", ">>")
WRITTEN_KEYS = ("runner.model_save_path", "runner.infer_result_path")


def blocks(path):
    """(line number, language, lines) of each fenced block of ``path``."""
    found, inside = [], None
    for number, line in enumerate(
            path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if match and inside is None:
            inside = (number, match.group(1), [])
        elif match:
            found.append(inside)
            inside = None
        elif inside is not None:
            inside[2].append(line)
    assert inside is None, "%s: a block opened at line %d is not closed" % (
        path.name, inside[0])
    return found


def commands(language, lines):
    """The commands of a block, each one string (continuations joined)."""
    found, current = [], None
    for line in lines:
        if current is not None:
            current += "\n" + line
        elif language != "console":
            current = line
        elif line.startswith("$ "):
            current = line[2:]
        else:
            continue   # output
        if not current.endswith("\\"):
            found.append(current)
            current = None
    assert current is None, "a command ends with a continuation: %r" % current
    return [c for c in found if c.strip() and not c.lstrip().startswith("#")]


def documented():
    """(where, command) of every command of the docs."""
    found = []
    for path in DOCS:
        for number, language, lines in blocks(path):
            if language in COMMAND_LANGUAGES:
                found += [("%s:%d" % (path.name, number), command)
                          for command in commands(language, lines)]
    return found


COMMANDS = documented()


def words(command):
    """The shell words of ``command``, comments dropped, continuations
    joined, an array's parentheses dropped (``tour=(a=1 b=2)``: a=1, b=2)."""
    split = shlex.split(command.replace("\\\n", " "), comments=True)
    return [re.sub(r"^\w+=\(", "", word).rstrip(")") for word in split]


def tool_runs(command):
    """(tool name, its arguments) of each ``tools/X.py`` the command runs;
    the arguments stop at a shell operator (|, ;, &&, >)."""
    runs, split = [], words(command)
    for index, word in enumerate(split):
        match = TOOL.match(word)
        if match:
            rest = []
            for argument in split[index + 1:]:
                if argument in ("|", "||", "&&", ";", ">", ">>"):
                    break
                rest.append(argument)
            runs.append((match.group(1), rest))
    return runs


def test_the_extraction_finds_the_commands():
    sample = ["$ ls \\", "    -l", "output", "$ # a comment", "$ pwd"]
    assert commands("console", sample) == ["ls \\\n    -l", "pwd"]
    assert commands("sh", ["# what it does", "make demo"]) == ["make demo"]
    assert tool_runs("python tools/expand.py -m c.yaml --top 5 | head") == \
        [("expand", ["-m", "c.yaml", "--top", "5"])]
    tools = {name for _, c in COMMANDS for name, _ in tool_runs(c)}
    assert {"trainer", "infer_meta", "expand", "export"} <= tools


def test_every_block_says_what_it_holds():
    untagged = ["%s:%d" % (path.name, number) for path in DOCS
                for number, language, _ in blocks(path) if not language]
    assert not untagged, "blocks without a language (sh, console, text, " \
        "...): %s" % untagged


def test_every_command_block_parses_as_bash():
    for path in DOCS:
        for number, language, lines in blocks(path):
            if language not in COMMAND_LANGUAGES:
                continue
            script = "\n".join(commands(language, lines)) + "\n"
            # the script on stdin: a Python-free command line
            done = subprocess.run(["bash", "-n"], input=script, text=True,
                                  capture_output=True)
            assert done.returncode == 0, "%s:%d: %s" % (
                path.name, number, done.stderr)


def test_no_command_holds_a_placeholder_the_shell_would_take_literally():
    for where, command in COMMANDS:
        for word in words(command):
            assert not re.match(r"^\[-", word), (where, word)   # [--option]
            assert "..." not in word, (where, word)             # elided


def test_every_tool_named_exists():
    for where, command in COMMANDS:
        for name, _ in tool_runs(command):
            assert (ROOT / "tools" / (name + ".py")).is_file(), (where, name)


def test_every_config_key_given_is_declared():
    seen = 0
    for where, command in COMMANDS:
        for word in words(command):
            if OVERRIDE.match(word):
                key = word.split("=", 1)[0]
                assert key in BY_NAME, "%s: unknown config key %s" % (
                    where, key)
                seen += 1
    assert seen >= 10


class Parsed(Exception):
    """Raised by a parser once it has parsed: the tool stops there."""


def parse_as_documented(monkeypatch, capsys, where, name, arguments):
    """Parse ``arguments`` with tool ``name``'s own parser (its main() up
    to its parse_args), in this process: unknown options, bad values and
    missing required options fail as the tool would."""
    module = importlib.import_module("tools." + name)
    parse_args = cli.ArgumentParser.parse_args

    def parse_and_stop(self, args=None, namespace=None):
        raise Parsed(parse_args(self, args, namespace))

    monkeypatch.setattr(cli.ArgumentParser, "parse_args", parse_and_stop)
    # cli.run installs the tools' signal handlers: not in the test process
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT,
                                                 signal.SIGTERM)}
    try:
        module.main(list(arguments))
    except Parsed:
        return
    except SystemExit:
        pytest.fail("%s: tools/%s.py refuses its documented arguments: %s" % (
            where, name, capsys.readouterr().err.strip()))
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    pytest.fail("%s: tools/%s.py ran without parsing arguments" % (
        where, name))


def test_every_tool_accepts_its_documented_arguments(monkeypatch, capsys):
    """Options, their values and the required ones, as each tool's parser
    takes them (the shell's variables are left as they are written)."""
    with pytest.raises(pytest.fail.Exception, match=r"did you mean --top\?"):
        parse_as_documented(monkeypatch, capsys, "here", "expand", [
            "-m", "config.yaml", "--seeds", "s", "--out", "o", "--tops", "5"])
    tools = set()
    for where, command in COMMANDS:
        for name, arguments in tool_runs(command):
            parse_as_documented(monkeypatch, capsys, where, name, arguments)
            tools.add(name)
    assert len(tools) >= 8


@pytest.mark.slow
def test_every_documented_tool_tells_its_options():
    """``--help`` of each tool the docs run, as a user would start it."""
    names = sorted({name for _, command in COMMANDS
                    for name, _ in tool_runs(command)})
    for name in names:
        done = subprocess.run(
            [sys.executable, str(ROOT / "tools" / (name + ".py")), "--help"],
            cwd=str(ROOT), env=tool_env(), capture_output=True, text=True,
            timeout=120)
        assert done.returncode == 0 and "usage:" in done.stdout, (
            name, done.stderr)


def written_paths():
    """(where, path) of what the commands write inside the checkout: the
    values of --out, --log_dir, the save keys and redirections, relative
    paths only."""
    found = []
    for where, command in COMMANDS:
        split = words(command)
        for index, word in enumerate(split):
            value = None
            if word in WRITES and index + 1 < len(split):
                value = split[index + 1]
            elif word.split("=", 1)[0] in WRITTEN_KEYS:
                value = word.split("=", 1)[1]
            if value and not value.startswith(("/", "$", "~")):
                found.append((where, value))
    return found


def test_what_the_commands_write_is_ignored_by_git():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = written_paths()
    assert len(paths) >= 5
    # a file inside each written folder: "log/" patterns match folders
    probes = [str(Path(path) / "probe") for _, path in paths]
    done = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", "--stdin"],
        input="\n".join(probes) + "\n", text=True, capture_output=True)
    ignored = set(done.stdout.splitlines())
    missing = [(where, path) for (where, path), probe in zip(paths, probes)
               if probe not in ignored]
    assert not missing, "written by documented commands, not in " \
        ".gitignore: %s" % missing
