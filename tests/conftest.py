"""Shared set-up of the suite.

* Few CPU threads and the tools' CPU fast path: Paddle reads
  OMP_NUM_THREADS once, when first imported, and conftest is imported
  before any test module.
* Two workers (``make test``: pytest-xdist, ``-n 2 --dist loadfile
  --no-loadscope-reorder``, modules handed out in collection order, not
  largest first): each test module is run by one worker. The tests that need the shipped demo
  (tools/trainer.py + tools/infer_meta.py on config.yaml, about a minute
  and a half of CPU) are in one module, handed out first, so one worker
  trains the demo while the other runs the rest.
  Without xdist (``pytest tests``) the demo is started in the background at
  the beginning of the session and the tests that need it run last.
  METAHEAC_SKIP_DEMO=1 skips those demo tests (for quick local iterations;
  CI runs them).
* The fast loop, ``pytest -m "not slow"``: a test that starts a process
  (a tool's subprocess) must be marked ``slow``; an unmarked one fails
  here with a message saying so, so the fast loop stays fast.
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from runkit.runtime import cpu_fast_path  # noqa: E402

cpu_fast_path()  # the tools' CPU settings, before anything imports paddle

import pytest  # noqa: E402

import helpers  # noqa: E402


def _xdist_worker(config):
    """True in a worker of pytest-xdist (make test runs two): there the demo
    runs in the worker that takes its tests, not beside the unit tests."""
    return hasattr(config, "workerinput")


def _needs_demo(item):
    return "demo" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    # stable: other tests keep their order. Alone, the ones needing the demo
    # run last (the demo trains in the background meanwhile); in a worker of
    # make test's --dist loadfile (--no-loadscope-reorder) they come first,
    # so their module is handed out first and one worker trains the demo
    # while the other runs the rest
    worker = _xdist_worker(config)
    items.sort(key=lambda item: _needs_demo(item) != worker)
    modules = sorted({item.module.__name__ for item in items
                      if _needs_demo(item)})
    if len(modules) > 1:
        raise pytest.UsageError(
            "the demo fixture is used in %s: keep its tests in one module "
            "(test_end_to_end.py), else each worker of make test trains the "
            "demo" % ", ".join(modules))


@pytest.fixture(scope="session", autouse=True)
def _demo_in_background(request, tmp_path_factory):
    wanted = not os.environ.get("METAHEAC_SKIP_DEMO") and \
        not _xdist_worker(request.config) and any(
            _needs_demo(item) for item in request.session.items)
    if not wanted:
        yield None
        return
    run = helpers.DemoRun(tmp_path_factory.mktemp("demo"))
    run.start()
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="session")
def demo(_demo_in_background, tmp_path_factory):
    """The finished demo run: logs, return codes, the result JSON."""
    if os.environ.get("METAHEAC_SKIP_DEMO"):
        pytest.skip("METAHEAC_SKIP_DEMO is set")
    if _demo_in_background is None:   # a worker of pytest-xdist: run it now
        run = helpers.DemoRun(tmp_path_factory.mktemp("demo"))
        try:
            return run.result()
        finally:
            run.stop()
    return _demo_in_background.result()


# the test that runs now, when it is not marked slow (an audit hook cannot
# be removed, so it reads this)
_UNMARKED = []


def _refuse_python_subprocess(event, args):
    if event != "subprocess.Popen" or not _UNMARKED:
        return
    # (executable, args, cwd, env): a Python process is a tool run; Paddle's
    # own first import runs a shell command (ldd), which is let through
    words = [args[0]] + ([args[1]] if isinstance(args[1], (str, bytes))
                         else list(args[1] or []))
    if any("python" in str(w) or sys.executable in str(w) for w in words):
        raise AssertionError(
            "%s starts a Python subprocess: mark it @pytest.mark.slow (the "
            "fast loop, pytest -m 'not slow', must stay under 90 s)"
            % _UNMARKED[0])


sys.addaudithook(_refuse_python_subprocess)


@pytest.fixture(autouse=True)
def _subprocesses_only_when_slow(request):
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    _UNMARKED[:] = [request.node.nodeid]
    try:
        yield
    finally:
        _UNMARKED.clear()


@pytest.fixture
def float64():
    """Paddle's default dtype float64 for one test, restored afterwards."""
    import paddle
    old = paddle.get_default_dtype()
    paddle.set_default_dtype("float64")
    try:
        yield
    finally:
        paddle.set_default_dtype(old)


# ------------------------------------------------ shared data and models
# Module-scoped: each module that uses one builds it once, in its worker.
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The small network of support.expansion.small_model, saved: the
    checkpoint tools/expand.py and tools/export.py run on."""
    from support.expansion import save_small_checkpoint
    return save_small_checkpoint(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def users(tmp_path_factory):
    """A user table of 200 users (uids 0, 5, 10, ...), and an ads.csv of
    campaigns 3 and 4: (folder, UserTable)."""
    from support.expansion import write_small_user_table
    return write_small_user_table(tmp_path_factory.mktemp("users"))


@pytest.fixture(scope="module")
def meta_test_setup(tmp_path_factory):
    """Tiny test folders and an untrained checkpoint (epoch 0), for
    support.meta_test.meta_test."""
    from support.meta_test import write_meta_test_setup
    return write_meta_test_setup(tmp_path_factory.mktemp("infer_outputs"))


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """A finished two-epoch run (seed 7) of support.training.train_here."""
    from support.training import train_here
    folder = tmp_path_factory.mktemp("earlier") / "m"
    assert train_here(folder, "runner.epochs=2", "runner.seed=7") == 0
    return folder


@pytest.fixture
def copy_of(earlier_run, tmp_path):
    """copy_of(name="m"): a fresh copy of earlier_run under tmp_path."""
    import shutil

    def copy(name="m"):
        target = tmp_path / name
        shutil.copytree(earlier_run, target)
        return target
    return copy
