"""Meta-validation: after meta-training, run the meta-test procedure on the
held-out training campaigns (``dataio.holdout``) for every setting of a
small grid, and choose the setting with the best mean of the hot-like and
cold-like GAUC.

The grid is the product of ``tuning.learning_rates`` (the fine-tuning
Adam's rate), ``tuning.passes`` (fine-tuning passes over the seeds) and
``tuning.seed_blends`` (the weight of the seeds' own logistic regression,
adaptation/blend.py). The blends reuse one fine-tuning per campaign, set
and (rate, passes), so the cost is |rates| x |passes| fine-tunings of each
held-out campaign's two seed sets. Ties keep the earlier setting of the
grid. Everything else (infer_min_positives, the optimiser, batch size) is
the run's config.
"""
import itertools
import logging
import time

import numpy as np

from runkit.config import frozen
from runkit.metrics import campaign_metrics
from runkit.progress import Progress
from dataio import holdout
from tuning.choice import LEARNING_RATE, PASSES, SEED_BLEND, SEARCHED

logger = logging.getLogger("metaheac")
SETS = ("hot", "cold")


def grid(config):
    return [dict(zip(SEARCHED, values)) for values in itertools.product(
        *(config.get(SEARCHED[key]) for key in SEARCHED))]


def campaign_sets(stage, index, positions, config):
    """Each held-out campaign cut ``tuning.folds`` ways as a test campaign
    is, once at hot-like and once at cold-like seed counts:
    [((aid, fold), {set: dataio.campaign.Campaign})], the uids being rows
    of ``stage``."""
    from dataio.campaign import Campaign
    from dygraph_model import campaign_rng
    out = []
    for k in positions:
        rows = index.rows(k)
        aid = int(index.aids[k])
        y = stage.labels(rows)
        cuts = holdout.split(
            y, campaign_rng(config, aid), config.get("tuning.max_seeds"),
            config.get("tuning.max_candidates"), config.get("tuning.folds"),
            config.get("tuning.cold_seeds"))
        for fold, (cand, hot, cold) in enumerate(cuts):
            x_cand = stage.inputs(rows[cand])
            sets = {name: Campaign(aid, stage.inputs(rows[seeds]),
                                   rows[seeds], y[seeds], x_cand, rows[cand],
                                   y[cand])
                    for name, seeds in (("hot", hot), ("cold", cold))
                    if name == "hot" or len(cold) < len(hot)}
            # a campaign too small for two sizes: one set serves both
            sets.setdefault("cold", sets["hot"])
            out.append(((aid, fold), sets))
    return out


def validate(model_class, model, stage, index, positions, config):
    """The grid's results on the held-out campaigns and the chosen
    setting: the document run.json records as ``meta_validation``."""
    from adaptation import campaign_model
    from adaptation.seed_regression import SeedRegression
    from dygraph_model import campaign_rng
    start = time.time()
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    campaigns = campaign_sets(stage, index, positions, config)
    settings = grid(config)
    # the seeds' regression does not depend on the fine-tuning: one per
    # campaign and set, shared by every (rate, passes)
    regressions = {}
    if any(s[SEED_BLEND] > 0 for s in settings):
        for cut, sets in campaigns:
            for name, campaign in sets.items():
                if name == "cold" and campaign is sets["hot"]:
                    regressions[cut, name] = regressions[cut, "hot"]
                    continue
                regressions[cut, name] = SeedRegression.fit(
                    model.maxima, campaign.seed_x, campaign.seed_y,
                    config.get("runner.infer_seed_c"))
    aucs = {}   # (setting index, set) -> per-campaign AUCs
    fitted = {}
    # the fine-tunings take the time: one per (rate, passes), cut and set
    pairs = len({(s[LEARNING_RATE], s[PASSES]) for s in settings})
    progress = Progress(pairs * sum(len({id(c) for c in sets.values()})
                                    for _, sets in campaigns),
                        "meta-validation", "fine-tunings")
    logger.info("meta-validation: %d fine-tunings to run (the grid's %d "
                "rate and passes pair(s) on %d held-out campaign(s), %d "
                "folds each, hot- and cold-like seeds)", progress.total,
                pairs, len(positions), config.get("tuning.folds"))
    for i, setting in enumerate(settings):
        key = (setting[LEARNING_RATE], setting[PASSES])
        if key not in fitted:
            trial = frozen(config).with_overrides(
                {LEARNING_RATE: key[0], PASSES: key[1], SEED_BLEND: 0.0})
            fitted[key] = {}
            for cut, sets in campaigns:
                for name, campaign in sets.items():
                    if name == "cold" and campaign is sets["hot"]:
                        fitted[key][cut, name] = fitted[key][cut, "hot"]
                        continue
                    fitted[key][cut, name] = campaign_model.fit(
                        model_class, model, init_state, campaign.seed_x,
                        campaign.seed_y, campaign.cand_x, trial,
                        campaign_rng(trial, campaign.aid),
                        regression=regressions.get((cut, name)))
                    progress.step()
        for name in SETS:
            aucs[i, name] = []
            for cut, sets in campaigns:
                tuned, net = fitted[key][cut, name]
                scores = tuned.with_seed_weight(setting[SEED_BLEND]).score(
                    net, sets[name].cand_x)
                aucs[i, name].append(campaign_metrics(
                    sets[name].cand_y, scores)["auc"])
    rows = []
    for i, setting in enumerate(settings):
        gauc = {name: float(np.mean([a for a in aucs[i, name]
                                     if a is not None]))
                for name in SETS}
        rows.append({"settings": setting, "hot_gauc": gauc["hot"],
                     "cold_gauc": gauc["cold"],
                     "score": (gauc["hot"] + gauc["cold"]) / 2.0})
    best = max(range(len(rows)), key=lambda i: (rows[i]["score"], -i))
    doc = {"campaigns": sorted(set(cut[0] for cut, _ in campaigns)),
           "folds": config.get("tuning.folds"),
           "seeds": {name: [sets[name].seeds for _, sets in campaigns]
                     for name in SETS},
           "candidates": [sets["hot"].candidate_count()
                          for _, sets in campaigns],
           "grid": rows, "chosen": dict(rows[best]["settings"]),
           "criterion": "mean of the hot-like and cold-like GAUC",
           "seconds": round(time.time() - start, 1)}
    log_table(doc)
    return doc


def log_table(doc):
    logger.info("meta-validation on %d held-out training campaign(s) (aid "
                "%s), %d folds each: hot-like seeds median %d, cold-like %d, "
                "candidates median %d, %.1f s:", len(doc["campaigns"]),
                ", ".join(str(a) for a in doc["campaigns"]), doc["folds"],
                int(np.median(doc["seeds"]["hot"])),
                int(np.median(doc["seeds"]["cold"])),
                int(np.median(doc["candidates"])), doc["seconds"])
    logger.info("  %-10s %-7s %-11s | %-8s %-8s %-8s", "fine-tune lr", "passes",
                "seed blend", "hot GAUC", "cold GAUC", "mean")
    for row in doc["grid"]:
        s = row["settings"]
        mark = "  <- chosen" if s == doc["chosen"] else ""
        logger.info("  %-12g %-7d %-11g | %.4f   %.4f    %.4f%s",
                    s[LEARNING_RATE], s[PASSES], s[SEED_BLEND],
                    row["hot_gauc"], row["cold_gauc"], row["score"], mark)
