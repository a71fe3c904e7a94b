"""Logistic regression on one-hot ids: per campaign and pooled.

The features are what the network reads, one column per (field, id): one-hot
for the static fields, multi-hot over the valid ids of each multi-id field
(the ids before the field's length; the pad ids after it are left out),
and, for the pooled model, one-hot ad fields. The column layout comes from
the configured id maxima (``dataio.schema``), so an id beyond them fails
here as it does in the network.
"""
import numpy as np

# the encoder and fit are the product's (the seeds' regression of a
# campaign model); this module adds the pooled model and the evaluation
from adaptation.seed_regression import OneHot, fit_logistic


def fit(features, labels, c):
    """A fitted model, or the constant positive rate when the labels hold
    one class (nothing to rank by)."""
    labels = np.asarray(labels).astype(int)
    if labels.min() == labels.max():
        return float(labels[0])
    return fit_logistic(features, labels, c)


def predict(model, features):
    if isinstance(model, float):
        return np.full(features.shape[0], model)
    return model.predict_proba(features)[:, 1]


def campaign_scores(campaign, encoder, c):
    """Scores of a campaign's (``dataio.campaign.Campaign``) candidates by
    a model fitted on its seeds only. A campaign whose seeds are one class gets equal scores (AUC 0.5):
    the seeds say nothing about whom to rank first."""
    model = fit(encoder.transform(campaign.seed_x), campaign.seed_y, c)
    return predict(model, encoder.transform(campaign.cand_x)), \
        isinstance(model, float)


def evaluate(config, c, pooled=False):
    """Logistic regression (inverse regularisation ``c``) scored on the
    config's test sets through the meta-test's reader and evaluator: per
    campaign on its seeds, or with ``pooled`` one model of every training
    row (ad fields included). Returns ``({name: evaluation or None (set
    switched off)}, training seconds)``; an evaluation is
    ``runkit.evaluation.evaluate``'s."""
    import time
    import reader_test
    from dataio.stage_files import files_matching, read_stages
    from runkit.evaluation import TEST_SETS, evaluate as evaluate_set
    max_idxs = config["hyper_parameters.max_idxs"]
    start = time.perf_counter()
    model = None
    if pooled:
        encoder = OneHot(max_idxs, with_ad=True)
        train = read_stages(files_matching(
            [config["runner.train_data_dir"]], "_stage1.pkl"), config)
        model = fit(encoder.transform(train.inputs()), train.labels(), c)
    else:
        encoder = OneHot(max_idxs)
    train_s = time.perf_counter() - start

    def scored(folder):
        for campaign in reader_test.RecDataset([folder], config):
            if model is None:
                pred, _ = campaign_scores(campaign, encoder, c)
            else:
                pred = predict(model, encoder.transform(campaign.cand_x))
            yield campaign.aid, campaign.cand_y, np.asarray(pred, np.float64), {}
    return {name: evaluate_set(scored(config[key])) if config.get(key)
            else None for name, key in TEST_SETS}, train_s
