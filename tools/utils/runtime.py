"""Process set-up shared by the tools: logging, threads, device, seeds.

``configure_threads`` must run before paddle is imported: Paddle's CPU
kernels read ``OMP_NUM_THREADS`` once, at start-up, and default to one thread.
"""
import logging
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

logger = logging.getLogger("metaheac")


def setup_logging():
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(message)s",
                        level=logging.INFO, stream=sys.stdout)


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configure_threads(config):
    """Use ``runner.num_threads`` CPU threads (0: every core we are given)."""
    wanted = config.get("runner.num_threads") or available_cores()
    if "OMP_NUM_THREADS" in os.environ and not config.get("runner.num_threads"):
        wanted = int(os.environ["OMP_NUM_THREADS"])
    os.environ["OMP_NUM_THREADS"] = str(wanted)
    os.environ.setdefault("MKL_NUM_THREADS", str(wanted))
    return wanted


def setup_device(config):
    import paddle
    use_gpu = config.get("runner.use_gpu")
    if use_gpu and not paddle.is_compiled_with_cuda():
        logger.warning("runner.use_gpu is True but this Paddle has no CUDA "
                       "support: running on CPU")
        use_gpu = False
    place = paddle.set_device("gpu" if use_gpu else "cpu")
    if not use_gpu:
        paddle.base.core.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
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
    """Import the reader named by ``key`` (importlib format, PaddleRec)."""
    import importlib
    for folder in (ROOT, config["config_abs_dir"]):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    return importlib.import_module(config.get(key))
