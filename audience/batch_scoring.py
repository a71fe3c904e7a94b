"""Scoring a user table for several campaigns in one pass (form 2).

The network's forward (net.py) rebuilt for scoring only, in numpy, with the
same numbers to float tolerance but about half the arithmetic:

- the experts' first layer is linear in the user fields' embeddings, so a
  static field's part of it (and of the gates' user half) is a row of a
  projected table ``T_f @ W_f``; static fields with few ids are combined
  into one table (carrier x consumption x age x ... = 3 456 rows with the
  full data's vocabularies), so seven 64 x 512 products become two row
  gathers;
- the gates read ``[mean of the user fields, ad ids]``: the ad half is the
  same for every user of a campaign and is added once, as a bias;
- the multi-id fields' mean embeddings are sparse products (one CSR
  matrix per field, weights 1/length), whose structure depends on the user
  only and is built once per batch of users for every campaign.

What depends on the user only (reading the table rows, the sparse
structure, the combined-table indices, which rows each campaign skips) is
done once per chunk for all campaigns of the pass; each campaign then runs
its own weights over it. Batches of users run on every core at once
(:class:`_Workers`). The old per-campaign path (``DygraphModel.score``
over ``UserTable.inputs``) stays the reference the tests compare against
(tests/test_scoring_speed_path.py).
"""
import logging
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import sparse

from dataio import schema

logger = logging.getLogger("metaheac")

# combined static tables are kept at most this many rows (their projected
# rows are ~2.5 kB: a few MB a campaign, cache-resident)
COMBINED_ROWS = 4096
# a static field with more ids than this is embedded and multiplied like
# the multi-id fields (its projected table would not fit in the cache)
PROJECTED_ROWS = 65536
# users a campaign's network runs over at once (its activations stay in
# the cache); a table chunk (expand.chunk_rows) is cut into such batches
BATCH_ROWS = 4096
# campaigns scored in one pass over the table: each holds its multi-id
# tables and combined tables (about 100 MB with the full data's
# vocabularies) and its scores until the pass ends
CAMPAIGNS_PER_PASS = 10


class Layout:
    """Which user fields are projected (static fields, grouped into
    combined tables) and which are embedded and multiplied (``dense``),
    from the id maxima; the same for every campaign of a model."""

    def __init__(self, maxima):
        sizes = [m + 1 for m in maxima.static]
        self.groups = []     # lists of static field indices
        self.dense = []      # (user field index k, table position, ...)
        rows = None
        for i, size in enumerate(sizes):
            if size > PROJECTED_ROWS:
                self.dense.append(i)
                continue
            if rows is not None and rows * size <= COMBINED_ROWS:
                self.groups[-1].append(i)
                rows *= size
            else:
                self.groups.append([i])
                rows = size
        self.sizes = sizes
        # strides of each group's combined index (first field slowest)
        self.strides = []
        for g in self.groups:
            stride, out = 1, []
            for i in reversed(g):
                out.append(stride)
                stride *= sizes[i]
            self.strides.append(out[::-1])
        n_static = len(sizes)
        self.dense += [n_static + j for j in range(len(maxima.dynamic))]


class UserBatch:
    """The campaign-independent part of scoring a batch of table rows: the
    combined-table indices and each dense field's CSR matrix (weights
    1/length over its valid ids, as net.py's mean embedding)."""

    def __init__(self, layout, block, vocab):
        block = np.asarray(block)
        n = len(block)
        self.n = n
        w_s, w_d = schema.INPUT_WIDTHS[0], schema.INPUT_WIDTHS[1]
        static = block[:, :w_s].astype(np.int64)
        dynamic = block[:, w_s:w_s + w_d]
        lengths = block[:, w_s + w_d:].astype(np.int64)
        self.block = block
        self.combined = [
            (static[:, g] * np.asarray(strides, np.int64)).sum(axis=1)
            for g, strides in zip(layout.groups, layout.strides)]
        self.dense = []
        n_static = w_s
        for k in layout.dense:
            if k < n_static:
                matrix = sparse.csr_matrix(
                    (np.ones(n, np.float32), static[:, k],
                     np.arange(n + 1)), shape=(n, vocab[k]))
            else:
                j = k - n_static
                start = schema.DYNAMIC_OFFSETS[j]
                width = schema.DYNAMIC_LENGTHS[j]
                length = np.minimum(lengths[:, j], width)
                valid = np.arange(width)[None, :] < length[:, None]
                ids = dynamic[:, start:start + width][valid].astype(np.int64)
                weight = (1.0 / np.maximum(length, 1)).astype(np.float32)
                indptr = np.concatenate([[0], np.cumsum(length)])
                matrix = sparse.csr_matrix(
                    (np.repeat(weight, length), ids, indptr),
                    shape=(n, vocab[k]))
            self.dense.append(matrix)

    def inputs(self, rows, ad):
        """The four network inputs of some of the batch's rows (what
        ``UserTable.inputs`` gives), for the seeds' own model."""
        w_s, w_d = schema.INPUT_WIDTHS[0], schema.INPUT_WIDTHS[1]
        block = np.asarray(self.block[rows], np.int64)
        return [block[:, :w_s], block[:, w_s:w_s + w_d], block[:, w_s + w_d:],
                np.repeat(np.asarray(ad, np.int64)[None, :], len(block), 0)]


def _np(t):
    return np.asarray(t.numpy(), np.float32)


class CampaignNet:
    """One campaign's weights (a ``full_weights`` dict over the full
    tables, unpadded) rearranged for :meth:`scores`."""

    def __init__(self, net, weights, ad, layout):
        dim = net.embed_dim
        n_user = net.n_user_fields
        names = net.table_names()
        w1 = _np(weights["experts.0.weight"])[0]          # [14E, X*d0]
        b1 = _np(weights["experts.0.bias"])[0, :, 0]
        g_w = [_np(weights[g + ".0.weight"])[0] for g in GATES]  # [7E, h]
        g_b = [_np(weights[g + ".0.bias"])[0, :, 0] for g in GATES]
        ad = np.asarray(ad, np.int64)
        ad_emb = np.concatenate([
            _np(weights[names[n_user + k]])[ad[k]]
            for k in range(len(schema.AD_FIELDS))])
        # the gates' ad half and biases: one vector for the campaign
        gate_const = np.concatenate([w[dim:].T @ ad_emb + b
                                     for w, b in zip(g_w, g_b)])
        # the gates' user half reads the mean of the 14 fields' embeddings
        gate_user = np.concatenate([w[:dim] for w in g_w], 1) / n_user
        self.width1 = w1.shape[1]
        self.combined = []
        for gi, g in enumerate(layout.groups):
            table = None
            for i in g:
                proj = _np(weights[names[i]]) @ np.concatenate(
                    [w1[i * dim:(i + 1) * dim], gate_user], 1)
                table = proj if table is None else \
                    (table[:, None, :] + proj[None, :, :]).reshape(
                        -1, proj.shape[1])
            if gi == 0:
                table = table + np.concatenate([b1, gate_const])
            self.combined.append(np.ascontiguousarray(table, np.float32))
        if not layout.groups:   # no static field projected: biases alone
            self.bias = np.concatenate([b1, gate_const]).astype(np.float32)
        self.dense_tables = [_np(weights[names[k]]) for k in layout.dense]
        self.w1_dense = np.ascontiguousarray(np.concatenate(
            [w1[k * dim:(k + 1) * dim] for k in layout.dense]), np.float32)
        self.gate_user = np.ascontiguousarray(gate_user, np.float32)
        self.g2 = [(_np(weights[g + ".2.weight"])[0],
                    _np(weights[g + ".2.bias"])[0, :, 0]) for g in GATES]
        self.layers = [(_np(weights["experts.%d.weight" % i])[0],
                        _np(weights["experts.%d.bias" % i])[0, :, :, 0])
                       for i in range(1, len(net.mlp_dims))]
        self.n_exp, self.d0 = net.num_expert, net.mlp_dims[0]
        self.hidden = g_w[0].shape[1]
        self.critic_w = _np(weights["critics.weight"])[0]
        self.critic_b = _np(weights["critics.bias"])[0, :, 0]

    def scores(self, users):
        """Scores [N] of a :class:`UserBatch`, as net.forward_packed."""
        n = users.n
        if self.combined:
            pre = np.take(self.combined[0], users.combined[0], axis=0)
            for table, idx in zip(self.combined[1:], users.combined[1:]):
                pre += np.take(table, idx, axis=0)
        else:
            pre = np.repeat(self.bias[None, :], n, 0)
        dim = self.dense_tables[0].shape[1] if self.dense_tables else 0
        emb = np.empty((n, dim * len(self.dense_tables)), np.float32)
        for k, (matrix, table) in enumerate(zip(users.dense,
                                                self.dense_tables)):
            emb[:, k * dim:(k + 1) * dim] = matrix @ table
        h = emb @ self.w1_dense
        h += pre[:, :self.width1]
        np.maximum(h, 0, out=h)
        # the gates' user half: the dense fields' embeddings summed
        emb_sum = emb.reshape(n, -1, dim).sum(axis=1) if dim else 0.0
        gh = pre[:, self.width1:]
        if dim:
            gh = gh + emb_sum @ self.gate_user
        np.maximum(gh, 0, out=gh)
        gates = [_softmax(gh[:, i * self.hidden:(i + 1) * self.hidden] @ w + b)
                 for i, (w, b) in enumerate(self.g2)]
        h = h.reshape(n, self.n_exp, self.d0).transpose(1, 0, 2)
        for w, b in self.layers:
            h = np.matmul(h, w) + b[:, None, :]
            np.maximum(h, 0, out=h)
        fea = np.einsum("enj,ne->nj", h, gates[0], optimize=False)
        critic = fea @ self.critic_w + self.critic_b
        critic = 1.0 / (1.0 + np.exp(-critic))
        return (gates[1] * critic).sum(axis=1).astype(np.float32)


GATES = ("attention_layer", "output_attention_layer")


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def vocab_sizes(maxima):
    return [m + 1 for m in list(maxima.static) + list(maxima.dynamic)]


@dataclass
class TableJob:
    """One fitted campaign to score: its candidate pool (table rows), the
    rows to leave out (``skip``: seeds and exclusions; sorted), its
    weights for scoring and its ad."""
    aid: int
    pool: Optional[np.ndarray]      # None: every row of the table
    skip: np.ndarray
    net: CampaignNet
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
    layout = Layout(maxima)
    vocab = vocab_sizes(maxima)
    out = {}
    for jobs_of_pool in pool_groups(jobs):
        for job, result in zip(jobs_of_pool, _one_pass(
                table, jobs_of_pool, layout, vocab, config, group)):
            out[id(job)] = result
    return [out[id(job)] for job in jobs]


def _one_pass(table, jobs, layout, vocab, config, group):
    start = time.time()
    pool = jobs[0].pool
    if pool is not None and len(pool) == len(table) and (
            len(pool) == 0 or (pool[0] == 0 and pool[-1] == len(table) - 1)):
        pool = None   # sorted distinct rows: the whole table, read in slices
    total = len(table) if pool is None else len(pool)
    chunk_rows = config.get("expand.chunk_rows")
    starts = list(range(0, total, chunk_rows))
    mine = []
    with _Workers() as workers:
        _chunks(table, jobs, layout, vocab, pool, total, chunk_rows, starts,
                group, workers, mine)
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


def _chunks(table, jobs, layout, vocab, pool, total, chunk_rows, starts,
            group, workers, mine):
    """Score this rank's chunks of the table for every job, appending
    ``(chunk, kept rows, scores)`` to ``mine``."""
    for i in group.share(len(starts)):
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
            users = UserBatch(layout, block[b:b + BATCH_ROWS], vocab)
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
        if len(mine) % 16 == 0:
            logger.info("campaigns %s: scored %d of %d users",
                        ",".join(str(j.aid) for j in jobs),
                        min(total, (i + 1) * chunk_rows), total)


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
