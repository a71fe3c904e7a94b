"""The import rule (.importlinter): each layer imports only the layers
below it, checked with import-linter over every package, and by reading
the imports of the PaddleRec files at the top, which import-linter cannot
take as packages."""
import ast
import configparser

from helpers import ROOT

PROJECT = ROOT / ".importlinter"
# what each PaddleRec file at the top may import of the project: the
# model layer sits on adaptation, runs and data
TOP_FILES = {
    "net": {"dataio"},
    "dygraph_model": {"net", "adaptation", "runkit", "dataio"},
    "reader_train": {"adaptation", "runkit", "dataio"},
    "reader_test": {"adaptation", "runkit", "dataio"},
}


def root_packages():
    config = configparser.ConfigParser()
    config.read(PROJECT)
    return config["importlinter"]["root_packages"].split()


def test_every_contract_is_kept():
    import logging
    from importlinter.cli import lint_imports
    # it configures logging (disabling the loggers that exist): the
    # tests after it in this process read the project's log
    loggers = dict(logging.root.manager.loggerDict)
    enabled = [lg for lg in loggers.values()
               if isinstance(lg, logging.Logger) and not lg.disabled]
    try:
        kept = lint_imports(config_filename=str(PROJECT), no_cache=True,
                            no_logo=True)
    finally:
        for logger in enabled:
            logger.disabled = False
    assert kept == 0, \
        "lint-imports: a contract of .importlinter is broken (run it to see)"


def test_the_contracts_cover_every_package():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - \
        {"tests"}
    assert packages == set(root_packages())


def imported(path):
    """The top-level names a file imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_paddlerec_files_import_only_the_layers_below_them():
    project = set(root_packages()) | set(TOP_FILES)
    for name, allowed in TOP_FILES.items():
        used = imported(ROOT / ("%s.py" % name)) & project
        assert used <= allowed, (name, sorted(used - allowed))


def test_the_check_of_the_top_files_sees_nested_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from tuning.choice import x\n")
    assert imported(source) == {"os", "tuning"}
