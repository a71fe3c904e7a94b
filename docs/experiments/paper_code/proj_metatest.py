"""The project's meta-test (tools/infer_meta.py, its arguments unchanged)
with every candidate's float score kept, as ``<set>_<aid>_score`` and
``_label`` arrays of an npz (the scores file rounds to 6 decimals).
Project venv: DUMP=OUT.npz proj_metatest.py -m config_big.yaml -o ..."""
import os
import sys

import numpy as np
import pandas as pd

from adaptation import campaign_model

store = {}
cold_aids = set()
_scores = campaign_model.campaign_scores


def campaign_scores(model_class, model, init_state, campaign, config, rng,
                    weight=None):
    pred, tuned = _scores(model_class, model, init_state, campaign, config,
                          rng, weight)
    name = "cold" if campaign.aid in cold_aids else "hot"
    store["%s_%d_score" % (name, campaign.aid)] = np.asarray(pred, np.float64)
    store["%s_%d_label" % (name, campaign.aid)] = np.asarray(campaign.cand_y)
    return pred, tuned


campaign_model.campaign_scores = campaign_scores
for arg in sys.argv:
    if arg.startswith("runner.test_cold_data_dir="):
        folder = arg.split("=", 1)[1]
        cold_aids = set(pd.read_pickle(
            folder + "/test_cold_stage1.pkl").aid.unique().tolist())
from tools import infer_meta  # noqa: E402  (after the patch)

rc = infer_meta.main(sys.argv[1:])
np.savez(os.environ["DUMP"], **store)
print("wrote", os.environ["DUMP"], len(store) // 2, "campaigns")
sys.exit(rc)
