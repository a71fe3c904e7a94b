"""The campaign: one ad's seed users and the candidates to rank for it.

Every stage that handles a campaign uses these types: the meta-test's
reader (reader_test.py), meta-validation (tuning/search.py), expansion and
its seed diagnostics (audience/), and tools/export.py.

- :class:`Campaign` holds feature rows: the seeds' and the candidates'
  four input arrays (``seed_x``, ``cand_x``), their labels and their user
  ids. Where a source has no user ids, the uids are the rows' positions in
  their files (what the meta-test writes as ``uid`` in scores.csv); seeds
  and candidates are then not one id space (``exclude_seeds`` False).
- :class:`TableCampaign` (form 2 of tools/expand.py) holds rows of a user
  table instead of arrays: the seed rows, the ad's ids, the candidate rows.

Both name what they share alike (``aid``, ``seed_y``, ``seed_value``) and
answer the same questions (``seeds``, ``seed_positives``,
``needs_negatives``), so code that handles either asks, not branches.
"""
import dataclasses
from dataclasses import dataclass
from typing import List, Optional

import numpy as np


def take(x, rows):
    """The ``rows`` of the four input arrays ``x``."""
    return [a[rows] for a in x]


class _Seeds:
    """What both campaign types answer about their seeds."""

    @property
    def seed_positives(self):
        """Positive seeds: all of them when they carry no label."""
        return self.seeds if self.seed_y is None else int(np.sum(self.seed_y))

    @property
    def needs_negatives(self):
        """Seeds that hold no negative (only positives, or no label at all:
        the usual upload of converters) are trained against drawn
        negatives (audience/training_set.py)."""
        return self.seed_y is None or not (np.asarray(self.seed_y) == 0).any()


@dataclass
class Campaign(_Seeds):
    aid: int
    seed_x: List[np.ndarray]
    seed_uid: np.ndarray
    seed_y: Optional[np.ndarray]
    cand_x: List[np.ndarray]
    cand_uid: np.ndarray
    cand_y: Optional[np.ndarray] = None
    # False when seed and candidate uids are not the same id space
    exclude_seeds: bool = True
    # the seeds' values (>= 0, valued seeds), None: unweighted
    seed_value: Optional[np.ndarray] = None

    @property
    def seeds(self):
        return len(self.seed_uid)

    def candidate_count(self, table=None):
        return len(self.cand_uid)

    def keep_candidates(self, rows):
        """This campaign with only the candidates at positions ``rows``."""
        return dataclasses.replace(
            self, cand_x=take(self.cand_x, rows), cand_uid=self.cand_uid[rows],
            cand_y=None if self.cand_y is None else self.cand_y[rows])


def from_arrays(aid, x, y, seed_rows, cand_rows, uid=None):
    """The campaign whose seeds are ``seed_rows`` and candidates
    ``cand_rows`` of one set of rows (inputs ``x``, labels ``y``, user ids
    ``uid``; None: the row positions), e.g. a fold of a training set."""
    uid = np.arange(len(y)) if uid is None else uid
    return Campaign(int(aid), take(x, seed_rows), uid[seed_rows],
                    y[seed_rows], take(x, cand_rows), uid[cand_rows],
                    y[cand_rows])


def from_stages(aid, seeds, seed_rows, candidates, cand_rows):
    """The campaign of rows ``seed_rows`` of stage ``seeds`` and
    ``cand_rows`` of stage ``candidates`` (``dataio.stage_files``): the
    uids are the row positions, one id space only when both are one
    stage."""
    return Campaign(int(aid), seeds.inputs(seed_rows), np.asarray(seed_rows),
                    seeds.labels(seed_rows), candidates.inputs(cand_rows),
                    np.asarray(cand_rows), candidates.labels(cand_rows),
                    exclude_seeds=seeds is candidates)


@dataclass(frozen=True)
class Skipped:
    """A campaign left out, and why: a source yields one in place of a
    campaign it cannot build, the expansion one for a campaign it cannot
    expand, so every skip is counted and listed alike."""
    aid: int
    reason: str

    def __post_init__(self):
        object.__setattr__(self, "aid", int(self.aid))

    def record(self):
        """As the summary lists it."""
        return {"aid": self.aid, "reason": self.reason}


@dataclass
class TableCampaign(_Seeds):
    """A campaign of form 2: seed rows of a user table, its ad ids, and the
    candidate rows (None: every user of the table)."""
    aid: int
    seed_rows: np.ndarray
    seed_y: Optional[np.ndarray]
    ad: np.ndarray
    cand_rows: Optional[np.ndarray] = None
    seed_value: Optional[np.ndarray] = None

    @property
    def seeds(self):
        return len(self.seed_rows)

    def candidate_count(self, table):
        return len(table) if self.cand_rows is None else len(self.cand_rows)
