"""Scoring a user table for several campaigns in one pass (form 2).

Each campaign is scored by the network's scoring mode (``net.py``:
``MetaHeac.scoring``, the forward rearranged in numpy for this scan). This
module is the pass around it: what depends on the user only (reading the
table rows, ``ScoringUsers``: the multi-id fields' sparse structure, the
combined-table indices; which rows each campaign skips) is done once per
chunk for all campaigns of the pass; each campaign then runs its own
weights over it. Batches of users run on every core at once
(:class:`_Workers`). The per-campaign path (``DygraphModel.score`` over
``UserTable.inputs``) stays the reference the tests compare against
(tests/test_scoring_speed_path.py).
"""
import logging
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from dataio import schema
from net import CampaignScorer, ScoringLayout
from runkit.progress import Progress

logger = logging.getLogger("metaheac")

# users a campaign's network runs over at once (its activations stay in
# the cache); a table chunk (expand.chunk_rows) is cut into such batches
BATCH_ROWS = 4096
# campaigns scored in one pass over the table: each holds its multi-id
# tables and combined tables (about 100 MB with the full data's
# vocabularies) and its scores until the pass ends
CAMPAIGNS_PER_PASS = 10


@dataclass
class TableJob:
    """One fitted campaign to score: its candidate pool (table rows), the
    rows to leave out (``skip``: seeds and exclusions; sorted), its
    weights for scoring and its ad."""
    aid: int
    pool: Optional[np.ndarray]      # None: every row of the table
    skip: np.ndarray
    net: CampaignScorer     # the campaign's network, in its scoring mode
    ad: np.ndarray
    # adaptation.campaign_model.CampaignModel whose blend gives the scores
    # (None: the network's scores are the campaign's)
    blended: object = None


def _same_pool(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a is b or (len(a) == len(b) and np.array_equal(a, b))


def pool_groups(jobs):
    """Jobs grouped by candidate pool (one pass over the table each), in
    the order of their first job."""
    groups = []
    for job in jobs:
        for g in groups:
            if _same_pool(g[0].pool, job.pool):
                g.append(job)
                break
        else:
            groups.append([job])
    return groups


def score_jobs(table, jobs, maxima, config, group=None):
    """``(kept rows, scores)`` of every job (its campaign model's blend
    applied: ``TableJob.blended``),
    in order: one pass over the table for the jobs sharing a candidate
    pool. In a collective run (``group``) each rank scores every size-th
    chunk and the chunks are gathered in table order, so every rank holds
    every score."""
    from runkit.distributed import ALONE
    group = group or ALONE
    layout = ScoringLayout(maxima)
    out = {}
    for jobs_of_pool in pool_groups(jobs):
        for job, result in zip(jobs_of_pool, _one_pass(
                table, jobs_of_pool, layout, config, group)):
            out[id(job)] = result
    return [out[id(job)] for job in jobs]


def _one_pass(table, jobs, layout, config, group):
    start = time.time()
    pool = jobs[0].pool
    if pool is not None and len(pool) == len(table) and (
            len(pool) == 0 or (pool[0] == 0 and pool[-1] == len(table) - 1)):
        pool = None   # sorted distinct rows: the whole table, read in slices
    total = len(table) if pool is None else len(pool)
    chunk_rows = config.get("expand.chunk_rows")
    starts = list(range(0, total, chunk_rows))
    mine = []
    share = group.share(len(starts))
    progress = Progress(len(share), "campaigns %s: scoring%s" % (
        ",".join(str(j.aid) for j in jobs),
        " (this process's share)" if group.active else ""),
        "blocks of %d users" % chunk_rows)
    with _Workers() as workers:
        _chunks(table, jobs, layout, pool, chunk_rows, starts, share,
                workers, mine, progress)
    done = sorted(sum(group.gather(mine), []), key=lambda item: item[0])
    results = []
    for j, job in enumerate(jobs):
        kept = np.concatenate([d[1][j] for d in done]) if done \
            else np.zeros(0, np.int64)
        net = np.concatenate([d[2][j] for d in done]) if done \
            else np.zeros(0, np.float32)
        results.append((kept, net))
    logger.info("campaigns %s: %d users scored in one pass, %.1f s",
                ",".join(str(j.aid) for j in jobs), total, time.time() - start)
    return results


def _chunks(table, jobs, layout, pool, chunk_rows, starts, share,
            workers, mine, progress):
    """Score this rank's chunks of the table (``share``: their indices in
    ``starts``) for every job, appending ``(chunk, kept rows, scores)`` to
    ``mine``; ``progress`` (runkit/progress.py) counts them."""
    total = len(table) if pool is None else len(pool)
    for i in share:
        lo = starts[i]
        rows = np.arange(lo, min(lo + chunk_rows, total)) if pool is None \
            else pool[lo:lo + chunk_rows]
        block = table.features[rows] if pool is not None else \
            table.features[lo:lo + len(rows)]
        kept = [rows[~_in_sorted(rows, job.skip)] for job in jobs]
        keep_at = [np.flatnonzero(~_in_sorted(rows, job.skip))
                   for job in jobs]
        net = [[] for _ in jobs]

        def score_batch(b):
            """Each job's scores of the batch's kept users, blended in
            the worker (the regression is numpy work too)."""
            part = block[b:b + BATCH_ROWS]
            # a table row holds the user slots side by side
            users = layout.users([part[:, s]
                                  for s in schema.INPUT_SLICES[:3]])
            out = []
            for j, job in enumerate(jobs):
                at = keep_at[j]
                at = at[(at >= b) & (at < b + BATCH_ROWS)] - b
                scores = job.net.scores(users)[at]
                out.append(scores if job.blended is None else
                           job.blended.score(scores, users.inputs(at, job.ad)))
            return out
        batches = range(0, len(rows), BATCH_ROWS)
        for scores in workers.map(score_batch, batches):
            for j in range(len(jobs)):
                net[j].append(scores[j])
        mine.append((i, kept, [_cat(s) for s in net]))
        progress.step()


class _Workers:
    """Batches of users scored side by side, one per core, each with one
    BLAS thread: numpy and scipy release the GIL in their loops, so the
    gathers and elementwise work, single-threaded otherwise, run on every
    core too, and a multi-threaded BLAS on a shared machine spins
    waiting for its threads (2.6x slower with the machine loaded)."""

    def __init__(self):
        import os
        from runkit.runtime import available_cores
        # runkit.runtime.configure_threads sets the run's thread count there
        cores = int(os.environ.get("OMP_NUM_THREADS") or available_cores())
        self.size = cores
        self.pool = self.limits = None

    def __enter__(self):
        from threadpoolctl import threadpool_limits
        self.limits = threadpool_limits(1, user_api="blas")
        if self.size > 1:
            from concurrent.futures import ThreadPoolExecutor
            self.pool = ThreadPoolExecutor(self.size)
        return self

    def map(self, fn, items):
        return list(self.pool.map(fn, items)) if self.pool else \
            [fn(item) for item in items]

    def __exit__(self, *exc):
        if self.pool:
            self.pool.shutdown()
        self.limits.restore_original_limits()


def _cat(parts):
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _in_sorted(rows, skip):
    """Which of ``rows`` are in the sorted array ``skip``."""
    if len(skip) == 0:
        return np.zeros(len(rows), bool)
    at = np.minimum(np.searchsorted(skip, rows), len(skip) - 1)
    return skip[at] == rows
