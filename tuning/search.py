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
    cuts = [cut for cut, _ in campaigns]
    best, margin = choose(rows, [per_campaign(cuts, aucs, i)
                                 for i in range(len(rows))],
                          config.get("tuning.choose"))
    doc = {"campaigns": sorted(set(cut[0] for cut, _ in campaigns)),
           "folds": config.get("tuning.folds"),
           "seeds": {name: [sets[name].seeds for _, sets in campaigns]
                     for name in SETS},
           "candidates": [sets["hot"].candidate_count()
                          for _, sets in campaigns],
           "grid": rows, "chosen": dict(rows[best]["settings"]),
           "criterion": CRITERIA[config.get("tuning.choose")],
           "seconds": round(time.time() - start, 1)}
    if margin is not None:
        doc["standard_error"] = round(margin, 5)
    log_table(doc)
    return doc


CRITERIA = {
    "best": "mean of the hot-like and cold-like GAUC",
    "lightest_within_se": "the lightest fine-tuning (learning rate x "
                          "passes) whose mean of the hot-like and cold-like "
                          "GAUC is within one standard error (over the "
                          "held-out campaigns) of the best's"}


def per_campaign(cuts, aucs, i):
    """Setting ``i``'s score (the mean of its hot-like and cold-like AUC)
    per held-out campaign, its folds averaged: {aid: score}. The folds of
    one campaign share its seeds' distribution, so the campaign, not the
    fold, is the unit the standard error counts."""
    by_aid = {}
    for k, (aid, _) in enumerate(cuts):
        pair = [aucs[i, name][k] for name in SETS]
        if None not in pair:
            by_aid.setdefault(aid, []).append(sum(pair) / 2.0)
    return {aid: float(np.mean(v)) for aid, v in by_aid.items()}


def choose(rows, scores, rule):
    """The index of the chosen row, and the standard error used (None
    for ``best``). ``best``: the highest mean score, ties to the earlier
    setting. ``lightest_within_se``: among the settings whose score is
    within one standard error of the best's (the standard error of the
    paired per-campaign differences), the one that moves the weights least
    (learning rate x passes; ties to the earlier setting). A fine-tuning
    chosen on a dozen small held-out campaigns is noisy; the heavier
    setting that wins by noise overfits a cold campaign's few seeds."""
    best = max(range(len(rows)), key=lambda i: (rows[i]["score"], -i))
    if rule == "best":
        return best, None
    aids = sorted(scores[best])
    errors = []
    for i in range(len(rows)):
        diffs = [scores[best][a] - scores[i][a] for a in aids
                 if a in scores[i]]
        errors.append(float(np.std(diffs, ddof=1) / np.sqrt(len(diffs)))
                      if len(diffs) > 1 else 0.0)
    near = [i for i in range(len(rows))
            if rows[best]["score"] - rows[i]["score"] <= errors[i]]

    def weight(i):
        s = rows[i]["settings"]
        return s[LEARNING_RATE] * s[PASSES]
    chosen = min(near, key=lambda i: (weight(i), i))
    return chosen, errors[chosen]


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
