"""Campaigns to expand, from files.

Form 1, feature rows (the released stage format): a seed file and a
candidate file, each possibly holding several campaigns (``aid``); every
campaign of the seed file is expanded against its own rows of the
candidate file. Neither needs a ``label`` column (the candidates' labels,
if present, only feed the report). A ``uid`` column identifies users;
without one, the row's index in the frame does, and then seeds cannot be
matched among the candidates (two files' row indices are not the same
users), so none are excluded, with a warning.
"""
import logging

import numpy as np

from audience.expansion import Campaign
from dataio import schema
from dataio.campaigns import CampaignIndex
from dataio.stage_files import DataError, frame_to_arrays, read_frame

logger = logging.getLogger("metaheac")

UID_COL = "uid"


def read_rows(path, maxima):
    """(stage arrays, uids, whether a label column exists, whether the uids
    come from a uid column) of a file."""
    df = read_frame(path)
    stage = frame_to_arrays(df, path, maxima, label_required=False)
    has_uid = UID_COL in df.columns
    if has_uid:
        uid = df[UID_COL].to_numpy()
        if uid.dtype.kind not in "iu":
            raise DataError("%s: column 'uid' must hold integer user ids" % path)
    else:
        uid = df.index.to_numpy()
        if uid.dtype.kind not in "iu":
            raise DataError("%s has no 'uid' column and its index is not "
                            "integer: add a uid column" % path)
    if len(np.unique(uid)) != len(uid):
        logger.warning("%s: %d repeated uids", path, len(uid) - len(np.unique(uid)))
    return stage, uid.astype(np.int64), schema.LABEL_COL in df.columns, has_uid


def feature_row_campaigns(seeds_path, candidates_path, config):
    """The campaigns of form 1, in increasing aid order."""
    maxima = schema.IdMaxima.from_config(config.get("hyper_parameters.max_idxs"))
    seeds, seed_uid, seed_labelled, seed_ids = read_rows(seeds_path, maxima)
    cands, cand_uid, cand_labelled, cand_ids = read_rows(candidates_path, maxima)
    matchable = seed_ids and cand_ids
    if not matchable:
        logger.warning("%s has no uid column: users are named by row index, "
                       "and seeds are not looked for among the candidates",
                       seeds_path if not seed_ids else candidates_path)
    seed_index, cand_index = CampaignIndex(seeds.aid), CampaignIndex(cands.aid)
    for aid in seed_index.aids:
        k = cand_index.position(aid)
        if k is None:
            logger.warning("campaign %s has seeds in %s but no candidates in "
                           "%s: skipped", aid, seeds_path, candidates_path)
            continue
        spt = seed_index.rows(seed_index.position(aid))
        qry = cand_index.rows(k)
        yield Campaign(
            int(aid), seeds.inputs(spt), seed_uid[spt],
            seeds.labels(spt) if seed_labelled else None,
            cands.inputs(qry), cand_uid[qry],
            cands.labels(qry) if cand_labelled else None,
            exclude_seeds=matchable)
