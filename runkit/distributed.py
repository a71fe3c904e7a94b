"""Several processes with Paddle's collective runtime.

Started by ``python -m paddle.distributed.launch --nproc_per_node N tool.py
... -o runner.use_fleet=True`` (gloo on CPUs, NCCL on GPUs; across machines
with ``--master IP:PORT --nnodes M``). The launcher tells every process its
rank in the environment; nothing here imports paddle.distributed unless the
run really has several processes, so a single process pays nothing.

What the tools share through this module:
- ``start``: join the group (or refuse a launch whose config does not say
  ``runner.use_fleet``: N processes writing one checkpoint folder each on
  their own would clobber each other);
- ``average_gradients``: the mean of every rank's gradient, by hand
  (all_reduce SUM then scale: ``ReduceOp.AVG`` needs NCCL >= 2.10, and the
  meta step calls the network's functional forward directly, which
  ``paddle.DataParallel`` would not see);
- ``same_weights``: every rank starts from rank 0's weights, and a check
  that they really are equal;
- ``share``: which items (campaigns, chunks) are this rank's;
- ``gather``: per-rank Python results collected on every rank (pickled
  between the group's own processes, which trust each other; data files
  never go through it).
"""
import logging
import os

logger = logging.getLogger("metaheac")


class PeerLost(Exception):
    """A collective operation failed: another process of the run stopped
    (or cannot be reached). Gloo notices a closed connection within
    seconds, so the survivors stop instead of waiting forever."""


def _collective(group, what, operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1][:200] if str(exc) else ""
        raise PeerLost(
            "rank %d of %d: %s failed, so another process of the run has "
            "stopped or cannot be reached (%s); the launcher's --log_dir "
            "(workerlog.<rank>) says why it stopped" % (
                group.rank, group.size, what, detail)) from None


class Group:
    """This process's place in the run: ``rank`` of ``size`` (1 alone)."""

    def __init__(self, rank=0, size=1, local_size=1):
        self.rank = rank
        self.size = size
        self.local_size = local_size

    @property
    def active(self):
        return self.size > 1

    @property
    def leader(self):
        """Rank 0: the one that logs, writes checkpoints and results."""
        return self.rank == 0

    def share(self, n):
        """Indices 0..n-1 of the items this rank handles (round robin, so
        ranks get near-equal shares of a sorted list)."""
        return list(range(self.rank, n, self.size))

    def barrier(self):
        if self.active:
            import paddle.distributed as dist
            _collective(self, "a barrier", dist.barrier)

    def gather(self, obj):
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.active:
            return [obj]
        import paddle.distributed as dist
        out = []
        _collective(self, "gathering results", dist.all_gather_object, out,
                    obj)
        return out

    def average_gradients(self, parameters):
        """Replace each gradient by its mean over the ranks."""
        if not self.active:
            return
        import paddle
        import paddle.distributed as dist
        with paddle.no_grad():
            for p in parameters:
                if p.grad is None:
                    continue
                _collective(self, "averaging gradients", dist.all_reduce,
                            p.grad)  # SUM
                p.grad.scale_(1.0 / self.size)

    def mean(self, value):
        """The mean over the ranks of a float (e.g. a loss to log)."""
        if not self.active:
            return value
        return sum(self.gather(float(value))) / self.size

    def same_weights(self, model):
        """Broadcast rank 0's weights, then check that every rank holds
        them: the same seed gives the same initialisation, and a rank that
        loaded something else must not train silently apart."""
        if not self.active:
            return
        import numpy as np
        import paddle
        import paddle.distributed as dist
        with paddle.no_grad():
            for p in model.parameters():
                _collective(self, "the broadcast of rank 0's weights",
                            dist.broadcast, p, src=0)
        total = float(sum(np.abs(p.numpy()).sum(dtype=np.float64)
                          for p in model.parameters()))
        sums = self.gather(total)
        if any(s != sums[0] for s in sums):
            raise RuntimeError("the ranks' weights differ after the broadcast "
                               "from rank 0 (weight sums %s)" % sums)


ALONE = Group()


def environment():
    """``(rank, size, local_size)`` as the launcher set them (0, 1, 1 when
    not launched)."""
    env = os.environ
    size = int(env.get("PADDLE_TRAINERS_NUM", env.get("PADDLE_GLOBAL_SIZE",
                                                      "1")))
    rank = int(env.get("PADDLE_TRAINER_ID", env.get("PADDLE_GLOBAL_RANK", "0")))
    local = int(env.get("PADDLE_LOCAL_SIZE", str(size)))
    return rank, size, max(local, 1)


def start(config, job="train"):
    """Join the launcher's group if the run has several processes.
    ``job`` names what a process would do alone, for the refusal."""
    rank, size, local = environment()
    if size <= 1:
        if config.get("runner.use_fleet"):
            logger.info("runner.use_fleet is set but this is a single "
                        "process (start it with python -m "
                        "paddle.distributed.launch --nproc_per_node N ...)")
        return ALONE
    if not config.get("runner.use_fleet"):
        raise ValueError(
            "started by paddle.distributed.launch as rank %d of %d, but "
            "runner.use_fleet is False: add -o runner.use_fleet=True (without "
            "it every process would %s)" % (rank, size, {
                "train": "train alone and write the same checkpoint folder",
                "meta-test": "meta-test every campaign alone and write the "
                             "same result file",
                "expand": "expand every campaign alone and write the same "
                          "output folder"}[job]))
    if config.get("hyper_parameters.optimizer.lazy_mode"):
        raise ValueError(
            "hyper_parameters.optimizer.lazy_mode gives row-sparse gradients, "
            "which this project does not average across processes: turn it "
            "off with -o hyper_parameters.optimizer.lazy_mode=False to train "
            "with runner.use_fleet")
    import paddle.distributed as dist
    dist.init_parallel_env()
    group = Group(dist.get_rank(), dist.get_world_size(), local)
    from runkit import runtime
    runtime.STATUS["collective"] = (group.rank, group.size)   # stop messages
    if group.leader:
        logger.info("collective run: %d processes (%d on this machine), "
                    "backend %s", group.size, local,
                    "nccl" if config.get("runner.use_gpu") else "gloo")
    return group
