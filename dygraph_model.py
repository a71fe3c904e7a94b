"""PaddleRec's DygraphModel interface for MetaHeac.

The meta step (``train_forward``) is MAML as in the paper's code: for each
task, one (``inner_steps``) SGD step on the support loss gives fast weights,
the query loss is taken with them, and the meta-loss is the mean query loss;
the trainer back-propagates it and takes the Adam step. With ``meta_order: 2``
(default) the inner gradient is part of the graph (second order); with 1 it
is treated as a constant (first-order MAML).

``hyper_parameters.method`` selects a baseline with the same code path:
``pooled`` trains by plain supervised learning on the same sampled rows;
``scratch`` does no training at all (the trainer saves the initial weights),
so meta-testing fine-tunes from random weights.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

import net
from tools.utils.localize import localize_tasks
from tools.utils.schema import AD_FIELDS, STATIC_FIELDS

# Probabilities are floored here before the log. paddle.nn.BCELoss instead
# clamps the log at -100, but composed from ops that clamp leaves
# 0 * (1/0) = NaN in the gradient of a saturated prediction; flooring the
# argument at 1e-30 keeps it finite (1/1e-30 fits float32). The two agree
# for every probability in [1e-30, 1 - 1e-30]; at exact saturation the
# loss is 69 per row instead of 100.
PROB_FLOOR = 1e-30


def task_bce(pred, label):
    """Binary cross-entropy averaged over the last axis: [T, B] -> [T].

    Written with log/maximum/sum because BCELoss's mean has no double-grad
    kernel; see PROB_FLOOR.
    """
    floor = paddle.full([1], PROB_FLOOR, dtype=pred.dtype)
    ll = label * paddle.log(paddle.maximum(pred, floor)) + \
        (1.0 - label) * paddle.log(paddle.maximum(1.0 - pred, floor))
    return -ll.sum(axis=-1) / float(pred.shape[-1])


def bce(pred, label):
    """Mean binary cross-entropy of a batch [B]."""
    return task_bce(pred, label)


def to_tensors(inputs):
    return [paddle.to_tensor(a) for a in inputs]


class DygraphModel:
    def create_model(self, config):
        return net.MetaHeac(config.get("hyper_parameters.max_idxs"),
                            config.get("hyper_parameters.embed_dim"),
                            config.get("hyper_parameters.mlp_dims"),
                            config.get("hyper_parameters.num_expert"),
                            config.get("hyper_parameters.num_output"))

    def create_feeds(self, batch_data, config):
        """Tensors of a meta-batch: all tasks stacked, tables localised."""
        x_spt, y_spt, x_qry, y_qry = batch_data
        rows, spt, qry = localize_tasks(x_spt, x_qry, len(STATIC_FIELDS),
                                        len(AD_FIELDS))
        return {
            "tasks": len(x_spt),
            "rows": [paddle.to_tensor(r) for r in rows],
            "x_spt": to_tensors(spt),
            "y_spt": paddle.to_tensor(np.stack(y_spt), dtype="float32"),
            "x_qry": to_tensors(qry),
            "y_qry": paddle.to_tensor(np.stack(y_qry), dtype="float32"),
        }

    def create_loss(self, pred, y_label):
        return bce(pred, paddle.cast(y_label, pred.dtype))

    def create_optimizer(self, dy_model, config, mode="train"):
        key = ("hyper_parameters.optimizer.global_learning_rate"
               if mode == "train" else
               "hyper_parameters.optimizer.local_test_learning_rate")
        lazy = mode == "train" and config.get(
            "hyper_parameters.optimizer.lazy_mode")
        return paddle.optimizer.Adam(learning_rate=config.get(key),
                                     parameters=dy_model.parameters(),
                                     lazy_mode=bool(lazy))

    def create_metrics(self):
        return [paddle.metric.Auc("ROC")], ["AUC"]

    def adapt(self, dy_model, packed, x, y, config):
        """Inner loop: ``inner_steps`` SGD steps of every task on its own
        support loss. The tasks' weights are disjoint slices of ``packed``,
        so the gradient of the summed loss is each task's own gradient."""
        local_lr = config.get("hyper_parameters.local_lr")
        second_order = config.get("hyper_parameters.meta_order") == 2
        for _ in range(config.get("hyper_parameters.inner_steps")):
            names = list(packed)
            loss = task_bce(dy_model.forward_packed(x, packed), y).sum()
            grads = paddle.grad(loss, [packed[n] for n in names],
                                create_graph=second_order)
            packed = {n: packed[n] - local_lr * g for n, g in zip(names, grads)}
        return packed

    def meta_loss(self, dy_model, feeds, config):
        """Mean query loss after adaptation, and the query predictions."""
        params = self.local_params(dy_model, feeds, config)
        packed = dy_model.pack(params, feeds["tasks"])
        fast = self.adapt(dy_model, packed, feeds["x_spt"], feeds["y_spt"],
                          config)
        pred = dy_model.forward_packed(feeds["x_qry"], fast)
        losses = task_bce(pred, feeds["y_qry"])
        return losses.sum() / float(feeds["tasks"]), pred

    def local_params(self, dy_model, feeds, config):
        """The shared weights with every table cut to the meta-batch's rows.

        With ``optimizer.lazy_mode`` the cut is a sparse embedding lookup, so
        the tables' gradients are row-sparse and Adam updates only the rows
        this meta-batch touched (an approximation, opt-in). Otherwise it is
        a gather, whose gradient is dense: exact Adam on every row.
        """
        params = dy_model.params()
        lazy = config.get("hyper_parameters.optimizer.lazy_mode")
        for name, rows in zip(dy_model.table_names(), feeds["rows"]):
            params[name] = F.embedding(rows, params[name], sparse=True) \
                if lazy else paddle.gather(params[name], rows)
        return params

    def pooled_loss(self, dy_model, feeds, config):
        """The "pooled" baseline: plain supervised BCE on the very rows a
        meta step would see (support and query of every task), no inner
        loop; same number of gradient steps and samples as meta-training."""
        params = self.local_params(dy_model, feeds, config)
        packed = dy_model.pack(params, feeds["tasks"])
        pred_s = dy_model.forward_packed(feeds["x_spt"], packed)
        pred_q = dy_model.forward_packed(feeds["x_qry"], packed)
        loss = (task_bce(pred_s, feeds["y_spt"]) +
                task_bce(pred_q, feeds["y_qry"])).sum()
        return loss / float(2 * feeds["tasks"]), pred_q

    def train_forward(self, dy_model, metric_list, batch, config):
        feeds = self.create_feeds(batch, config)
        if config.get("hyper_parameters.method") == "pooled":
            loss, pred = self.pooled_loss(dy_model, feeds, config)
        else:
            loss, pred = self.meta_loss(dy_model, feeds, config)
        if metric_list:
            pred = pred.numpy().reshape(-1)
            metric_list[0].update(preds=np.stack([1 - pred, pred], 1),
                                  labels=feeds["y_qry"].numpy().reshape(-1, 1))
        return loss, metric_list, {"loss": loss}

    @staticmethod
    def _predict(dy_model, batch_x, packed):
        x = to_tensors(batch_x)
        if packed is None:
            return dy_model(x)
        return dy_model.forward_packed(x, packed).reshape([-1])

    def infer_train_forward(self, dy_model, batch, config, packed=None):
        """Fine-tuning loss of a seed batch; with the model's own weights,
        or with ``packed`` weights (``net.pack`` of one task) if given."""
        batch_x, batch_y = batch
        pred = self._predict(dy_model, batch_x, packed)
        return bce(pred, paddle.to_tensor(batch_y, dtype="float32"))

    def infer_forward(self, dy_model, metric_list, metric_list_local, batch,
                      config, packed=None):
        """Scores of a candidate batch; also fed to the AUC metrics."""
        batch_x, batch_y = batch
        with paddle.no_grad():
            pred = self._predict(dy_model, batch_x, packed).numpy()
        both = np.stack([1 - pred, pred], 1)
        for metrics in (metric_list, metric_list_local):
            if metrics:
                metrics[0].update(preds=both, labels=np.asarray(batch_y).reshape(-1, 1))
        return pred
