"""Meta-test reader: one campaign at a time, seeds and candidates.

Reads a folder's ``*_stage1.pkl`` (seed sets) and ``*_stage2.pkl``
(candidates) and yields a ``dataio.campaign.Campaign`` per campaign, in
increasing aid order; the stage files name no users, so its uids are the
rows' positions in their stage (``cand_uid``: what the meta-test writes as
``uid`` in scores.csv). A campaign with seeds but no candidates (or the
reverse) cannot be evaluated: it is named in a warning and skipped.
``lacking(folder)`` says what a folder misses for this reader, so that a
tool can check every test folder before its first campaign.
"""
import logging
import os

from paddle.io import IterableDataset

from dataio.campaign import from_stages
from dataio.campaigns import CampaignIndex
from dataio.stage_files import DataError, files_matching, read_stages

logger = logging.getLogger(__name__)

STAGE_FILES = (("_stage1.pkl", "the seed sets"), ("_stage2.pkl",
                                                  "the candidates"))


def lacking(folder):
    """What ``folder`` lacks to be read, in words ("has no ..."), or None."""
    for suffix, what in STAGE_FILES:
        found = files_matching([folder], suffix)
        if not found:
            return "has no *%s file (%s)" % (suffix, what)
        for path in found:
            name = os.path.basename(path)
            if not os.path.isfile(path):
                return "holds %s, which is not a file (a broken link?)" % name
            if os.path.getsize(path) == 0:   # a copy cut short
                return "holds an empty %s (0 bytes; %s)" % (name, what)
    return None


class RecDataset(IterableDataset):
    def __init__(self, file_list, config):
        super().__init__()
        stage1, stage2 = (files_matching(file_list, suffix)
                          for suffix, _ in STAGE_FILES)
        for (suffix, _), found in zip(STAGE_FILES, (stage1, stage2)):
            if not found:
                raise DataError("no *%s file among %s" %
                                (suffix, ", ".join(file_list) or "(nothing)"))
        self.seeds = read_stages(stage1, config)
        self.candidates = read_stages(stage2, config)
        self.seed_index = CampaignIndex(self.seeds.aid)
        self.cand_index = CampaignIndex(self.candidates.aid)
        seed_aids = set(self.seed_index.aids.tolist())
        cand_aids = set(self.cand_index.aids.tolist())
        for missing, have, what in ((cand_aids - seed_aids, "candidates",
                                     "seeds"),
                                    (seed_aids - cand_aids, "seeds",
                                     "candidates")):
            if missing:
                logger.warning(
                    "%d campaign(s) have %s but no %s and are skipped: aid %s",
                    len(missing), have, what,
                    ", ".join(str(a) for a in sorted(missing)[:10]))
        self.aids = sorted(seed_aids & cand_aids)

    def __len__(self):
        return len(self.aids)

    def campaign(self, position):
        """The ``position``-th campaign (aid order)."""
        aid = self.aids[position]
        spt = self.seed_index.rows(self.seed_index.position(aid))
        qry = self.cand_index.rows(self.cand_index.position(aid))
        return from_stages(aid, self.seeds, spt, self.candidates, qry)

    def __iter__(self):
        for position in range(len(self.aids)):
            yield self.campaign(position)
