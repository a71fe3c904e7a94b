"""The project installed in its venv (make venv: ``pip install -e .``):
the tools, the predictor example and a service import it from any folder,
and the tools edit no ``sys.path``."""
import ast
import subprocess
import sys

import pytest

from helpers import ROOT, tool_env

TOOLS = sorted((ROOT / "tools").glob("*.py"))


def test_no_tool_edits_sys_path():
    """The tools find the project through its install, not by putting
    their parent folder on ``sys.path``."""
    for path in TOOLS:
        tree = ast.parse(path.read_text())
        edits = [node.lineno for node in ast.walk(tree)
                 if isinstance(node, ast.Attribute) and node.attr == "path"
                 and isinstance(node.value, ast.Name)
                 and node.value.id == "sys"]
        assert not edits, "%s uses sys.path (line %s)" % (path.name, edits)


def test_every_tool_says_which_python_without_the_project():
    """Each tool's first import of the project is the guarded one: a
    Python without the project stops with one line (runtime.py), not a
    traceback."""
    for path in TOOLS:
        if path.name in ("__init__.py", "without_project.py"):
            continue
        text = path.read_text()
        assert "import without_project" in text, path.name
        first = text.index("try:\n    from runkit import runtime")
        for line in text[:first].splitlines():
            assert not line.startswith(("from ", "import ")) or \
                line.split()[1].split(".")[0] in sys.stdlib_module_names, \
                "%s imports %s before the guarded import" % (path.name, line)


def installed_in(folder):
    """Where this venv's Python, started in ``folder`` without this
    checkout on its path, imports the project from."""
    done = subprocess.run(
        [sys.executable, "-c", "import net, runkit, tools.trainer; "
         "print(runkit.__file__)"], cwd=str(folder),
        env=tool_env(project=False), capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, (
        "the project is not installed in this venv (make venv): " +
        done.stderr[-2000:])
    return done.stdout.strip()


@pytest.mark.slow
def test_the_tools_run_from_any_folder(tmp_path):
    where = installed_in(tmp_path)
    if not where.startswith(str(ROOT) + "/"):
        pytest.skip("this venv's project is installed from %s, not from this "
                    "checkout (make venv in %s installs it)" % (where, ROOT))
    env = tool_env(project=False)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "trainer.py"), "--help"],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "-m CONFIG_YAML" in done.stdout
    # run as a module too, as make_raw_data.py's docstring has it
    out = tmp_path / "raw"
    done = subprocess.run(
        [sys.executable, "-m", "tools.make_raw_data", "--out", str(out),
         "--users", "30", "--train-rows", "40", "--test-rows", "20",
         "--campaigns", "2"], cwd=str(tmp_path), env=env,
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wrote %s" % out in done.stdout


def test_runtime_imports_only_the_standard_library_at_its_top():
    """A tool without the project runs runkit/runtime.py by path
    (runtime.require_project): its top level must need nothing else."""
    tree = ast.parse((ROOT / "runkit" / "runtime.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names, (
                "runkit/runtime.py line %d imports %s" % (node.lineno, name))
