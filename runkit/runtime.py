"""Process set-up shared by the tools: logging, threads, device, seeds.

``configure_threads`` (which applies ``cpu_fast_path``) must run before
paddle is imported: Paddle's CPU kernels read ``OMP_NUM_THREADS`` once, at
start-up, and default to one thread; MKL picks its code path once, at its
first call.

The top level imports only the standard library: a tool whose Python
lacks the project runs this file by path to say so
(:func:`require_project`).
"""
import logging
import os
import random
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

logger = logging.getLogger("metaheac")


def setup_logging(stream=None):
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(message)s",
                        level=logging.INFO, stream=stream or sys.stdout)


# the top-level modules of requirements.txt
REQUIREMENTS = ("paddle", "numpy", "pandas", "sklearn", "yaml")


def missing_requirement(exc):
    """The one line for ``exc`` when it is a module of the project's
    requirements missing from this Python (a tool started with the
    system's ``python3``, as PaddleRec's readme has it, instead of the
    project's environment); None for anything else."""
    if not isinstance(exc, ImportError):
        return None
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name not in REQUIREMENTS:
        return None
    return requirements_line([name])


def absent_requirements():
    """The modules of the requirements this Python cannot import (looked
    up, not imported)."""
    import importlib.util
    return [n for n in REQUIREMENTS if importlib.util.find_spec(n) is None]


def require_environment(modules=REQUIREMENTS):
    """Stop with the one line of :func:`requirements_line` when this
    Python lacks any of ``modules``: for the tools that import them before
    :func:`runkit.cli.run` could say so."""
    import importlib.util
    absent = [n for n in modules if importlib.util.find_spec(n) is None]
    if absent:
        setup_logging(sys.stderr)
        logger.error("%s", requirements_line(absent))
        sys.exit(1)


# the project's package every tool imports first: missing from a Python the
# project is not installed in (make venv installs it, editable, in .venv)
PROJECT = "runkit"


def require_project():
    """The tools' first import of the project, when it fails, calls this
    function of this file run by path (tools/without_project.py): this Python may
    lack the project itself, and this file imports only the standard
    library. Stops with the one line of :func:`requirements_line` naming
    the project and the requirements this Python lacks; returns when it
    lacks none (the caller re-raises the ImportError: a bug)."""
    require_environment((PROJECT, ) + REQUIREMENTS)


def requirements_line(names):
    python = _shown(os.path.join(ROOT, ".venv", "bin", "python"))
    tool = _shown(sys.argv[0]) if sys.argv and sys.argv[0].endswith(
        ".py") else "tools/<tool>.py"
    absent = ", ".join(repr(n) + (" (the project itself)" if n == PROJECT
                                  else "") for n in names)
    make = (" (make venv installs requirements.txt and the project in it)"
            if os.path.exists(os.path.join(ROOT, ".venv")) else
            " (make venv creates it: python3 -m venv .venv, then "
            ".venv/bin/pip install -r requirements.txt -e .)")
    return ("this Python (%s) has no module%s %s, which the project needs%s: "
            "run the tools with the project's environment, %s %s ...%s" % (
                sys.executable, "s" if len(names) > 1 else "", absent,
                "" if PROJECT in names else " (requirements.txt)", python,
                tool, make))


def _shown(path):
    """``path`` relative to the working directory when it lies in it."""
    relative = os.path.relpath(os.path.abspath(path))
    return os.path.abspath(path) if relative.startswith(os.pardir) \
        else relative


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cpuinfo(field):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_vendor():
    return _cpuinfo("vendor_id")


def cpu_model():
    """The CPU's model name, printed beside every speed figure."""
    import platform
    return _cpuinfo("model name") or platform.processor() or "unknown CPU"


# what a job reports when it stops (runkit.cli.guarded): "on_interrupt",
# what is left after an interruption; "output", the (path, option) of what
# the tool writes; "output_done", once it is in place; "last_checkpoint"
# (the trainer); "signal", the signal that stopped the run
STATUS = {}


def writes_output(path, option):
    """Tell the stop messages (interruption, full disk) that this run
    writes ``path``, set with ``option`` (``--out``,
    ``runner.infer_result_path``), and that nothing of it is written yet."""
    STATUS["output"] = (os.path.abspath(path), option)
    STATUS.pop("output_done", None)
    STATUS.pop("on_interrupt", None)   # the output's state says it now


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so that cleanup runs."""


def _on_sigint(signum, frame):
    STATUS["signal"] = "Ctrl-C"
    raise KeyboardInterrupt()


def _on_sigterm(signum, frame):
    STATUS["signal"] = "SIGTERM"
    raise Terminated()


def own_signal_handlers():
    """Ctrl-C as KeyboardInterrupt and SIGTERM as :class:`Terminated`, in
    place of the handlers Paddle installs at import (which print a C++
    "FatalError" dump): the tools then stop with one line. Each also
    records the signal (``STATUS["signal"]``): an error it causes on its
    way out (an import cut short says "initialization failed") is still
    reported as the interruption."""
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)


_HELD = (signal.SIGINT, signal.SIGTERM)


def hold_signals():
    """Keep Ctrl-C and SIGTERM pending until :func:`release_signals`.

    Held while the tools import (Python's own modules, numpy, Paddle:
    about 2.5 s): a KeyboardInterrupt raised inside an import gives a
    traceback, or an "ImportError: initialization failed" from a C
    extension, and Paddle replaces the SIGTERM handler halfway through its
    import. Threads started meanwhile inherit the held mask, so the signal
    comes to the main thread once released."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)


def release_signals():
    """Our handlers, then the held signals: one that came meanwhile is
    raised here, where the caller's clean-up is ready for it."""
    own_signal_handlers()
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)


# what cpu_fast_path set in this process, logged once by setup_device
FAST_PATH = {}
_fast_path_logged = []


def cpu_fast_path(environ=None):
    """Environment settings that make Paddle's CPU kernels fast here.

    * ``MKL_DEBUG_CPU_TYPE=5`` on AMD only: the MKL bundled with Paddle takes
      a generic code path on AMD CPUs (2x slower matmuls on an EPYC); on an
      Intel CPU the same setting halves its speed.
    * ``FLAGS_use_stride_kernel=0``: Paddle 3.3's stride kernels make a
      transpose+reshape copy about 10x slower.

    * glibc's malloc keeps blocks up to 1 GiB in its heap instead of mapping
      each large one afresh: a dense table gradient (67 MB for kw1) would
      otherwise page-fault its way into fresh memory at every step, which
      cost 45 ms of a 0.3 s meta-step at batch 32. Skipped when the user set
      ``MALLOC_MMAP_THRESHOLD_``.

    A value already in the environment is the user's choice and is kept.
    Returns what was set. Safe to call more than once.
    """
    environ = os.environ if environ is None else environ
    wanted = {"FLAGS_use_stride_kernel": "0"}
    if cpu_vendor() == "AuthenticAMD":
        wanted["MKL_DEBUG_CPU_TYPE"] = "5"
    for key, value in wanted.items():
        if key not in environ:
            environ[key] = value
            FAST_PATH[key] = value
    if ("MALLOC_MMAP_THRESHOLD_" not in environ and
            "malloc mmap threshold" not in FAST_PATH and _keep_large_blocks()):
        FAST_PATH["malloc mmap threshold"] = "1 GiB"
    return dict(FAST_PATH)


def _keep_large_blocks():
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 1 << 30) and
                mallopt(m_trim_threshold, 1 << 30))


def configure_threads(config):
    """Use ``runner.num_threads`` CPU threads (0: every core we are given)."""
    cpu_fast_path()
    # processes started together on one machine share its cores
    local = max(int(os.environ.get("PADDLE_LOCAL_SIZE", "1") or 1), 1)
    wanted = config.get("runner.num_threads") or max(
        available_cores() // local, 1)
    if "OMP_NUM_THREADS" in os.environ and not config.get("runner.num_threads"):
        wanted = int(os.environ["OMP_NUM_THREADS"])
    os.environ["OMP_NUM_THREADS"] = str(wanted)
    os.environ.setdefault("MKL_NUM_THREADS", str(wanted))
    return wanted


def import_paddle():
    """Import paddle without the start-up noise a user can do nothing
    about: the "No ccache found" warning (it concerns building C++
    extensions) and the OMP_NUM_THREADS banner (the thread count is set on
    purpose, by ``configure_threads``). Anything else it prints is kept."""
    if "paddle" in sys.modules:
        own_signal_handlers()   # imported elsewhere: its handlers go too
        return sys.modules["paddle"]
    import contextlib
    import io
    import warnings
    captured = io.StringIO()
    hold_signals()   # a Ctrl-C during the import stops the run after it
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No ccache found")
            with contextlib.redirect_stderr(captured):
                import paddle
    finally:
        release_signals()
    banner = ("WARNING: OMP_NUM_THREADS set to", "PLEASE USE OMP_NUM_THREADS")
    rest = [line for line in captured.getvalue().splitlines()
            if line.strip() and not line.startswith(banner)]
    if rest:
        sys.stderr.write("\n".join(rest) + "\n")
    return paddle


def setup_device(config):
    paddle = import_paddle()
    use_gpu = config.get("runner.use_gpu")
    if use_gpu and not paddle.is_compiled_with_cuda():
        logger.warning("runner.use_gpu is True but this Paddle has no CUDA "
                       "support: running on CPU")
        use_gpu = False
    place = paddle.set_device("gpu" if use_gpu else "cpu")
    if not use_gpu:
        paddle.base.core.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    # paddle reads FLAGS_* from the environment only when first imported
    if os.environ.get("FLAGS_use_stride_kernel") == "0":
        paddle.set_flags({"FLAGS_use_stride_kernel": False})
    if FAST_PATH and not _fast_path_logged:
        logger.info("CPU fast path (%s): %s", cpu_model(), ", ".join(
            "%s=%s" % kv for kv in sorted(FAST_PATH.items())))
        _fast_path_logged.append(True)
    return place


def seed_everything(seed):
    import numpy as np
    import paddle
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def prepare(config):
    """Threads, then paddle's device and seeds; returns the thread count."""
    threads = configure_threads(config)
    setup_device(config)
    seed_everything(config.get("runner.seed"))
    return threads


def load_module(config, key):
    """Import the reader named by ``key`` (importlib format, PaddleRec):
    ``a.b`` is ``a/b.py`` beside the config file or in the project."""
    import importlib
    import importlib.util
    name = config.get(key)
    if name in sys.modules:
        return sys.modules[name]
    relative = os.path.join(*name.split(".")) + ".py"
    for folder in (config["config_abs_dir"], ROOT):
        path = os.path.join(folder, relative)
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
    return importlib.import_module(name)  # an installed module
