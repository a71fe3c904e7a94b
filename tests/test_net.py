"""net.MetaHeac: output, masking, PaddleRec names/shapes, numpy reference."""
import numpy as np
import paddle
import pytest

import net
from helpers import SMALL_MAX_IDXS, random_inputs, randomize_parameters
from dataio import schema

E = 4


def make_net(mlp_dims=(8, 8), num_expert=3, num_output=2, seed=0,
             max_idxs=SMALL_MAX_IDXS):
    paddle.seed(seed)
    model = net.MetaHeac(max_idxs, E, list(mlp_dims), num_expert, num_output)
    randomize_parameters(model, np.random.default_rng(seed))
    return model


def forward(model, x, params=None):
    out = model([paddle.to_tensor(a) for a in x], params)
    return out.numpy()


# ---------------------------------------------------------------- reference
def _relu(z):
    return np.maximum(z, 0.0)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_forward(w, x, mlp_dims, num_expert, num_output, bi=False):
    """The paper's MetaHeac in plain numpy; ``w`` maps names to arrays.
    With ``bi`` the experts also read the sum over field pairs of their
    embeddings' products, over the square root of the pair count (written
    pair by pair, not as net.py's square-of-sums identity)."""
    static, dynamic, lengths, ad = x
    user = [w["embedding.static_emb.embeddings.%d.weight" % i][static[:, i]]
            for i in range(7)]
    for j, width in enumerate(schema.DYNAMIC_LENGTHS):
        off = schema.DYNAMIC_OFFSETS[j]
        table = w["embedding.dynamic_emb.embeddings.%d.weight" % j]
        emb = table[dynamic[:, off:off + width]]                 # [B, w, E]
        n = lengths[:, j]
        mask = (np.arange(width)[None, :] < n[:, None]).astype(emb.dtype)
        total = (emb * mask[:, :, None]).sum(axis=1)
        # masked mean over the valid ids; no valid id -> zero embedding
        user.append(np.where(n[:, None] > 0,
                             total / np.maximum(n, 1)[:, None], 0.0))
    user_rep = np.concatenate(user, axis=1)                      # [B, 14E]
    expert_in = user_rep
    if bi:
        pairs = [user[i] * user[j] for i in range(len(user))
                 for j in range(i + 1, len(user))]
        expert_in = np.concatenate(
            [user_rep, np.sum(pairs, axis=0) / np.sqrt(len(pairs))], axis=1)
    ads = [w["embedding.ad_emb.embeddings.%d.weight" % k][ad[:, k]]
           for k in range(6)]
    campaign_rep = np.concatenate([np.mean(user, axis=0)] + ads, axis=1)

    def lin(h, name):
        return h @ w[name + ".weight"] + w[name + ".bias"]

    def gate(name):
        return _softmax(lin(_relu(lin(campaign_rep, name + ".0")), name + ".2"))

    g = gate("attention_layer")
    fea = 0.0
    for e in range(num_expert):
        h = expert_in
        for layer in range(len(mlp_dims)):        # every Linear + ReLU
            h = _relu(lin(h, "mlp.%d.mlp.%d" % (e, 2 * layer)))
        fea = fea + g[:, e:e + 1] * h
    g2 = gate("output_attention_layer")
    out = 0.0
    for k in range(num_output):
        out = out + g2[:, k] * _sigmoid(lin(fea, "output_layer.%d" % k))[:, 0]
    return out


# --------------------------------------------------------------------- tests
def test_output_shape_and_range():
    model = make_net()
    x = random_inputs(np.random.default_rng(1), 9)
    out = forward(model, x)
    assert out.shape == (9, )
    assert np.all(out > 0) and np.all(out < 1)
    assert len(np.unique(out)) > 1  # not a constant


@pytest.mark.parametrize("mlp_dims, num_expert, num_output",
                         [((8, 8), 3, 2), ((8, 6, 5), 2, 3), ((6, ), 1, 1)])
def test_matches_numpy_reference(float64, mlp_dims, num_expert, num_output):
    model = make_net(mlp_dims, num_expert, num_output, seed=3)
    rng = np.random.default_rng(4)
    x = random_inputs(rng, 16)
    x[2][0, :] = 0             # a row with no valid id in any dynamic field
    x[2][1, :] = schema.DYNAMIC_LENGTHS  # a row with every id valid
    w = {n: p.numpy() for n, p in model.named_parameters()}
    want = reference_forward(w, x, mlp_dims, num_expert, num_output)
    got = forward(model, x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # tighter than asked, in float64 the two must agree to rounding
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_matches_numpy_reference_float32():
    model = make_net(seed=5)
    x = random_inputs(np.random.default_rng(6), 12)
    w = {n: p.numpy().astype(np.float64) for n, p in model.named_parameters()}
    want = reference_forward(w, x, [8, 8], 3, 2)
    np.testing.assert_allclose(forward(model, x), want, rtol=1e-5, atol=1e-5)


def test_padded_ids_are_ignored_valid_ids_are_not():
    model = make_net(seed=7)
    rng = np.random.default_rng(8)
    x = random_inputs(rng, 8)
    x[2][:] = 2                                   # 2 valid ids per field
    base = forward(model, x)

    padded = [a.copy() for a in x]
    dy_max = SMALL_MAX_IDXS[1]
    for j, width in enumerate(schema.DYNAMIC_LENGTHS):
        off = schema.DYNAMIC_OFFSETS[j]
        cols = slice(off + 2, off + width)
        # other valid ids (never the same one) at every padded position
        padded[1][:, cols] = (padded[1][:, cols] + 1) % (dy_max[j] + 1)
    assert not np.array_equal(padded[1], x[1])
    np.testing.assert_array_equal(forward(model, padded), base)

    for j in range(7):
        off = schema.DYNAMIC_OFFSETS[j]
        valid = [a.copy() for a in x]
        valid[1][0, off + 1] = (valid[1][0, off + 1] + 1) % (dy_max[j] + 1)
        out = forward(model, valid)
        assert abs(out[0] - base[0]) > 1e-7, "field %d valid id ignored" % j
        np.testing.assert_array_equal(out[1:], base[1:])


def test_zero_length_field_has_zero_embedding():
    model = make_net(seed=9)
    x = random_inputs(np.random.default_rng(10), 2, min_length=1)
    j = 3                                            # kw1
    off, width = schema.DYNAMIC_OFFSETS[j], schema.DYNAMIC_LENGTHS[j]
    x[2][0, j] = 0                                   # row 0: no kw1 id
    # row 1 is row 0 with other (valid-range) ids in its empty kw1 field
    for a in x:
        a[1] = a[0]
    x[1][1, off:off + width] = (x[1][0, off:off + width] + 3) % 12
    out = forward(model, x)
    assert out[0] == out[1]

    # the field contributes exactly zero: zeroing its whole table changes
    # nothing for row 0, but does change a row where the field has ids
    params = model.params()
    name = "embedding.dynamic_emb.embeddings.%d.weight" % j
    params[name] = paddle.zeros_like(params[name])
    assert forward(model, x, params)[0] == pytest.approx(out[0], abs=1e-7)
    y = [a.copy() for a in x]
    y[2][:, j] = 2
    assert abs(forward(model, y, params)[0] - forward(model, y)[0]) > 1e-6


def expected_shapes(max_idxs, mlp_dims, num_expert, num_output):
    st, dy, ad = max_idxs
    shapes = {}
    for group, maxima in (("static", st), ("dynamic", dy), ("ad", ad)):
        for i, m in enumerate(maxima):
            shapes["embedding.%s_emb.embeddings.%d.weight" % (group, i)] = \
                [m + 1, E]
    for e in range(num_expert):
        fan_in = 14 * E
        for layer, dim in enumerate(mlp_dims):
            shapes["mlp.%d.mlp.%d.weight" % (e, 2 * layer)] = [fan_in, dim]
            shapes["mlp.%d.mlp.%d.bias" % (e, 2 * layer)] = [dim]
            fan_in = dim
    for k in range(num_output):
        shapes["output_layer.%d.weight" % k] = [mlp_dims[-1], 1]
        shapes["output_layer.%d.bias" % k] = [1]
    for gate, n in (("attention_layer", num_expert),
                    ("output_attention_layer", num_output)):
        shapes[gate + ".0.weight"] = [7 * E, mlp_dims[-1]]
        shapes[gate + ".0.bias"] = [mlp_dims[-1]]
        shapes[gate + ".2.weight"] = [mlp_dims[-1], n]
        shapes[gate + ".2.bias"] = [n]
    return shapes


def test_paddlerec_parameter_names_and_shapes():
    model = net.MetaHeac(SMALL_MAX_IDXS, E, [8, 6], 3, 2)
    got = {n: list(p.shape) for n, p in model.named_parameters()}
    want = expected_shapes(SMALL_MAX_IDXS, [8, 6], 3, 2)
    assert set(got) == set(want)
    assert got == want
    # spot checks written out, as in the PaddleRec checkpoints
    assert got["mlp.0.mlp.0.weight"] == [14 * E, 8]
    assert got["attention_layer.0.weight"] == [7 * E, 6]
    assert got["embedding.dynamic_emb.embeddings.3.weight"] == [12, E]
    # a checkpoint holds exactly the parameters (no extra buffers)
    assert set(model.state_dict()) == set(want)


def test_functional_forward_with_own_params_equals_plain_forward():
    model = make_net(seed=11)
    x = random_inputs(np.random.default_rng(12), 10)
    np.testing.assert_array_equal(forward(model, x, dict(model.named_parameters())),
                                  forward(model, x))


@pytest.mark.parametrize("name", [
    "mlp.1.mlp.2.weight", "mlp.0.mlp.0.bias", "attention_layer.2.weight",
    "output_attention_layer.0.bias", "output_layer.1.weight",
    "embedding.ad_emb.embeddings.1.weight",
    "embedding.static_emb.embeddings.2.weight",
    "embedding.dynamic_emb.embeddings.0.weight"])
def test_functional_forward_uses_the_given_params(name):
    model = make_net(seed=13)
    x = random_inputs(np.random.default_rng(14), 10, min_length=1)
    base = forward(model, x)
    params = dict(model.named_parameters())
    # a random change: a constant shift of a gate's last layer would be
    # invisible (softmax is shift invariant)
    noise = np.random.default_rng(15).normal(0, 0.5, params[name].shape)
    params[name] = params[name] + paddle.to_tensor(noise.astype(np.float32))
    assert np.abs(forward(model, x, params) - base).max() > 1e-4
    # the layer's own weights are untouched
    np.testing.assert_array_equal(forward(model, x), base)


# ---------------------------------------------------------- initialisation
def _init_model(init):
    paddle.seed(3)
    # a 20k-row table, so its sample moments are tight
    maxima = [list(SMALL_MAX_IDXS[0]), list(SMALL_MAX_IDXS[1]),
              list(SMALL_MAX_IDXS[2])]
    maxima[1][3] = 19999
    return net.MetaHeac(maxima, 16, [40, 24], 3, 2, init=init)


def test_torch_init_matches_the_papers_pytorch_layers():
    """Embeddings N(0, 1) as torch.nn.Embedding; linear weights and biases
    U(+-1/sqrt(fan_in)) as torch.nn.Linear (the paper's code)."""
    model = _init_model("torch")
    params = model.params()
    table = params["embedding.dynamic_emb.embeddings.3.weight"].numpy()
    assert table.shape == (20000, 16)
    assert abs(table.mean()) < 0.01 and abs(table.std() - 1.0) < 0.01
    checked = 0
    for name, p in params.items():
        if "emb" in name:
            continue
        layer = name.rsplit(".", 1)[0]
        fan_in = params[layer + ".weight"].shape[0]  # Paddle: [in, out]
        bound = 1.0 / np.sqrt(fan_in)
        v = p.numpy().ravel()
        assert v.min() >= -bound and v.max() <= bound, name
        if v.size >= 500:   # uniform: std bound/sqrt(3), spread to the edges
            assert abs(v.std() - bound / np.sqrt(3)) < 0.1 * bound, name
            assert v.max() > 0.9 * bound and v.min() < -0.9 * bound, name
        checked += 1
    assert checked == len([n for n in params if "emb" not in n])
    # biases are not zero (Paddle's default would be)
    assert np.abs(params["mlp.0.mlp.0.bias"].numpy()).max() > 0


def test_xavier_init_is_paddles_default():
    model = _init_model("xavier")
    params = model.params()
    table = params["embedding.dynamic_emb.embeddings.3.weight"].numpy()
    limit = np.sqrt(6.0 / (20000 + 16))
    assert np.abs(table).max() <= limit and table.std() < 0.02
    assert not np.any(params["mlp.0.mlp.0.bias"].numpy())


def test_init_is_seeded_and_checked():
    a = _init_model("torch").params()
    b = _init_model("torch").params()
    assert all(np.array_equal(a[n].numpy(), b[n].numpy()) for n in a)
    with pytest.raises(ValueError, match="init"):
        net.MetaHeac(SMALL_MAX_IDXS, 4, [8], 2, 2, init="he")
