"""A campaign's fine-tuning set: its seeds, and, when they hold no negative
(the usual upload of converters: only positives, or no label at all),
negatives drawn at random from other users. The one place for that rule:
both forms of tools/expand.py (audience/expansion.py) and tools/export.py
ask here whether negatives must be drawn, draw them, and get the same
error when there is nobody to draw them from.

Valued seeds (a ``value`` per seed) weight each row's loss
(:func:`seed_weights`).
"""
import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

logger = logging.getLogger("metaheac")

OUTSIDE = "users of the table outside the candidates"
CANDIDATES = "the candidates (still scored and ranked)"
SCORES_NOTE = (
    "negatives were drawn at random for seeds without any: the campaign "
    "model (the fine-tuned network, with the seed blend the seeds' "
    "regression too) is fitted to the drawn ratio of positives to "
    "negatives (expand.negative_ratio), not to the population's base rate, "
    "so a score is not a conversion probability; ranks are what matter")
VALUED = ("a positive seed's loss weighs its value over the positive "
          "seeds' mean value; negatives weigh 1")


@dataclass
class TrainingSet:
    x: list                    # the four input arrays: seeds, then drawn
    y: np.ndarray              # their labels (float32)
    weight: Optional[np.ndarray]   # loss weights (valued seeds), or None
    drawn: np.ndarray          # the drawn negatives, as positions in the pool
    source: Optional[str] = None   # where they were drawn from

    def record(self):
        """What a summary (and export.json) says of the drawn negatives
        (where from, how to read the scores) and of valued seeds; nothing
        when neither."""
        record = {} if self.weight is None else {"seed_weights": VALUED}
        if len(self.drawn):
            record.update({"negatives_from": self.source,
                           "scores_note": SCORES_NOTE})
        return record


def check_pool(campaign, pool, hint):
    """A campaign whose seeds need drawn negatives but has no user
    (``pool`` of them) to draw them from is an error, before any
    fine-tuning: trained on positives only, every score would rise and no
    ranking be learnt. ``hint`` says how to give it some."""
    if campaign.needs_negatives and not pool:
        raise ValueError("campaign %d: its seeds hold no negative and there "
                         "is no user to draw negatives from: %s" %
                         (campaign.aid, hint))


NO_CANDIDATE_LEFT = ("every candidate is one of its seeds or excluded; give "
                     "it other candidates")


def of_pool(pool, candidates, config, rng):
    """A campaign's fine-tuning set, one rule for both candidate pools
    (audience/pools.py): its seeds and, for seeds without a negative,
    ``expand.negative_ratio`` drawn negatives per seed, from the pool's
    users outside the campaign's candidates (a user table, ``--candidates``
    naming fewer users) when there are enough of them, else from the
    ``candidates`` (seeds and exclusions out), who stay candidates: either
    way no candidate is lost."""
    campaign = candidates.campaign
    ratio = config.get("expand.negative_ratio")
    source, rows, cap = CANDIDATES, candidates.rows, True
    if campaign.needs_negatives:
        outside = pool.outside(candidates, int(round(ratio * campaign.seeds)))
        if outside is not None:
            source, rows, cap = OUTSIDE, outside, False
    return training_set(campaign, pool.seed_inputs(campaign), ratio, rng,
                        rows, pool.inputs(candidates), cap, source)


def training_set(campaign, seed_x, ratio, rng, pool, inputs, cap=True,
                 source=CANDIDATES):
    """The seeds ``seed_x`` of ``campaign`` (labels ``campaign.seed_y``)
    and, when ``campaign.needs_negatives``, ``ratio`` negatives per seed
    drawn from ``pool`` (sorted positions; ``inputs(rows)`` gives their
    input arrays), at most half of it when ``cap`` (``pool`` being the
    candidates ranked: they stay candidates, so a true look-alike drawn
    as a negative can still be chosen: measured in docs, it ranks lower
    than it would, but removing it lost it for sure)."""
    y = campaign.seed_y
    if not campaign.needs_negatives:
        y = y.astype(np.float32)
        return TrainingSet(seed_x, y, seed_weights(y, campaign.seed_value),
                           np.zeros(0, np.int64))
    check_pool(campaign, len(pool), NO_CANDIDATE_LEFT)
    positives = campaign.seeds
    # pool is sorted, so the drawn rows are too
    drawn = pool[draw_negatives(campaign.aid, positives, len(pool), ratio,
                                rng, cap)]
    x = [np.concatenate([a, b]) for a, b in zip(seed_x, inputs(drawn))]
    y = np.concatenate([np.ones(positives, np.float32),
                        np.zeros(len(drawn), np.float32)])
    weight = seed_weights(y, campaign.seed_value)   # may skip the campaign
    if len(drawn):
        logger.info("campaign %s: seeds hold no negative; drew %d negatives "
                    "from %s (%d users)", campaign.aid, len(drawn), source,
                    len(pool))
    return TrainingSet(x, y, weight, drawn, source)


def draw_negatives(aid, positives, pool, ratio, rng, cap=True):
    """Sorted positions of ``ratio`` negatives per positive seed among
    ``pool`` users, at most half of them (with a warning) when they are
    the candidates being ranked (``cap``)."""
    want = int(round(ratio * positives))
    if not cap:
        want = min(want, pool)
    elif want > pool // 2:
        logger.warning("campaign %s: %d negatives wanted (negative_ratio %g) "
                       "but only %d candidates; drawing %d", aid, want, ratio,
                       pool, pool // 2)
        want = pool // 2
    return np.sort(rng.choice(pool, size=want, replace=False)) if want else \
        np.zeros(0, np.int64)


def seed_weights(y, value):
    """Each fine-tuning row's loss weight (valued seeds), or None without
    values (the unweighted loss, bit for bit). ``value`` holds the seeds'
    values, the first rows of ``y`` (drawn negatives follow). A positive
    weighs its value over the positives' mean value; every negative,
    labelled or drawn, weighs 1, as if valued at that mean: the values
    move weight among the positives, never between the classes, so
    ``expand.negative_ratio`` and the learning rate keep their meaning
    whatever unit the values are in (order value in cents or in dollars
    weighs the same)."""
    if value is None:
        return None
    y = np.asarray(y)
    weight = np.ones(len(y), np.float32)
    seeds = np.arange(len(value))
    positive = seeds[y[seeds] == 1]
    if len(positive):
        mine = np.asarray(value[positive], np.float64)
        top = float(mine.max())
        if top <= 0:
            raise ValueError("every positive seed has value 0: nothing to "
                             "fine-tune on; give the seeds positive values, "
                             "or drop the value column")
        # values near the float64 maximum (1e308) sum to infinity, and
        # every weight would be 0: scaled first by the power of two that
        # brings the largest below 1, so the sum cannot overflow, and
        # exactly (a power of two), so the weights of ordinary values are
        # bit for bit what they were without it
        mine = np.ldexp(mine, -np.frexp(top)[1])
        weight[positive] = mine / np.mean(mine)
    return weight
