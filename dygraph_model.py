"""PaddleRec's DygraphModel for MetaHeac, and the meta mechanics both stages
share: cut the tables to the rows a set of tasks touches, pack, adapt.

Meta-training (``train_forward``) is MAML as in the paper's code: for each
task, ``inner_steps`` SGD steps on the support loss give fast weights, the
query loss is taken with them, and the meta-loss is the mean query loss; the
trainer back-propagates it and takes the Adam step. With ``meta_order: 2``
(default) the inner gradient is part of the graph (second order); with 1 it
is a constant (first-order MAML).

Meta-testing (``fine_tune_and_score``) starts every campaign from the
meta-trained weights, fine-tunes them with Adam on its seeds and scores its
candidates; ``fine_tune`` returns what the caller needs (a
:class:`FineTuning`), the model object holds no per-campaign state.

Both work on *local* weights (``local_weights``): every embedding table cut
to the rows the tasks' ids touch, each task with its own segment of rows,
and the dense weights packed with a leading task axis (``net.pack``), so that
all tasks run in one batched pass at a cost that does not grow with the
vocabulary. This is exact: a row no task touches has a zero support gradient
(its fast weight is the shared weight), no effect on the losses, and, for
Adam started afresh per campaign, zero moments and so no update.

``hyper_parameters.method`` selects a baseline on the same code path
(``DygraphModel.TRAINING_LOSS``, the one place it is read): ``pooled``
trains by plain supervised learning on the same sampled rows; ``scratch``
does no training (the trainer saves the initial weights).
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle.base.framework import EagerParamBase

import net
from dataio.schema import TABLES

# Probabilities are floored here before the log, at Keras's epsilon.
# paddle.nn.BCELoss instead clamps the log at -100, but composed from ops
# that clamp leaves 0 * (1/0) = NaN in the gradient of a saturated
# prediction. The floor must also bound the second-order MAML terms: the
# second derivative of log(p) is -1/p^2, which overflows float32 for p
# below about 1e-19: with a floor of 1e-30 a prediction of 1e-26 gives a
# NaN meta-gradient (tests/test_meta_gradient.py), the likely end of a
# 445k-row run with that floor that turned NaN at meta-batch 6,159
# (docs/experiments/quality-445k.md); at 1e-7 it stays below 1e14. The loss is unchanged for every p in [1e-7, 1 - 1e-7]; beyond, the
# loss of a row is at most 16.1 and its gradient is zero, as PyTorch's
# BCELoss bounds its own gradient (it divides by max(p(1-p), 1e-12)).
PROB_FLOOR = 1e-7
# rows scored per forward pass (at least batch_size)
SCORE_CHUNK = 16384


def task_bce(pred, label, weight=None):
    """Binary cross-entropy averaged over the last axis: [T, B] -> [T]
    (or [B] -> a scalar); with ``weight`` (as ``label``) each row's loss
    is multiplied by its weight before the average (valued seeds: the
    weights are scaled to a mean of 1 over the fine-tuning set, see
    ``audience.training_set.seed_weights``, so a batch's loss keeps the
    unweighted scale and learning rate).

    Written with log/maximum/sum because BCELoss's mean has no double-grad
    kernel; see PROB_FLOOR.
    """
    floor = paddle.full([1], PROB_FLOOR, dtype=pred.dtype)
    ll = label * paddle.log(paddle.maximum(pred, floor)) + \
        (1.0 - label) * paddle.log(paddle.maximum(1.0 - pred, floor))
    if weight is not None:
        ll = ll * weight
    return -ll.sum(axis=-1) / float(pred.shape[-1])


def campaign_rng(config, aid):
    """The random stream of one campaign's meta-test or expansion (its
    shuffles, hold-out and drawn negatives): seeded by ``runner.seed`` and
    the aid, so a campaign's scores do not depend on the campaigns before
    it or on the process that handles it."""
    return np.random.default_rng([config.get("runner.seed"),
                                  aid_entropy(aid)])


def aid_entropy(aid):
    """``aid`` as a seed sequence takes it: a seed sequence refuses
    negative numbers, and campaign ids may be signed 64-bit (hashed ids),
    so its unsigned 64-bit value; an aid >= 0 is itself, so the streams of
    such campaigns are what they always were."""
    return int(aid) & 0xFFFFFFFFFFFFFFFF


def to_tensors(inputs):
    return [paddle.to_tensor(a) for a in inputs]


def chunks(n, size):
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def holdout_split(y, share, rng):
    """Row indices ``(fit, held)`` with about ``share`` of each class held
    out (``held`` None when share is 0 or nothing can be held out). A class
    with one row stays in ``fit``: the held-out rows choose when to stop,
    they must not take the only positive away from training."""
    rows = np.arange(len(y))
    if share <= 0:
        return rows, None
    held = []
    for value in (0, 1):
        members = rows[y == value]
        count = int(round(share * len(members)))
        if len(members) > 1 and count:
            held.append(rng.permutation(members)[:min(count,
                                                      len(members) - 1)])
    if not held:
        return rows, None
    held = np.sort(np.concatenate(held))
    return np.setdiff1d(rows, held), held


def localize(x_spt, x_qry, tasks, id_map=None):
    """Remap the ids of ``tasks`` stacked tasks onto per-task local rows.

    ``x_spt``/``x_qry`` are the four input arrays of all tasks' support and
    query rows, task t's rows being the t-th of ``tasks`` equal parts.
    Returns ``(rows, x_spt, x_qry)``: ``rows[k]`` are the ids of table k
    (schema.TABLES order) to gather, task 0's, then task 1's, ..., and the
    inputs with every id replaced by its position in ``rows[k]``.

    With ``id_map`` (dataio.rare_ids) every id first becomes the row it
    reads (rare ids their field's OOV row). Meta-training, the meta-test,
    expansion's fine-tuning and export's all pass here, so they cannot
    disagree; the lookup is one gather per table on arrays being copied
    anyway. (Scoring with full tables folds the mapping into them instead:
    audience/serving.py.)
    """
    x_spt = [np.array(a) for a in x_spt]
    x_qry = [np.array(a) for a in x_qry]
    task_spt = np.arange(len(x_spt[0])) // (len(x_spt[0]) // tasks)
    task_qry = np.arange(len(x_qry[0])) // max(len(x_qry[0]) // tasks, 1)
    rows = []
    for k, table in enumerate(TABLES):
        a = x_spt[table.slot][:, table.columns]
        b = x_qry[table.slot][:, table.columns]
        if id_map is not None:
            lut = id_map.luts[k]
            a, b = lut[a], lut[b]
        span = int(max(a.max(initial=0), b.max(initial=0))) + 1
        # one key per (task, id) so each task gets its own local rows
        keys = np.concatenate([(a + task_spt[:, None] * span).ravel(),
                               (b + task_qry[:, None] * span).ravel()])
        uniq, inverse = np.unique(keys, return_inverse=True)
        rows.append(uniq % span)
        x_spt[table.slot][:, table.columns] = inverse[:a.size].reshape(a.shape)
        x_qry[table.slot][:, table.columns] = inverse[a.size:].reshape(b.shape)
    return rows, x_spt, x_qry


def local_weights(dy_model, weights, rows, tasks, sparse=False):
    """``weights`` (name -> tensor) with every table cut to ``rows`` and the
    dense weights packed for ``tasks`` tasks: the input of
    ``forward_packed``. The cut is a gather, whose gradient reaches the
    full tables (exact Adam on every row); with ``sparse`` a sparse lookup,
    whose row-sparse gradient Adam's lazy mode uses."""
    weights = dict(weights)
    for name, table_rows in zip(dy_model.table_names(), rows):
        table_rows = paddle.to_tensor(table_rows)
        weights[name] = F.embedding(table_rows, weights[name], sparse=True) \
            if sparse else paddle.gather(weights[name], table_rows)
    return dy_model.pack(weights, tasks)


def adapt(dy_model, packed, x, y, local_lr, steps, second_order,
          weight=None):
    """The inner loop: ``steps`` SGD steps of every task on its own loss
    (each row's loss times ``weight`` when given). The tasks' weights are
    disjoint slices of ``packed``, so the gradient of the summed loss is
    each task's own gradient. Meta-training adapts its tasks with it, and
    the meta-test's ``maml`` fine-tuning a campaign."""
    for _ in range(steps):
        names = list(packed)
        loss = task_bce(dy_model.forward_packed(x, packed), y, weight).sum()
        grads = paddle.grad(loss, [packed[n] for n in names],
                            create_graph=second_order)
        packed = {n: packed[n] - local_lr * g for n, g in zip(names, grads)}
    return packed


@dataclass
class FineTuning:
    """What fine-tuning one campaign gives its caller
    (``DygraphModel.fine_tune``); the model object keeps nothing of it."""
    packed: Optional[dict]   # the fine-tuned local weights (one task); None:
    #                          the model's own were tuned (localized=False)
    rows: Optional[list]     # the table rows they hold (see ``localize``)
    cand_x: list             # the candidates' inputs, remapped onto them
    trained: bool            # the optimiser ran (:func:`should_fine_tune`)
    # the pass count runner.infer_holdout kept (None without a hold-out)
    passes_kept: Optional[int] = None
    # why the weights are the meta-trained ones (None: fine-tuned)
    not_fine_tuned_because: Optional[str] = None

    @property
    def fine_tuned(self):
        return self.not_fine_tuned_because is None


def should_fine_tune(seed_y, config):
    """Whether a campaign with these seed labels is fine-tuned: not when
    ``runner.infer_train_epoch`` is 0 or it has fewer positive seeds than
    ``runner.infer_min_positives`` (its candidates are then scored by the
    meta-trained weights)."""
    return (config.get("runner.infer_train_epoch") > 0 and
            int(np.sum(seed_y)) >= config.get("runner.infer_min_positives"))


def why_not_fine_tuned(seed_y, config, passes_kept=None):
    """Why a campaign whose training labels (seeds and drawn negatives) are
    ``seed_y`` kept the meta-trained weights, or None when it was
    fine-tuned; ``passes_kept``: what the hold-out chose."""
    if not should_fine_tune(seed_y, config):
        if not config.get("runner.infer_train_epoch"):
            return "runner.infer_train_epoch is 0"
        return ("%d positive seed(s), fewer than runner.infer_min_positives "
                "%d" % (int(np.sum(seed_y)),
                        config.get("runner.infer_min_positives")))
    if config.get("hyper_parameters.optimizer.local_test_optimizer") == \
            "maml" and not config.get("hyper_parameters.inner_steps"):
        return ("hyper_parameters.inner_steps is 0 (local_test_optimizer "
                "maml takes that many steps)")
    if passes_kept == 0:
        return ("runner.infer_holdout kept 0 fine-tuning passes (the "
                "held-out seeds' loss was lowest before any)")
    return None


def _check_resolved(config):
    """Fine-tuning reads numbers: a setting still ``auto`` (meta-validated
    settings are resolved by the tools, tuning.choice.resolved) is a bug
    of the caller, named here rather than failing inside Paddle."""
    unresolved = sorted(k for k, v in config.items() if v == "auto")
    if unresolved:
        raise ValueError(
            "%s is auto and was not resolved: a tool resolves it from the "
            "checkpoint's run (tuning.choice.resolved) before fine-tuning"
            % ", ".join(unresolved))


class DygraphModel:
    def create_model(self, config):
        return net.MetaHeac(config.get("hyper_parameters.max_idxs"),
                            config.get("hyper_parameters.embed_dim"),
                            config.get("hyper_parameters.mlp_dims"),
                            config.get("hyper_parameters.num_expert"),
                            config.get("hyper_parameters.num_output"),
                            config.get("hyper_parameters.init"),
                            config.get("hyper_parameters.field_interaction"))

    def create_feeds(self, batch_data, config, id_map=None):
        """Tensors of a meta-batch, its tables localised (its rare ids
        mapped by ``id_map``)."""
        x_spt, y_spt, x_qry, y_qry = batch_data
        tasks = len(y_spt)
        rows, spt, qry = localize(x_spt, x_qry, tasks, id_map)
        return {
            "tasks": tasks,
            "rows": rows,
            "x_spt": to_tensors(spt),
            "y_spt": paddle.to_tensor(y_spt, dtype="float32"),
            "x_qry": to_tensors(qry),
            "y_qry": paddle.to_tensor(y_qry, dtype="float32"),
        }

    def create_optimizer(self, dy_model, config):
        """The meta-training (outer loop) optimizer,
        ``hyper_parameters.optimizer.class`` (Adam, the paper's)."""
        optimizer_class = {"adam": paddle.optimizer.Adam}[
            config.get("hyper_parameters.optimizer.class")]
        return optimizer_class(
            learning_rate=config.get(
                "hyper_parameters.optimizer.global_learning_rate"),
            parameters=dy_model.parameters(),
            lazy_mode=bool(config.get("hyper_parameters.optimizer.lazy_mode")))

    def create_metrics(self):
        return [paddle.metric.Auc("ROC")], ["AUC"]

    def packed_weights(self, dy_model, feeds, config):
        return local_weights(
            dy_model, dy_model.params(), feeds["rows"], feeds["tasks"],
            sparse=config.get("hyper_parameters.optimizer.lazy_mode"))

    def meta_loss(self, dy_model, feeds, config):
        """Mean query loss after adaptation, and the query predictions."""
        fast = adapt(dy_model, self.packed_weights(dy_model, feeds, config),
                     feeds["x_spt"], feeds["y_spt"],
                     config.get("hyper_parameters.local_lr"),
                     config.get("hyper_parameters.inner_steps"),
                     config.get("hyper_parameters.meta_order") == 2)
        pred = dy_model.forward_packed(feeds["x_qry"], fast)
        losses = task_bce(pred, feeds["y_qry"])
        return losses.sum() / float(feeds["tasks"]), pred

    def pooled_loss(self, dy_model, feeds, config):
        """The "pooled" baseline: plain supervised BCE on the very rows a
        meta step would see (support and query of every task), no inner
        loop; same number of gradient steps and samples as meta-training."""
        packed = self.packed_weights(dy_model, feeds, config)
        pred_s = dy_model.forward_packed(feeds["x_spt"], packed)
        pred_q = dy_model.forward_packed(feeds["x_qry"], packed)
        loss = (task_bce(pred_s, feeds["y_spt"]) +
                task_bce(pred_q, feeds["y_qry"])).sum()
        return loss / float(2 * feeds["tasks"]), pred_q

    # The one place ``hyper_parameters.method`` is read: each method's loss
    # of a meta-training step (a DygraphModel method's name). The baselines
    # share everything else with MetaHeac, sampling to meta-testing.
    # "scratch" takes no step (None): the trainer saves the seeded initial
    # weights, which meta-testing fine-tunes from.
    TRAINING_LOSS = {"metaheac": "meta_loss", "pooled": "pooled_loss",
                     "scratch": None}

    def training_loss(self, config):
        """The loss function of ``hyper_parameters.method``'s training step
        (``(dy_model, feeds, config) -> (loss, query predictions)``), None
        when the method takes no step."""
        name = self.TRAINING_LOSS[config.get("hyper_parameters.method")]
        return None if name is None else getattr(self, name)

    def takes_steps(self, config):
        """Whether meta-training takes any step with this method."""
        return self.training_loss(config) is not None

    def train_forward(self, dy_model, metric_list, batch, config):
        loss_of = self.training_loss(config)
        if loss_of is None:
            raise ValueError("hyper_parameters.method %s takes no training "
                             "step" % config.get("hyper_parameters.method"))
        feeds = self.create_feeds(batch, config, dy_model.id_map)
        loss, pred = loss_of(dy_model, feeds, config)
        if metric_list:
            pred = pred.numpy().reshape(-1)
            metric_list[0].update(preds=np.stack([1 - pred, pred], 1),
                                  labels=feeds["y_qry"].numpy().reshape(-1, 1))
        return loss, metric_list, {"loss": loss}

    @staticmethod
    def _predict(dy_model, batch_x, packed, padded=False):
        x = to_tensors(batch_x)
        if packed is None:
            return dy_model(x)
        return dy_model.forward_packed(x, packed, padded).reshape([-1])

    def infer_train_forward(self, dy_model, batch, config, packed=None):
        """Fine-tuning loss of a seed batch ``(x, y)`` or ``(x, y,
        weight)`` (valued seeds; None: unweighted); with the model's own
        weights, or with ``packed`` weights (one task's) if given."""
        batch_x, batch_y = batch[:2]
        weight = batch[2] if len(batch) > 2 else None
        pred = self._predict(dy_model, batch_x, packed)
        return task_bce(pred, paddle.to_tensor(batch_y, dtype="float32"),
                        None if weight is None else
                        paddle.to_tensor(weight, dtype="float32"))

    def infer_forward(self, dy_model, batch_x, config, packed=None,
                      padded=False):
        """Scores of a candidate batch (``padded``: see ``net.padded``)."""
        with paddle.no_grad():
            return self._predict(dy_model, batch_x, packed, padded).numpy()

    def fine_tune(self, dy_model, init_state, seed_x, seed_y, cand_x, config,
                  rng, weight=None, localized=True):
        """Fine-tune a campaign's weights on its seeds (each row's loss
        times ``weight`` when given: valued seeds), as
        ``hyper_parameters.optimizer.local_test_optimizer`` says: ``adam``
        or ``sgd`` passes (:meth:`_passes`) or ``maml`` inner-loop steps
        (:meth:`_inner_loop_steps`). Returns a :class:`FineTuning`.

        ``localized=True`` (what the tools use) fine-tunes the campaign's
        local weights: every table cut to the rows its seeds and candidates
        touch (``localize``). Adam runs over the packed tensors: it is
        elementwise, so stepping packed weights is stepping the unpacked
        ones, and rows no seed touches keep zero moments.
        ``localized=False`` is the plain computation with the model's own
        22M parameters, kept as the reference the tests and the benchmark
        compare against: both give the same scores.
        """
        _check_resolved(config)   # before any work
        if localized:
            rows, seed_x, cand_x = localize(seed_x, cand_x, 1, dy_model.id_map)
            with paddle.no_grad():
                packed = local_weights(dy_model, init_state, rows, 1)
            packed = {name: EagerParamBase.from_tensor(value.clone())
                      for name, value in packed.items()}
            trainable = list(packed.values())
        else:
            if dy_model.id_map is not None:
                seed_x, cand_x = (dy_model.id_map.apply(x)
                                  for x in (seed_x, cand_x))
            dy_model.set_state_dict(init_state)
            rows, packed, trainable = None, None, dy_model.parameters()
        trained = should_fine_tune(seed_y, config)
        passes_kept = None
        if trained:
            dy_model.train()
            if config.get("hyper_parameters.optimizer.local_test_optimizer") \
                    == "maml":
                self._inner_loop_steps(dy_model, packed, trainable, seed_x,
                                       seed_y, config, weight)
            else:
                passes_kept = self._passes(dy_model, packed, trainable,
                                           seed_x, seed_y, config, rng, weight)
            dy_model.eval()
        return FineTuning(packed, rows, cand_x, trained, passes_kept,
                          why_not_fine_tuned(seed_y, config, passes_kept))

    @staticmethod
    def _batch(x, y, weight, rows=None):
        """A fine-tuning batch: ``rows`` (None: all) of the seeds, with
        their weights when there are any."""
        if rows is not None:
            x, y = [a[rows] for a in x], y[rows]
            weight = None if weight is None else weight[rows]
        return (x, y) if weight is None else (x, y, weight)

    def _inner_loop_steps(self, dy_model, packed, trainable, x_spt, y_spt,
                          config, weight=None):
        """The inner loop's update: ``inner_steps`` full-batch SGD steps at
        ``local_lr``, by meta-training's own :func:`adapt` on the local
        weights (the plain computation, ``packed`` None, keeps its own loop:
        the tests' reference)."""
        lr = config.get("hyper_parameters.local_lr")
        steps = config.get("hyper_parameters.inner_steps")
        if packed is not None:
            fast = adapt(dy_model, packed, to_tensors(x_spt),
                         paddle.to_tensor(y_spt, dtype="float32"), lr, steps,
                         False, None if weight is None else
                         paddle.to_tensor(weight, dtype="float32"))
            with paddle.no_grad():
                for name, p in packed.items():
                    p.set_value(fast[name])
            return
        for _ in range(steps):
            loss = self.infer_train_forward(
                dy_model, self._batch(x_spt, y_spt, weight), config,
                packed=packed)
            grads = paddle.grad(loss, trainable)
            with paddle.no_grad():
                for p, g in zip(trainable, grads):
                    p.set_value(p - lr * g)

    def _passes(self, dy_model, packed, trainable, x_spt, y_spt, config, rng,
                weight=None):
        """Adam or SGD at ``local_test_learning_rate`` for
        ``infer_train_epoch`` shuffled passes in ``batch_size`` chunks. With
        ``runner.infer_holdout`` > 0 the pass count with the lowest loss on
        held-out seeds, 0 included, is kept and returned (None without a
        hold-out)."""
        kind = config.get("hyper_parameters.optimizer.local_test_optimizer")
        optimizer_class = paddle.optimizer.Adam if kind == "adam" else \
            paddle.optimizer.SGD
        optimizer = optimizer_class(
            learning_rate=config.get(
                "hyper_parameters.optimizer.local_test_learning_rate"),
            parameters=trainable)
        batch_size = config.get("hyper_parameters.batch_size")
        fit_rows, held = holdout_split(y_spt, config.get(
            "runner.infer_holdout"), rng)
        best = kept = None
        if held is not None:
            held_batch = self._batch(x_spt, y_spt, weight, held)

            def held_loss():
                with paddle.no_grad():
                    return float(self.infer_train_forward(
                        dy_model, held_batch, config, packed=packed))
            best = (held_loss(), [p.clone() for p in trainable])
            kept = 0
        for done in range(1, config.get("runner.infer_train_epoch") + 1):
            # a fresh seeded shuffle per pass, as the paper's sample(frac=1)
            order = fit_rows[rng.permutation(len(fit_rows))]
            for part in chunks(len(order), batch_size):
                loss = self.infer_train_forward(
                    dy_model, self._batch(x_spt, y_spt, weight, order[part]),
                    config, packed=packed)
                optimizer.clear_grad()
                loss.backward()
                optimizer.step()
            if best is not None:
                loss = held_loss()
                if loss < best[0]:
                    best = (loss, [p.clone() for p in trainable])
                    kept = done
        if best is not None:
            with paddle.no_grad():
                for p, value in zip(trainable, best[1]):
                    p.set_value(value)
        return kept

    def score(self, dy_model, x, config, packed=None, padded=False):
        """Scores of candidate rows. Scoring is row by row, so the chunks
        can be larger than ``batch_size`` (fewer, larger matmuls), and the
        tables' pad rows are appended once, not at every chunk (``padded``:
        ``packed`` has them already, see ``net.padded``)."""
        size = max(config.get("hyper_parameters.batch_size"), SCORE_CHUNK)
        if packed is not None and not padded:
            with paddle.no_grad():
                packed = dy_model.padded(packed)
            padded = True
        scores = [self.infer_forward(dy_model, [a[s] for a in x], config,
                                     packed, padded)
                  for s in chunks(len(x[0]), size)]
        return np.concatenate(scores) if scores else np.zeros(0, np.float32)

    def fine_tune_and_score(self, dy_model, init_state, campaign, config,
                            rng, localized=True, weight=None):
        """A campaign's (``dataio.campaign.Campaign``) candidate scores after
        fine-tuning on its seeds (:meth:`fine_tune`), and the
        :class:`FineTuning`."""
        tuned = self.fine_tune(dy_model, init_state, campaign.seed_x,
                               campaign.seed_y, campaign.cand_x, config, rng,
                               weight, localized)
        return self.score(dy_model, tuned.cand_x, config, tuned.packed), tuned
