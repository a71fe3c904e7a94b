"""Meta-training reader: meta-batches of ``task_count`` campaigns.

Each item is ``[x_spt, y_spt, x_qry, y_qry]``: ``x_spt`` the four input
arrays of every task's support rows stacked (task t's are rows
``t*batch_size .. (t+1)*batch_size - 1``), ``y_spt`` their labels as
``[task_count, batch_size]``; the query set likewise. Campaigns are drawn by ``hyper_parameters.sample_method``:
``normal`` (probability proportional to the campaign's rows, the paper's
default), ``sqrt`` (to the square root) or ``unit`` (uniform). The data are
read once, into arrays; a meta-batch then costs a few index draws, whatever
the file size.

By default a task's support and query sets are drawn independently (the
paper's code: each is ``batch_size`` rows of the campaign), so a row can be
in both. With ``hyper_parameters.disjoint_query`` no row is: a campaign
with at least ``2 * batch_size`` rows gives ``2 * batch_size`` distinct rows,
the first half the support set; a smaller one is shuffled and split in two
halves, and each set is drawn from its half with replacement. A campaign of
one row cannot be split: both sets are that row (with a warning).

Under a collective run (``share=(rank, size)``), every rank draws the same
meta-batch of ``size * task_count`` campaigns from the one stream seeded by
``runner.seed``, in the order a single process with that many tasks would,
and keeps tasks ``rank*task_count .. (rank+1)*task_count - 1``; it reads the
rows of those only. So N ranks of ``task_count`` t train exactly what one
process of N*t tasks trains, every rank agrees on the epoch length, and the
stream's state (saved for resume) is the same on every rank.

Meta-validation (``tuning.share`` > 0) holds some campaigns out of
meta-training (``validation``, positions in ``index.aids`` order): they are
never drawn, and an epoch is ceil(training rows / batch_size) meta-batches
of the others (dataio/holdout.py says which campaigns).
"""
import logging

import numpy as np
from paddle.io import IterableDataset

from dataio.campaigns import CampaignIndex
from dataio.stage_files import DataError, read_stages
from dataio.holdout import held_out_campaigns

logger = logging.getLogger(__name__)


def task_probabilities(counts, method):
    counts = np.asarray(counts, dtype=np.float64)
    if method == "normal":
        weights = counts
    elif method == "sqrt":
        weights = np.sqrt(counts)
    elif method == "unit":
        weights = (counts > 0).astype(np.float64)   # held-out: 0
    else:
        raise ValueError("hyper_parameters.sample_method must be normal, "
                         "sqrt or unit, got %r" % (method, ))
    return weights / weights.sum()


class RecDataset(IterableDataset):
    def __init__(self, file_list, config, stage=None, share=(0, 1)):
        super().__init__()
        self.config = config
        self.task_count = config.get("hyper_parameters.task_count")
        self.rank, self.ranks = share
        self.drawn_tasks = self.task_count * self.ranks
        self.batch_size = config.get("hyper_parameters.batch_size")
        if not isinstance(self.batch_size, int):
            # the trainer chooses it from the training rows first
            raise ValueError(
                "hyper_parameters.batch_size is %r: the trainer resolves auto "
                "from the training rows (tuning.meta_settings) before the "
                "reader starts; a reader used on its own needs a number "
                "(-o hyper_parameters.batch_size=64)" % (self.batch_size, ))
        self.disjoint = config.get("hyper_parameters.disjoint_query")
        if stage is None:
            if not file_list:
                raise DataError("no training file given (runner.train_data_dir)")
            stage = read_stages(file_list, config)
        if len(stage) == 0:
            raise DataError("%s holds no rows" % stage.path)
        self.stage = stage
        self.index = CampaignIndex(stage.aid)
        self.validation = held_out_campaigns(self.index, stage.labels(),
                                             config)
        counts = self.index.counts.copy()
        counts[self.validation] = 0
        self.trained = int(np.count_nonzero(counts))
        self.prob = task_probabilities(
            counts, config.get("hyper_parameters.sample_method"))
        self.n_batch = int(np.ceil(counts.sum() / self.batch_size))
        self.rng = np.random.default_rng(config.get("runner.seed"))
        self._warn_small_campaigns()
        if self.trained < self.drawn_tasks:
            logger.warning(
                "only %d campaigns for task_count %d%s: a meta-batch repeats "
                "campaigns", self.trained, self.task_count,
                "" if self.ranks == 1 else " x %d processes" % self.ranks)

    def _warn_small_campaigns(self):
        aids, counts = self.index.aids, self.index.counts
        # a set needs batch_size rows of its own: with disjoint sets a
        # campaign must hold two of them to be drawn without replacement
        enough = 2 * self.batch_size if self.disjoint else self.batch_size
        small = aids[counts < enough]
        if len(small):
            logger.warning(
                "%d of %d campaigns have fewer rows than %sbatch_size %d "
                "(e.g. aid %s); their support and query sets are drawn with "
                "replacement%s", len(small), len(aids),
                "2 x " if self.disjoint else "", self.batch_size,
                ", ".join(str(a) for a in small[:5]),
                ", each from its own half of the rows" if self.disjoint
                else "")
        single = aids[counts < 2]
        if self.disjoint and len(single):
            logger.warning(
                "%d campaigns have a single row (e.g. aid %s): "
                "hyper_parameters.disjoint_query cannot split it, so their "
                "support and query sets are both that row", len(single),
                ", ".join(str(a) for a in single[:5]))

    def __len__(self):
        return self.n_batch

    def sample_tasks(self):
        return self.rng.choice(len(self.index.aids), size=self.drawn_tasks,
                               replace=self.trained < self.drawn_tasks,
                               p=self.prob)

    def sample_rows(self, k):
        count = self.index.counts[k]
        picks = self.rng.choice(count, size=self.batch_size,
                                replace=count < self.batch_size)
        return self.index.order[self.index.starts[k] + picks]

    def disjoint_rows(self, k):
        """Support and query rows of campaign ``k`` that share no row."""
        count, size = self.index.counts[k], self.batch_size
        if count >= 2 * size:
            picks = self.rng.choice(count, size=2 * size, replace=False)
            support, query = picks[:size], picks[size:]
        elif count >= 2:
            halves = np.split(self.rng.permutation(count), [count // 2])
            support, query = (self.rng.choice(h, size=size) for h in halves)
        else:
            support = query = np.zeros(size, dtype=np.int64)
        rows = self.index.rows(k)
        return rows[support], rows[query]

    def task_rows(self, k):
        if self.disjoint:
            return self.disjoint_rows(k)
        return self.sample_rows(k), self.sample_rows(k)

    def meta_batch(self):
        # drawn in the order support, query of task 0, then of task 1, ...
        rows = np.stack([self.task_rows(k)
                         for k in self.sample_tasks()])  # [T, 2, B]
        mine = slice(self.rank * self.task_count,
                     (self.rank + 1) * self.task_count)
        rows = rows[mine]
        batch = []
        for part in (rows[:, 0], rows[:, 1]):
            batch += [self.stage.inputs(part.ravel()),
                      self.stage.labels(part.ravel()).reshape(part.shape)]
        return batch

    def __iter__(self):
        for _ in range(self.n_batch):
            yield self.meta_batch()
