"""hyper_parameters.method is read in one place
(DygraphModel.TRAINING_LOSS): every method the config accepts has its
training step there, and the baselines' steps differ from MetaHeac's."""
import numpy as np
import pytest

from helpers import SMALL_MAX_IDXS, random_inputs, small_config
from runkit.config_schema import BY_NAME


def test_every_accepted_method_has_its_step():
    from dygraph_model import DygraphModel
    assert set(DygraphModel.TRAINING_LOSS) == \
        set(BY_NAME["hyper_parameters.method"].choices)


def meta_batch(rng, tasks=2, rows=8):
    x_spt = random_inputs(rng, tasks * rows, SMALL_MAX_IDXS)
    x_qry = random_inputs(rng, tasks * rows, SMALL_MAX_IDXS)
    y = rng.integers(0, 2, (tasks, rows)).astype(np.float32)
    return [x_spt, y, x_qry, 1 - y]


def test_methods_take_their_own_step():
    import paddle
    from dygraph_model import DygraphModel
    model_class = DygraphModel()
    batch = meta_batch(np.random.default_rng(0))
    losses = {}
    for method in ("metaheac", "pooled"):
        config = small_config("hyper_parameters.method=%s" % method)
        paddle.seed(1)
        model = model_class.create_model(config)
        assert model_class.takes_steps(config)
        loss, _, _ = model_class.train_forward(model, [], batch, config)
        losses[method] = float(loss)
        feeds = model_class.create_feeds(batch, config, model.id_map)
        own = {"metaheac": model_class.meta_loss,
               "pooled": model_class.pooled_loss}[method](model, feeds,
                                                          config)[0]
        assert float(own) == pytest.approx(losses[method], rel=1e-6)
    assert losses["metaheac"] != pytest.approx(losses["pooled"])
    scratch = small_config("hyper_parameters.method=scratch")
    assert not model_class.takes_steps(scratch)
    with pytest.raises(ValueError, match="scratch takes no training step"):
        model_class.train_forward(model, [], batch, scratch)
