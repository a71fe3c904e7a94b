"""adaptation/campaign_model.py and its served program
(audience/serving.py): a campaign model scores each user alone, and the
program computes the same scores from raw ids."""
import numpy as np
import paddle
import pytest

from helpers import random_inputs, randomize_parameters, small_config


def fitted_model(*extra, seed=0):
    from adaptation import campaign_model
    from dygraph_model import DygraphModel, campaign_rng
    config = small_config("runner.infer_seed_blend=0.5",
                          "runner.infer_train_epoch=1", *extra)
    model_class = DygraphModel()
    model = model_class.create_model(config)
    randomize_parameters(model, np.random.default_rng(seed), scale=0.3)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(seed + 1)
    x, cand = random_inputs(rng, 60), random_inputs(rng, 200)
    y = (x[0][:, 0] % 2).astype(np.float32)
    fitted, net = campaign_model.fit(model_class, model, init, x, y, cand,
                                     config, campaign_rng(config, 4))
    return model, init, fitted, net, cand


def served(model, init, fitted, x):
    from audience.serving import ServingModel, full_weights
    with paddle.no_grad():
        program = ServingModel(model, full_weights(
            model, init, fitted.tuned.packed, fitted.tuned.rows), fitted)
        return program(*[paddle.to_tensor(a) for a in x]).numpy()


@pytest.mark.parametrize("c", [0.01, 1e-6])
def test_the_program_scores_as_the_campaign_model(c):
    """Also when the regression's logits barely vary (C 1e-6: a scale of
    about 1e5 on them), where a float32 sum before standardising lost
    the digits that rank."""
    model, init, fitted, net, cand = fitted_model("runner.infer_seed_c=%g" % c)
    assert fitted.blend is not None and fitted.blend.reg_scale > 0
    want = fitted.score(net, cand)
    np.testing.assert_allclose(served(model, init, fitted, cand), want,
                               rtol=0, atol=1e-5)


def test_ids_past_a_lists_length_are_never_read():
    from dataio import schema
    model, init, fitted, net, cand = fitted_model()
    filled = [a.copy() for a in cand]
    for j, (start, width) in enumerate(zip(schema.DYNAMIC_OFFSETS,
                                           schema.DYNAMIC_LENGTHS)):
        past = np.arange(width)[None, :] >= filled[2][:, j:j + 1]
        filled[1][:, start:start + width][past] = 10 ** 6
    np.testing.assert_allclose(served(model, init, fitted, filled),
                               served(model, init, fitted, cand), atol=1e-6)


def test_a_user_scores_the_same_alone_or_in_a_batch():
    model, init, fitted, net, cand = fitted_model()
    batch = served(model, init, fitted, cand)
    alone = served(model, init, fitted, [a[7:8] for a in cand])
    assert alone[0] == pytest.approx(batch[7], abs=1e-6)


def test_a_blend_weight_from_the_same_fit_is_a_fit_at_that_weight():
    from adaptation import campaign_model
    model, init, fitted, net, cand = fitted_model()
    network_alone = fitted.with_seed_weight(0)
    assert network_alone.blend is None
    np.testing.assert_array_equal(network_alone.score(net, cand), net)
    again = network_alone.with_seed_weight(0.5)
    np.testing.assert_array_equal(again.score(net, cand),
                                  fitted.score(net, cand))
    assert campaign_model.CampaignModel.record(fitted)["blend"][
        "seed_weight"] == 0.5
