"""hyper_parameters.field_interaction: ``none`` is the paper's network
unchanged, ``bi`` adds NFM's bi-interaction of the user fields to every
expert's input; the second-order meta-gradient flows through it, and every
path that scores (the forward, the numpy scoring mode, expansion over
arrays and over a user table, a checkpoint, the exported program) computes
it."""
import numpy as np
import paddle
import pytest

import net
from dataio import schema
from dataio.campaign import Campaign, TableCampaign
from dataio.user_table import UserTable, write_user_table
from dygraph_model import DygraphModel
from helpers import (CONFIG, SMALL_MAX_IDXS, random_inputs,
                     randomize_parameters, small_config)
from runkit.checkpoint import CheckpointError, load_checkpoint, \
    save_checkpoint
from runkit.config import ConfigError, load_config
from support.expansion import OVERRIDES, predict
from test_meta_gradient import (dense_grads, finite_difference, make_batch,
                                meta_config, meta_grads)
from test_net import reference_forward

KEY = "hyper_parameters.field_interaction"
BI = "%s=bi" % KEY
E = 4


def model_of(config, seed=0, scale=0.3):
    paddle.seed(seed)
    model = DygraphModel().create_model(config)
    randomize_parameters(model, np.random.default_rng(seed), scale=scale)
    return model


def scores(model, x, params=None):
    with paddle.no_grad():
        return model([paddle.to_tensor(a) for a in x], params).numpy()


def campaign_inputs(n, seed):
    """``n`` users of one campaign: the same ad ids on every row."""
    x = random_inputs(np.random.default_rng(seed), n)
    x[schema.AD_SLOT] = np.repeat(x[schema.AD_SLOT][:1], n, 0)
    return x


# ------------------------------------------------------- the network itself
def test_bi_widens_only_the_experts_first_layer():
    plain = model_of(small_config())
    bi = model_of(small_config(BI))
    assert plain.field_interaction == "none" and bi.field_interaction == "bi"
    shapes = {n: list(p.shape) for n, p in plain.named_parameters()}
    wide = {n: list(p.shape) for n, p in bi.named_parameters()}
    # the same names, so a checkpoint of either holds PaddleRec's
    assert list(wide) == list(shapes)
    changed = sorted(n for n in shapes if shapes[n] != wide[n])
    assert changed == ["mlp.%d.mlp.0.weight" % e for e in range(3)]
    for name in changed:
        assert shapes[name] == [14 * E, 8] and wide[name] == [15 * E, 8]
    x = random_inputs(np.random.default_rng(1), 9)
    out = scores(bi, x)
    assert out.shape == (9, ) and np.all((out > 0) & (out < 1))


def test_none_is_the_papers_network(float64):
    """The default builds the paper's network: the numpy reference of
    test_net, to rounding."""
    config = small_config()
    assert config[KEY] == "none"
    model = model_of(config, seed=3)
    x = random_inputs(np.random.default_rng(4), 16)
    w = {n: p.numpy() for n, p in model.named_parameters()}
    want = reference_forward(w, x, [8, 8], 3, 2)
    np.testing.assert_allclose(scores(model, x), want, rtol=0, atol=1e-12)


def test_bi_is_the_sum_of_the_field_pairs_products(float64):
    model = model_of(small_config(BI), seed=5)
    rng = np.random.default_rng(6)
    x = random_inputs(rng, 16)
    x[2][0, :] = 0             # a row with no valid id in any dynamic field
    w = {n: p.numpy() for n, p in model.named_parameters()}
    want = reference_forward(w, x, [8, 8], 3, 2, bi=True)
    np.testing.assert_allclose(scores(model, x), want, rtol=0, atol=1e-12)
    # and the term matters: the paper's network on the same weights differs
    w_plain = dict(w)
    for e in range(3):
        name = "mlp.%d.mlp.0.weight" % e
        w_plain[name] = w[name][:14 * E]
    plain = reference_forward(w_plain, x, [8, 8], 3, 2)
    assert np.abs(plain - want).max() > 1e-3


def test_zero_interaction_weights_give_the_papers_scores(float64):
    """The bi inputs are added, not mixed in: with their weights zero a bi
    network scores as the paper's network with its other weights."""
    bi = model_of(small_config(BI), seed=7)
    plain = model_of(small_config(), seed=8)
    params = bi.params()
    for name, p in plain.named_parameters():
        value = params[name].numpy()
        if value.shape != tuple(p.shape):   # the experts' first layers
            value = value[:14 * E]
            params[name] = paddle.to_tensor(np.concatenate(
                [value, np.zeros((E, value.shape[1]))]))
        p.set_value(value)
    x = random_inputs(np.random.default_rng(9), 20)
    np.testing.assert_allclose(scores(bi, x, params), scores(plain, x),
                               rtol=0, atol=1e-12)


def test_the_term_starts_at_the_embeddings_spread():
    """With N(0, 1) embeddings (the paper's initialisation) the scaled term
    has about unit spread, not the ~9.5 of the unscaled 91 pairs."""
    rng = np.random.default_rng(10)
    fields = [paddle.to_tensor(rng.normal(size=(4000, 8)).astype("float32"))
              for _ in range(14)]
    term = net.MetaHeac._bi_interaction(fields).numpy()
    assert term.shape == (4000, 8)
    assert 0.9 < term.std() < 1.1


def test_an_unknown_value_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=KEY):
        load_config(str(CONFIG), ["%s=fm" % KEY])
    with pytest.raises(ValueError, match=KEY):
        net.MetaHeac(SMALL_MAX_IDXS, E, [8], 2, 2, field_interaction="fm")


# ------------------------------------------------------------ meta-training
def bi_meta_config(meta_order=2):
    return meta_config(meta_order, 0.5, 1, BI)


def test_localised_step_equals_dense_maml_with_bi(float64):
    config = bi_meta_config()
    model = model_of(config, seed=2, scale=0.4)
    batch = make_batch(seed=3)
    loss, grads = meta_grads(model, batch, config)
    want_loss, want = dense_grads(model, batch, config)
    assert loss == pytest.approx(want_loss, rel=0, abs=1e-10)
    for name in want:
        np.testing.assert_allclose(grads[name], want[name], rtol=0,
                                   atol=1e-10, err_msg=name)


def test_second_order_gradient_through_the_term_matches_finite_differences(
        float64):
    """The interaction's weights and a table feeding it: their second-order
    meta-gradient is the finite difference of the meta-loss, and the
    first-order one is not (the inner gradient's Jacobian goes through the
    term)."""
    config = bi_meta_config()
    model = model_of(config, scale=0.4)
    batch = make_batch()
    _, grads = meta_grads(model, batch, config)
    _, first = meta_grads(model, batch, bi_meta_config(meta_order=1))
    rows = slice(14 * E, 15 * E)
    checked = []
    for name, block in (("mlp.1.mlp.0.weight", rows),
                        ("embedding.static_emb.embeddings.2.weight",
                         slice(None))):
        g = np.abs(grads[name][block])
        assert g.max() > 1e-4, name
        index = np.unravel_index(np.argmax(g), g.shape)
        if name.startswith("mlp"):
            index = (index[0] + 14 * E, index[1])
        checked.append((name, index))
    differs = 0
    for name, index in checked:
        fd = finite_difference(model, batch, config, name, index)
        assert abs(grads[name][index] - fd) < 1e-5 * abs(fd), (name, index)
        differs += abs(first[name][index] - fd) > 1e-3 * abs(fd)
    assert differs >= 1


# ---------------------------------------------------------- scoring paths
@pytest.mark.parametrize("combined,projected", [(4096, 65536), (12, 5)])
def test_the_scoring_mode_computes_the_term(monkeypatch, combined, projected):
    """The numpy scoring mode (user tables) gives the forward's scores with
    bi, static fields projected and combined, or embedded."""
    monkeypatch.setattr(net, "COMBINED_ROWS", combined)
    monkeypatch.setattr(net, "PROJECTED_ROWS", projected)
    model = model_of(small_config(BI), seed=4)
    x = campaign_inputs(400, 7)
    scorer = model.scoring(x[schema.AD_SLOT][0])
    got = scorer.scores(scorer.layout.users(x))
    np.testing.assert_allclose(got, scores(model, x), atol=2e-6, rtol=0)


def test_expansion_over_arrays_and_over_a_user_table_agree(tmp_path):
    """One campaign with bi expanded from arrays (forward_packed) and from
    a user table (the scoring mode): the same fine-tuning, the same
    scores."""
    from audience.expansion import expand
    config = small_config(BI, "hyper_parameters.batch_size=16",
                          "expand.diagnose=False")
    model_class = DygraphModel()
    model = model_of(config)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    static, dynamic, lengths, ad = random_inputs(np.random.default_rng(3),
                                                 120)
    write_user_table(str(tmp_path / "users"), np.arange(120),
                     np.concatenate([static, dynamic, lengths], axis=1))
    table = UserTable(str(tmp_path / "users"),
                      schema.IdMaxima.from_config(SMALL_MAX_IDXS))
    ad = ad[0]
    seeds, cands = np.arange(30), np.arange(30, 120)
    y = (np.arange(30) % 2).astype(np.float32)
    (by_table, ), _ = expand(config, [TableCampaign(4, seeds, y, ad)], 0.1,
                             model_class, model, init, table=table)
    arrays = Campaign(4, table.inputs(seeds, ad), seeds, y,
                      table.inputs(cands, ad), cands, None)
    (by_arrays, ), _ = expand(config, [arrays], 0.1, model_class, model, init)
    table_scores = dict(zip(by_table.uid, by_table.score))   # uid = row
    assert len(by_arrays.uid) == len(cands)
    got = np.array([table_scores[u] for u in by_arrays.uid])
    np.testing.assert_allclose(got, by_arrays.score, atol=2e-6, rtol=0)


def test_a_bi_checkpoint_round_trips_and_names_the_key_when_mismatched(
        tmp_path):
    config = small_config(BI)
    model = model_of(config, seed=11)
    path = save_checkpoint(model, None, str(tmp_path), 0, announce=False)
    loaded = DygraphModel().create_model(config)
    load_checkpoint(loaded, path)
    x = random_inputs(np.random.default_rng(12), 30)
    np.testing.assert_array_equal(scores(loaded, x), scores(model, x))
    with pytest.raises(CheckpointError, match=KEY):
        load_checkpoint(DygraphModel().create_model(small_config()), path)
    # and the other way round
    plain = save_checkpoint(model_of(small_config()), None,
                            str(tmp_path / "plain"), 0, announce=False)
    with pytest.raises(CheckpointError, match=KEY):
        load_checkpoint(DygraphModel().create_model(config), plain)


def test_the_exported_program_computes_the_term(tmp_path):
    """tools/export.py of a bi checkpoint: Paddle's predictor scores as the
    network."""
    from tools import export
    model = model_of(small_config(BI, "hyper_parameters.batch_size=16"),
                     seed=13)
    checkpoint = save_checkpoint(model, None, str(tmp_path / "m"), 0,
                                 announce=False)
    assert export.main(["-m", str(CONFIG), "-o"] + OVERRIDES + [
        BI, "expand.checkpoint=%s" % checkpoint,
        "--out", str(tmp_path / "exp")]) == 0
    x = random_inputs(np.random.default_rng(14), 200)
    np.testing.assert_allclose(predict(tmp_path / "exp", x), scores(model, x),
                               rtol=0, atol=1e-5)
