"""The meta-test's fine-tuning options (hyper_parameters.optimizer.
local_test_optimizer, runner.infer_holdout, runner.infer_min_positives):
the localised computation equals the plain one for each, "maml" is the inner
loop's own update, a campaign below the positive-seed minimum keeps the
meta-trained scores, and the hold-out keeps the best pass."""
import dataclasses

import numpy as np
import paddle
import pytest

from dygraph_model import (DygraphModel, holdout_split, should_fine_tune,
                           task_bce)
from helpers import randomize_parameters, small_config
from runkit.config import ConfigError
from support.fine_tuning import one_ad_campaign, scores


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "maml"])
def test_localised_equals_plain_for_every_optimizer(optimizer):
    config = small_config(
        "hyper_parameters.batch_size=16", "runner.infer_train_epoch=2",
        "hyper_parameters.inner_steps=2", "hyper_parameters.local_lr=0.2",
        "hyper_parameters.optimizer.local_test_optimizer=%s" % optimizer,
        "hyper_parameters.optimizer.local_test_learning_rate=0.05")
    campaign = one_ad_campaign()
    local = scores(config, campaign, localized=True)
    plain = scores(config, campaign, localized=False)
    untuned = scores(small_config("runner.infer_train_epoch=0"), campaign,
                     localized=True)
    np.testing.assert_allclose(local, plain, rtol=0, atol=2e-6)
    assert np.abs(local - untuned).max() > 1e-4   # it did fine-tune


def test_maml_option_is_the_inner_loop_update():
    """local_lr, inner_steps full-batch SGD steps on the mean seed loss:
    what meta-training's inner loop does to a support set."""
    config = small_config(
        "hyper_parameters.inner_steps=2", "hyper_parameters.local_lr=0.3",
        "hyper_parameters.optimizer.local_test_optimizer=maml")
    campaign = one_ad_campaign()
    got = scores(config, campaign, localized=True)

    model = DygraphModel().create_model(config)
    randomize_parameters(model, np.random.default_rng(0), scale=0.3)
    x = [paddle.to_tensor(a) for a in campaign.seed_x]
    y = paddle.to_tensor(campaign.seed_y)
    for _ in range(2):
        params = list(model.parameters())
        grads = paddle.grad(task_bce(model(x), y), params, allow_unused=True)
        with paddle.no_grad():
            for p, g in zip(params, grads):
                if g is not None:
                    p.set_value(p - 0.3 * g)
    with paddle.no_grad():
        want = model([paddle.to_tensor(a) for a in campaign.cand_x]).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_campaign_below_the_positive_minimum_keeps_meta_trained_scores():
    campaign = one_ad_campaign()
    campaign = dataclasses.replace(
        campaign, seed_y=np.zeros_like(campaign.seed_y))   # no positive seed
    tuned = ["hyper_parameters.batch_size=16", "runner.infer_train_epoch=3",
             "hyper_parameters.optimizer.local_test_learning_rate=0.05"]
    untuned = scores(small_config("runner.infer_train_epoch=0"), campaign,
                     localized=True)
    skipped, tuning = scores(small_config(*tuned,
                                          "runner.infer_min_positives=1"),
                             campaign, localized=True, tuning=True)
    fitted = scores(small_config(*tuned, "runner.infer_min_positives=0"),
                    campaign, localized=True)
    np.testing.assert_array_equal(skipped, untuned)
    assert np.abs(fitted - untuned).max() > 1e-4
    assert not tuning.trained and not tuning.fine_tuned
    assert "runner.infer_min_positives" in tuning.not_fine_tuned_because
    assert not should_fine_tune(campaign.seed_y, small_config(
        "runner.infer_min_positives=1"))
    assert should_fine_tune(np.array([0.0, 1.0]), small_config(
        "runner.infer_min_positives=1"))


def test_holdout_split_is_stratified_and_keeps_a_lone_positive():
    y = np.array([0] * 20 + [1] * 5, np.float32)
    fit, held = holdout_split(y, 0.2, np.random.default_rng(0))
    assert len(held) == 5 and y[held].sum() == 1          # 4 + 1
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(25))
    again = holdout_split(y, 0.2, np.random.default_rng(0))[1]
    np.testing.assert_array_equal(held, again)             # seeded
    lone = np.array([0] * 20 + [1], np.float32)
    fit, held = holdout_split(lone, 0.5, np.random.default_rng(0))
    assert lone[fit].sum() == 1 and lone[held].sum() == 0  # never held out
    assert holdout_split(y, 0.0, np.random.default_rng(0))[1] is None


def test_holdout_keeps_the_pass_with_the_lowest_held_out_loss():
    # a learning rate large enough to overshoot: later passes are worse on
    # the held-out seeds than no fine-tuning, and the hold-out must notice
    config = small_config(
        "hyper_parameters.batch_size=8", "runner.infer_train_epoch=4",
        "runner.infer_holdout=0.4",
        "hyper_parameters.optimizer.local_test_learning_rate=0.5")
    campaign = one_ad_campaign(seeds=40)
    model_class = DygraphModel()
    model = model_class.create_model(config)
    randomize_parameters(model, np.random.default_rng(0), scale=0.3)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    _, held = holdout_split(campaign.seed_y, 0.4, np.random.default_rng(1))

    def held_loss():
        with paddle.no_grad():
            x = [paddle.to_tensor(a[held]) for a in campaign.seed_x]
            return float(task_bce(model(x), paddle.to_tensor(
                campaign.seed_y[held])))
    before = held_loss()
    _, tuned = model_class.fine_tune_and_score(
        model, init, campaign, config, np.random.default_rng(1),
        localized=False)
    after = held_loss()
    assert after <= before + 1e-6
    assert tuned.passes_kept in range(0, 5)   # reported per campaign
    assert tuned.trained
    assert tuned.fine_tuned == (tuned.passes_kept > 0)
    # and without the hold-out the same run ends elsewhere (and reports
    # no kept pass count)
    model.set_state_dict(init)
    _, plain = model_class.fine_tune_and_score(
        model, init, campaign, small_config(
            "hyper_parameters.batch_size=8", "runner.infer_train_epoch=4",
            "hyper_parameters.optimizer.local_test_learning_rate=0.5"),
        np.random.default_rng(1), localized=False)
    assert held_loss() != after
    assert plain.passes_kept is None and plain.fine_tuned


def test_choices_are_case_insensitive_and_holdout_needs_passes():
    config = small_config("hyper_parameters.optimizer.class=Adam",
                          "hyper_parameters.optimizer.local_test_optimizer=SGD")
    assert config["hyper_parameters.optimizer.class"] == "adam"
    assert config["hyper_parameters.optimizer.local_test_optimizer"] == "sgd"
    with pytest.raises(ConfigError, match="infer_holdout"):
        small_config("runner.infer_holdout=0.2",
                     "hyper_parameters.optimizer.local_test_optimizer=maml")


@pytest.mark.parametrize("override, message", [
    ("runner.infer_holdout=1", "infer_holdout"),
    ("runner.infer_holdout=-0.1", "infer_holdout"),
    ("runner.infer_min_positives=-1", "infer_min_positives"),
    ("hyper_parameters.optimizer.local_test_optimizer=rmsprop",
     "local_test_optimizer"),
])
def test_bad_meta_test_options_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        small_config(override)


def test_maml_fine_tuning_is_meta_trainings_inner_step_valued_seeds_too():
    """The localised maml fine-tuning runs dygraph_model.adapt, the inner
    step of meta-training; with valued seeds' weights it equals the plain
    computation too, and the weights change it."""
    from dygraph_model import DygraphModel
    config = small_config(
        "hyper_parameters.optimizer.local_test_optimizer=maml",
        "hyper_parameters.inner_steps=2", "hyper_parameters.local_lr=0.3")
    model_class = DygraphModel()
    model = model_class.create_model(config)
    randomize_parameters(model, np.random.default_rng(0), scale=0.3)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    campaign = one_ad_campaign()
    weight = np.where(campaign.seed_y == 1, 3.0, 1.0)
    out = {}
    for name, w, localized in (("plain", None, True), ("valued", weight, True),
                               ("valued, plain", weight, False)):
        tuned = model_class.fine_tune(
            model, init, campaign.seed_x, campaign.seed_y, campaign.cand_x,
            config, np.random.default_rng(2), w, localized=localized)
        out[name] = model_class.score(model, tuned.cand_x, config,
                                      tuned.packed)
    np.testing.assert_allclose(out["valued"], out["valued, plain"], atol=2e-6)
    assert np.abs(out["valued"] - out["plain"]).max() > 1e-4
