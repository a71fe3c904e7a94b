"""The candidates of a campaign, as the expansion pipeline sees them
(audience/expansion.py): a pool of users it takes a campaign's seeds and
exclusions out of, draws negatives from, fits the campaign model against
and scores.

- :class:`ArrayPool` (form 1, feature rows): each campaign brings its
  candidates as input arrays (``dataio.campaign.Campaign``). The network
  is fine-tuned with their ids localised and scores them from its local
  tables (``DygraphModel.score``), one campaign at a time.
- :class:`TablePool` (form 2, a user table): the candidates are rows of a
  table shared by every campaign (``dataio.campaign.TableCampaign``). The
  fine-tuned rows are written into the full tables, and several campaigns
  are scored in one pass over the table (audience/batch_scoring.py),
  every rank of a collective run scoring its share of the chunks.

Both answer the same calls, so the pipeline does not branch on the form:
``candidates`` (seeds and exclusions out), ``outside`` (users to draw
negatives from who are not candidates), ``seed_inputs``, ``inputs``,
``fit`` and ``score``.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from audience.exclusions import (EVERY_CANDIDATE_EXCLUDED, member,
                                 sorted_ids, union_sorted)


@dataclass
class Candidates:
    """A campaign's candidates once its seeds and ``--exclude`` are out:
    ``rows`` (sorted positions in the pool: those negatives are drawn
    among) and the counts the summary gives."""
    campaign: object        # the campaign, form 1 with only these candidates
    rows: np.ndarray
    seeds_removed: int
    excluded: int
    skip: Optional[np.ndarray] = None   # form 2: table rows never scored
    pool: Optional[np.ndarray] = None   # form 2: the campaign's table rows


@dataclass
class Fit:
    """A campaign fitted and waiting to be scored."""
    candidates: Candidates
    train: object           # audience.training_set.TrainingSet
    model: object           # adaptation.campaign_model.CampaignModel
    record: dict            # what the summary says of the fit
    counts: dict            # the summary's counts
    start: float
    # what ``pool.score`` needs of it: the network's scores of the
    # candidates (ArrayPool), or a batch_scoring.TableJob (TablePool)
    scoring: object = None

    @property
    def aid(self):
        return self.candidates.campaign.aid


class ArrayPool:
    """Form 1: every campaign's candidates are its own feature rows. A
    collective run splits the campaigns across the ranks (``shared``
    False) and a pass scores one campaign."""
    shared = False
    per_pass = 1

    def count(self, campaign):
        return len(campaign.cand_uid)

    def candidates(self, campaign, excluded=None):
        """The campaign with its seeds (when their uids are one id space)
        and the ``excluded`` uids left out of its candidates."""
        is_seed = np.isin(campaign.cand_uid, campaign.seed_uid) \
            if campaign.exclude_seeds else \
            np.zeros(len(campaign.cand_uid), bool)
        seeds_removed = int(is_seed.sum())
        is_excluded = ~is_seed & member(campaign.cand_uid,
                                        sorted_ids(excluded)) \
            if excluded is not None else np.zeros(len(is_seed), bool)
        if is_excluded.any() and is_excluded.sum() + seeds_removed == \
                len(is_seed):
            raise ValueError(EVERY_CANDIDATE_EXCLUDED % is_excluded.sum())
        if seeds_removed or is_excluded.any():
            campaign = campaign.keep_candidates(
                np.flatnonzero(~is_seed & ~is_excluded))
        return Candidates(campaign, np.arange(len(campaign.cand_uid)),
                          seeds_removed, int(is_excluded.sum()))

    def outside(self, candidates, want):
        """Nobody: a campaign of feature rows knows its candidates only."""
        return None

    def seed_inputs(self, campaign):
        return campaign.seed_x

    def inputs(self, candidates):
        x = candidates.campaign.cand_x
        return lambda rows: [a[rows] for a in x]

    def fit(self, meta, candidates, train, config, rng):
        """The campaign model, fine-tuned with the candidates' ids
        localised, and the network's scores of them (``Fit.scoring``)."""
        from adaptation import campaign_model
        model_class, model, init_state = meta
        return campaign_model.fit(
            model_class, model, init_state, train.x, train.y,
            candidates.campaign.cand_x, config, rng, train.weight)

    def score(self, fits, config, group=None):
        """``(uids, scores, labels or None)`` of each fit's candidates."""
        return [(f.candidates.campaign.cand_uid,
                 f.model.score(f.scoring, f.candidates.campaign.cand_x),
                 f.candidates.campaign.cand_y) for f in fits]


class TablePool:
    """Form 2: the candidates are users of one table (every user, or a
    campaign's ``cand_rows``). Every rank fits every campaign (same
    seeded stream) and scores its share of the table's chunks
    (``shared``); a pass scores up to ``per_pass`` campaigns."""
    shared = True

    def __init__(self, table, maxima):
        self.table, self.maxima = table, maxima
        self._last_rows = None

    @property
    def per_pass(self):
        from audience.batch_scoring import CAMPAIGNS_PER_PASS
        return CAMPAIGNS_PER_PASS

    def count(self, campaign):
        return campaign.candidate_count(self.table)

    def candidates(self, campaign, excluded=None):
        """The campaign's table rows but its seeds and the ``excluded``
        uids' rows."""
        seeds = np.unique(campaign.seed_rows)
        pool = np.arange(len(self.table)) if campaign.cand_rows is None \
            else campaign.cand_rows
        in_pool = np.isin(pool, seeds, assume_unique=True)
        count = int(len(pool) - in_pool.sum())
        excluded_rows = self.rows_of(excluded)
        is_excluded = member(pool, excluded_rows) & ~in_pool
        left_out = int(is_excluded.sum())
        if left_out and left_out == count:
            raise ValueError(EVERY_CANDIDATE_EXCLUDED % left_out)
        # drawn negatives stay candidates: only seeds and exclusions skip
        return Candidates(campaign, pool[~in_pool & ~is_excluded],
                          int(in_pool.sum()), left_out,
                          skip=union_sorted(seeds, excluded_rows), pool=pool)

    def outside(self, candidates, want):
        """The sorted table rows that are neither candidates nor seeds nor
        excluded, when they hold at least ``want`` users (else None: draw
        among the candidates)."""
        return _outside(len(self.table), candidates.rows, candidates.skip,
                        want)

    def seed_inputs(self, campaign):
        return self.table.inputs(campaign.seed_rows, campaign.ad)

    def inputs(self, candidates):
        ad = candidates.campaign.ad
        return lambda rows: self.table.inputs(rows, ad)

    def rows_of(self, uids):
        """The table rows of ``uids`` (those the table holds), sorted. The
        campaigns without rows of their own share one array of the
        exclusion file (``Exclusions.of``): its rows are looked up once,
        not per campaign (millions of customer ids)."""
        if uids is None or not len(uids):
            return np.zeros(0, np.int64)
        if self._last_rows is not None and self._last_rows[0] is uids:
            return self._last_rows[1]
        rows = np.asarray(self.table.positions(np.asarray(uids, np.int64)))
        rows = np.unique(rows[rows >= 0])
        self._last_rows = (uids, rows)
        return rows

    def fit(self, meta, candidates, train, config, rng):
        """The campaign model, fine-tuned on the seeds' ids only, and its
        ``batch_scoring.TableJob`` (``Fit.scoring``): the fine-tuned rows
        written into copies of the full tables (rows no seed touched keep
        their meta-trained values, as in the localised form), laid out for
        the numpy forward."""
        import paddle
        from adaptation import campaign_model
        from audience import batch_scoring
        from audience.serving import full_weights
        model_class, model, init_state = meta
        no_candidates = [a[:0] for a in train.x]
        fitted, _ = campaign_model.fit(model_class, model, init_state,
                                       train.x, train.y, no_candidates,
                                       config, rng, train.weight)
        tuned, campaign = fitted.tuned, candidates.campaign
        with paddle.no_grad():
            weights = full_weights(model, init_state, tuned.packed,
                                   tuned.rows)
        return fitted, batch_scoring.TableJob(
            campaign.aid, candidates.pool, candidates.skip,
            model.scoring(campaign.ad, weights),
            campaign.ad, None if fitted.blend is None else fitted)

    def score(self, fits, config, group=None):
        """``(uids, scores, None)`` of each fit's candidates: one pass over
        the table for the fits sharing a candidate pool."""
        from audience.batch_scoring import score_jobs
        scored = score_jobs(self.table, [f.scoring for f in fits],
                            self.maxima, config, group)
        return [(np.asarray(self.table.uid[kept]), score, None)
                for kept, score in scored]


def _outside(users, candidates, seeds, want):
    """The sorted rows of ``users`` that are neither ``candidates`` nor
    ``seeds``, when they hold at least ``want`` users (else None: draw
    among the candidates)."""
    if users - len(candidates) - len(seeds) < max(want, 1):
        return None
    mask = np.ones(users, bool)
    mask[candidates] = False
    mask[seeds] = False
    outside = np.flatnonzero(mask)
    return outside if len(outside) >= max(want, 1) else None
