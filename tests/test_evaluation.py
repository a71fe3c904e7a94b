"""runkit/evaluation.py, the one evaluator of a test set: it gives the
meta-test's own rows and summary (tools/infer_meta.run_test_set) for the
same labels and scores, and scores the logistic-regression baselines."""
from dataclasses import replace

import numpy as np
import pytest

from helpers import CONFIG, yaml_list
from runkit.config import load_config
from runkit.evaluation import evaluate
from synthetic import datasets, generator

SPEC = replace(generator.SAMPLE, n_users=400, n_train=3, train_rows_median=40,
               train_rows_range=(30, 50), n_hot=3, hot_seeds=(20, 30),
               n_cold=2, cold_seeds=(10, 20), candidates=40)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    data = tmp_path_factory.mktemp("evaluation")
    datasets.write_stages(generator.generate(SPEC, seed=4), str(data), SPEC)
    return load_config(str(CONFIG), [
        "hyper_parameters.max_idxs=%s" % yaml_list(SPEC.max_idxs()),
        "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8]",
        "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
        "hyper_parameters.batch_size=16", "runner.infer_train_epoch=2",
        "runner.infer_holdout=0.2", "runner.num_threads=1",
        "runner.train_data_dir=%s" % (data / "train"),
        "runner.test_data_dir=%s" % (data / "test"),
        "runner.test_cold_data_dir=%s" % (data / "test_cold")])


def test_equals_the_meta_tests_own_evaluation(config):
    import reader_test
    from adaptation import campaign_model
    from dygraph_model import DygraphModel, campaign_rng
    from tools.infer_meta import run_test_set
    from tuning import choice
    config, _ = choice.resolved(config, None, announce=False)
    model_class = DygraphModel()
    model = model_class.create_model(config)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    dataset = reader_test.RecDataset([config["runner.test_data_dir"]], config)
    ours = run_test_set("hot", dataset, model_class, model, init, config)
    rows = {r["aid"]: r for r in ours["campaigns"]}
    metric_keys = {"candidates", "positives", "auc", "precision", "recall",
                   "note"}

    def scored():
        # every campaign's own seeded stream: the same scores again
        for position in range(len(dataset)):
            campaign = dataset.campaign(position)
            aid, y_qry = int(campaign.aid), campaign.cand_y
            pred, _ = campaign_model.campaign_scores(model_class, model, init,
                                              campaign, config,
                                              campaign_rng(config, aid))
            fields = {k: v for k, v in rows[aid].items()
                      if k not in metric_keys and k != "aid"}
            yield aid, y_qry, pred, fields
    theirs = evaluate(scored(), started=0.0)
    assert theirs["campaigns"] == ours["campaigns"]
    assert list(theirs["campaigns"][0]) == list(ours["campaigns"][0])
    assert theirs["summary"].keys() == ours["summary"].keys()
    for key, value in ours["summary"].items():
        if key != "seconds":
            assert theirs["summary"][key] == value, key
    assert ours["summary"]["evaluated_campaigns"] == len(dataset) == 3
    assert "passes_kept" in ours["campaigns"][0]  # the hold-out's field


def test_rows_and_summary_of_given_scores():
    labels = [np.array([1, 0, 0, 1]), np.array([0, 0, 0])]
    scores = [np.array([0.9, 0.2, 0.4, 0.3]), np.array([0.1, 0.5, 0.2])]
    out = evaluate([(7, labels[0], scores[0], {"seeds": 3}),
                    (8, labels[1], scores[1], {})])
    first, second = out["campaigns"]
    assert list(first)[:2] == ["aid", "seeds"] and first["auc"] == 0.75
    assert second["auc"] is None and "single class" in second["note"]
    summary = out["summary"]
    assert "seconds" not in summary
    assert summary["gauc"] == 0.75 and summary["single_class_campaigns"] == [8]
    assert summary["campaigns"] == 2 and summary["candidates"] == 7


def test_logistic_baselines_are_scored_by_the_evaluator(config):
    import reader_test
    from baselines import logistic
    from runkit.metrics import campaign_metrics
    c = 0.5
    off = dict(config)
    off["runner.test_cold_data_dir"] = None
    evaluations, _ = logistic.evaluate(off, c)
    assert evaluations["cold"] is None
    hot = evaluations["hot"]
    encoder = logistic.OneHot(config["hyper_parameters.max_idxs"])
    aucs = []
    for campaign in reader_test.RecDataset([config["runner.test_data_dir"]],
                                           config):
        pred, _ = logistic.campaign_scores(campaign, encoder, c)
        aucs.append(campaign_metrics(campaign.cand_y, pred)["auc"])
    assert [r["auc"] for r in hot["campaigns"]] == aucs
    assert hot["summary"]["gauc"] == pytest.approx(np.mean(
        [a for a in aucs if a is not None]))
    pooled, train_s = logistic.evaluate(config, c, pooled=True)
    assert train_s > 0 and pooled["cold"]["summary"]["campaigns"] == 2
    # one model for every campaign: other scores than per campaign
    assert [r["auc"] for r in pooled["hot"]["campaigns"]] != aucs
