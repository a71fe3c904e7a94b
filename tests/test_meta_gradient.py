"""The meta step of dygraph_model: second-order MAML, checked numerically.

Everything here runs in float64 on a tiny model, so finite differences and
a dense (non-localised) MAML written in this file can pin the meta-loss and
its gradient down to rounding.
"""
import numpy as np
import paddle
import pytest

from dygraph_model import DygraphModel, task_bce
from helpers import random_inputs, randomize_parameters, small_config

TASKS, ROWS = 2, 5
EPS = 1e-6


def meta_config(meta_order=2, local_lr=0.5, inner_steps=1, *extra):
    return small_config(*extra,
                        "hyper_parameters.meta_order=%d" % meta_order,
                        "hyper_parameters.local_lr=%r" % float(local_lr),
                        "hyper_parameters.inner_steps=%d" % inner_steps,
                        "hyper_parameters.task_count=%d" % TASKS,
                        "hyper_parameters.batch_size=%d" % ROWS)


def make_model(config, seed=0):
    paddle.seed(seed)
    model = DygraphModel().create_model(config)
    randomize_parameters(model, np.random.default_rng(seed), scale=0.4)
    return model


def make_batch(seed=1):
    """A meta-batch as reader_train yields it: [x_spt, y_spt, x_qry, y_qry],
    the four input arrays of all tasks stacked, labels [tasks, rows]."""
    rng = np.random.default_rng(seed)
    batch = [[], [], [], []]
    for _ in range(TASKS):
        # a task is one campaign: the same ad fields on all its rows
        campaign = random_inputs(rng, 1)[3]
        for part in (0, 2):
            x = random_inputs(rng, ROWS)
            x[3] = np.repeat(campaign, ROWS, axis=0)
            batch[part].append(x)
            # both classes in every set
            y = rng.permutation(np.arange(ROWS) % 2).astype(np.float32)
            batch[part + 1].append(y)
    for part in (0, 2):
        batch[part] = [np.concatenate([x[s] for x in batch[part]])
                       for s in range(4)]
        batch[part + 1] = np.stack(batch[part + 1])
    return batch


def task_part(x, t):
    """Task t's rows of stacked input arrays."""
    return [a[t * ROWS:(t + 1) * ROWS] for a in x]


def meta_loss(model, batch, config):
    model_class = DygraphModel()
    loss, _ = model_class.meta_loss(model, model_class.create_feeds(batch, config),
                                    config)
    return loss


def meta_grads(model, batch, config):
    model.clear_gradients()
    loss = meta_loss(model, batch, config)
    loss.backward()
    grads = {n: (p.grad.numpy().copy() if p.grad is not None
                 else np.zeros(p.shape)) for n, p in model.named_parameters()}
    model.clear_gradients()
    return float(loss), grads


def finite_difference(model, batch, config, name, index):
    param = dict(model.named_parameters())[name]
    value = param.numpy().copy()
    losses = []
    for sign in (1, -1):
        moved = value.copy()
        moved[index] += sign * EPS
        param.set_value(moved)
        losses.append(float(meta_loss(model, batch, config)))
    param.set_value(value)
    return (losses[0] - losses[1]) / (2 * EPS)


CHECKED = ("mlp.1.mlp.0.weight", "mlp.0.mlp.2.weight", "mlp.2.mlp.2.bias",
           "attention_layer.0.weight", "attention_layer.2.weight",
           "output_attention_layer.2.bias", "output_layer.1.weight",
           "embedding.static_emb.embeddings.2.weight",    # LBS
           "embedding.dynamic_emb.embeddings.0.weight",   # interest1
           "embedding.ad_emb.embeddings.1.weight")        # campaignId


def picks(grads, seed=0):
    """Two entries of every checked parameter (dense layers of each kind,
    a static, a multi-id and an ad table): the largest gradient, and a
    random one among the non-negligible (table rows the tasks use)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for name in CHECKED:
        g = np.abs(grads[name])
        assert g.max() > 1e-4, "%s has no gradient to check" % name
        chosen.append((name, np.unravel_index(np.argmax(g), g.shape)))
        big = np.argwhere(g > 1e-3 * g.max())
        chosen.append((name, tuple(big[rng.integers(len(big))])))
    return chosen


# -------------------------------------------------- dense MAML (reference)
def dense_meta_loss(model, batch, config):
    """MAML written plainly: full tables, raw ids, one task at a time."""
    lr = config["hyper_parameters.local_lr"]
    second = config["hyper_parameters.meta_order"] == 2
    x_spt, y_spt, x_qry, y_qry = batch

    def loss_of(x, y, params):
        pred = model([paddle.to_tensor(a) for a in x], params)
        y = paddle.to_tensor(y.astype(np.float64))
        return -(y * paddle.log(pred) + (1 - y) * paddle.log(1 - pred)).sum() \
            / float(len(y))

    losses = []
    for t in range(TASKS):
        params = dict(model.named_parameters())
        for _ in range(config["hyper_parameters.inner_steps"]):
            names = list(params)
            grads = paddle.grad(loss_of(task_part(x_spt, t), y_spt[t], params),
                                [params[n] for n in names],
                                create_graph=second)
            params = {n: params[n] - lr * g for n, g in zip(names, grads)}
        losses.append(loss_of(task_part(x_qry, t), y_qry[t], params))
    return paddle.add_n(losses) / float(TASKS)


def dense_grads(model, batch, config):
    model.clear_gradients()
    loss = dense_meta_loss(model, batch, config)
    loss.backward()
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    model.clear_gradients()
    return float(loss), grads


# --------------------------------------------------------------------- tests
@pytest.mark.slow
def test_second_order_gradient_matches_finite_differences(float64):
    config = meta_config(meta_order=2)
    model = make_model(config)
    batch = make_batch()
    _, grads = meta_grads(model, batch, config)
    for name, index in picks(grads):
        g = grads[name][index]
        fd = finite_difference(model, batch, config, name, index)
        assert abs(g - fd) / abs(fd) < 1e-5, (name, index, g, fd)


@pytest.mark.slow
def test_first_order_differs_from_second_order(float64):
    batch = make_batch()
    first = meta_config(meta_order=1)
    second = meta_config(meta_order=2)
    model = make_model(second)
    loss2, g2 = meta_grads(model, batch, second)
    loss1, g1 = meta_grads(model, batch, first)
    # the forward value is the same MAML meta-loss...
    assert loss1 == pytest.approx(loss2, abs=1e-12)
    # ...but first-order MAML drops the inner-gradient Jacobian: far more
    # different than the 1e-5 agreement of the second-order gradient with
    # finite differences
    fd_differs = 0
    chosen = picks(g2)
    for name, index in chosen:
        fd = finite_difference(model, batch, second, name, index)
        assert abs(g2[name][index] - fd) < 1e-5 * abs(fd)
        if abs(g1[name][index] - fd) > 1e-2 * abs(fd):
            fd_differs += 1
    assert fd_differs >= len(chosen) // 2
    flat1 = np.concatenate([g.ravel() for g in g1.values()])
    flat2 = np.concatenate([g.ravel() for g in g2.values()])
    assert np.linalg.norm(flat1 - flat2) > 1e-2 * np.linalg.norm(flat2)


@pytest.mark.parametrize("meta_order, inner_steps", [(2, 1), (1, 1), (2, 2)])
def test_localised_step_equals_dense_maml(float64, meta_order, inner_steps):
    """Gathering the touched rows per task (dygraph_model) must give the
    meta-loss and meta-gradient of adapting the full tables; with
    meta_order 1 the dense reference is first-order MAML (inner gradient a
    constant), the surrogate the first-order step must follow."""
    config = meta_config(meta_order=meta_order, inner_steps=inner_steps)
    model = make_model(config, seed=2)
    batch = make_batch(seed=3)
    loss, grads = meta_grads(model, batch, config)
    want_loss, want = dense_grads(model, batch, config)
    assert loss == pytest.approx(want_loss, rel=0, abs=1e-10)
    assert set(grads) == set(want)
    for name in want:
        np.testing.assert_allclose(grads[name], want[name], rtol=0,
                                   atol=1e-10, err_msg=name)
    # the gradients are not trivially zero
    assert sum(np.abs(g).sum() for g in want.values()) > 1e-2


def test_rows_untouched_by_the_tasks_get_no_gradient(float64):
    config = meta_config()
    model = make_model(config)
    batch = make_batch()
    _, grads = meta_grads(model, batch, config)
    used = set()
    for part in (0, 2):
        used |= set(batch[part][3][:, 4].tolist())   # productId
    g = grads["embedding.ad_emb.embeddings.4.weight"]
    unused = [i for i in range(g.shape[0]) if i not in used]
    assert unused, "every productId is used: widen the table"
    assert np.all(g[unused] == 0)
    assert np.abs(g[sorted(used)]).sum() > 0


def test_two_inner_steps_give_a_different_loss(float64):
    batch = make_batch()
    model = make_model(meta_config())
    one = float(meta_loss(model, batch, meta_config(inner_steps=1)))
    two = float(meta_loss(model, batch, meta_config(inner_steps=2)))
    assert np.isfinite(two)
    assert abs(one - two) > 1e-6
    # with lr 0 adaptation does nothing, whatever the number of steps
    zero1 = float(meta_loss(model, batch, meta_config(local_lr=0.0)))
    zero2 = float(meta_loss(model, batch, meta_config(local_lr=0.0,
                                                      inner_steps=2)))
    assert zero1 == pytest.approx(zero2, abs=1e-14)


def test_meta_loss_with_zero_local_lr_is_the_plain_query_loss(float64):
    config = meta_config(local_lr=0.0)
    model = make_model(config)
    batch = make_batch()
    loss = float(meta_loss(model, batch, config))
    plain = np.mean([
        float(task_bce(model([paddle.to_tensor(a)
                              for a in task_part(batch[2], t)]),
                  paddle.to_tensor(batch[3][t].astype(np.float64))))
        for t in range(TASKS)])
    assert loss == pytest.approx(plain, abs=1e-12)


def test_bce_gradient_is_finite_at_saturated_predictions():
    pred = paddle.to_tensor([1.0, 0.5, 0.0], stop_gradient=False)
    label = paddle.to_tensor([1.0, 0.0, 0.0])
    loss = task_bce(pred, label)
    ref_pred = paddle.to_tensor([1.0, 0.5, 0.0], stop_gradient=False)
    ref = paddle.nn.BCELoss()(ref_pred, label)
    assert float(loss) == pytest.approx(float(ref), rel=1e-6)
    loss.backward()
    ref.backward()
    assert np.all(np.isfinite(pred.grad.numpy()))


def test_saturated_network_gives_finite_gradients():
    config = small_config()
    model_class = DygraphModel()
    model = model_class.create_model(config)
    for layer in model.output_layer:             # every critic says "yes"
        layer.bias.set_value(np.array([40.0], np.float32))
    x = random_inputs(np.random.default_rng(0), 6)
    y = np.array([1, 0, 1, 1, 0, 1], np.float32)
    pred = model([paddle.to_tensor(a) for a in x]).numpy()
    assert (pred == 1.0).any()
    loss = model_class.infer_train_forward(model, (x, y), config)
    assert np.isfinite(float(loss))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is None or np.isfinite(p.grad.numpy()).all(), name


@pytest.mark.parametrize("bias", [-30.0, -45.0, -60.0])
def test_second_order_step_stays_finite_at_saturated_predictions(bias):
    """Float32, as training runs. A prediction near 0 (critic logits of
    -30..-60: p from 1e-13 down to 1e-26) must not turn the meta-gradient
    into inf or NaN: the second derivative of log(p) is -1/p^2, which
    overflows float32 for p below 1e-19 unless p is floored well above
    that (from a floor of 1e-30 this test fails at p = 1e-26)."""
    config = meta_config(local_lr=0.3)
    model = make_model(config)
    with paddle.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("output_layer.") and name.endswith(".bias"):
                p.set_value(paddle.full(p.shape, bias, p.dtype))
            if name.startswith("output_layer.") and name.endswith(".weight"):
                p.set_value(paddle.zeros(p.shape, p.dtype))
    batch = make_batch()
    model_class = DygraphModel()
    loss, _, _ = model_class.train_forward(model, [], batch, config)
    assert np.isfinite(float(loss))
    loss.backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert np.all(np.isfinite(p.grad.numpy())), name
