"""PaddleRec's DygraphModel interface for MetaHeac.

The meta step (``train_forward``) is MAML as in the paper's code: for each
task, one (``inner_steps``) SGD step on the support loss gives fast weights,
the query loss is taken with them, and the meta-loss is the mean query loss;
the trainer back-propagates it and takes the Adam step. With ``meta_order: 2``
(default) the inner gradient is part of the graph (second order); with 1 it
is treated as a constant (first-order MAML).
"""
import numpy as np
import paddle

import net
from tools.utils.localize import localize

LOG_FLOOR = -100.0  # the clamp of paddle.nn.BCELoss, kept for parity


def bce(pred, label):
    """Mean binary cross-entropy, equal to ``paddle.nn.BCELoss()``.

    Written with log/maximum/sum because BCELoss's mean has no double-grad.
    """
    floor = paddle.full([1], LOG_FLOOR, dtype=pred.dtype)
    ll = label * paddle.maximum(paddle.log(pred), floor) + \
        (1.0 - label) * paddle.maximum(paddle.log(1.0 - pred), floor)
    return -ll.sum() / float(pred.shape[0])


def to_tensors(inputs):
    return [paddle.to_tensor(a) for a in inputs]


class DygraphModel:
    def create_model(self, config):
        return net.MetaHeac(config.get("hyper_parameters.max_idxs"),
                            config.get("hyper_parameters.embed_dim"),
                            config.get("hyper_parameters.mlp_dims"),
                            config.get("hyper_parameters.num_expert"),
                            config.get("hyper_parameters.num_output"))

    def create_feeds(self, batch_data, config, n_static=7, n_ad=6):
        """Tensors of a meta-batch, one dict per task, tables localised."""
        x_spt, y_spt, x_qry, y_qry = batch_data
        tasks = []
        for t in range(len(x_spt)):
            rows, (spt, qry) = localize([x_spt[t], x_qry[t]], n_static, n_ad)
            tasks.append({
                "rows": [paddle.to_tensor(r) for r in rows],
                "x_spt": to_tensors(spt),
                "y_spt": paddle.to_tensor(y_spt[t], dtype="float32"),
                "x_qry": to_tensors(qry),
                "y_qry": paddle.to_tensor(y_qry[t], dtype="float32"),
            })
        return tasks

    def create_loss(self, pred, y_label):
        return bce(pred, paddle.cast(y_label, pred.dtype))

    def create_optimizer(self, dy_model, config, mode="train"):
        key = ("hyper_parameters.optimizer.global_learning_rate"
               if mode == "train" else
               "hyper_parameters.optimizer.local_test_learning_rate")
        return paddle.optimizer.Adam(learning_rate=config.get(key),
                                     parameters=dy_model.parameters())

    def create_metrics(self):
        return [paddle.metric.Auc("ROC")], ["AUC"]

    def adapt(self, dy_model, params, x, y, config):
        """Inner loop: ``inner_steps`` SGD steps on (x, y) from ``params``."""
        local_lr = config.get("hyper_parameters.local_lr")
        second_order = config.get("hyper_parameters.meta_order") == 2
        for _ in range(config.get("hyper_parameters.inner_steps")):
            names = list(params)
            loss = bce(dy_model(x, params), y)
            grads = paddle.grad(loss, [params[n] for n in names],
                                create_graph=second_order)
            params = {n: params[n] - local_lr * g for n, g in zip(names, grads)}
        return params

    def meta_loss(self, dy_model, tasks, config):
        """Mean query loss after adaptation, and the query predictions."""
        shared = dy_model.params()
        tables = dy_model.table_names()
        losses, preds = [], []
        for task in tasks:
            params = dict(shared)
            for name, rows in zip(tables, task["rows"]):
                params[name] = paddle.gather(shared[name], rows)
            fast = self.adapt(dy_model, params, task["x_spt"], task["y_spt"],
                              config)
            pred = dy_model(task["x_qry"], fast)
            losses.append(bce(pred, task["y_qry"]))
            preds.append(pred)
        return paddle.add_n(losses) / float(len(losses)), preds

    def train_forward(self, dy_model, metric_list, batch, config):
        tasks = self.create_feeds(batch, config)
        loss, preds = self.meta_loss(dy_model, tasks, config)
        if metric_list:
            pred = np.concatenate([p.numpy() for p in preds])
            label = np.concatenate([t["y_qry"].numpy() for t in tasks])
            metric_list[0].update(preds=np.stack([1 - pred, pred], 1),
                                  labels=label.reshape(-1, 1))
        return loss, metric_list, {"loss": loss}

    def infer_train_forward(self, dy_model, batch, config):
        batch_x, batch_y = batch
        pred = dy_model(to_tensors(batch_x))
        return bce(pred, paddle.to_tensor(batch_y, dtype="float32"))

    def infer_forward(self, dy_model, metric_list, metric_list_local, batch,
                      config):
        """Scores of a candidate batch; also fed to the AUC metrics."""
        batch_x, batch_y = batch
        with paddle.no_grad():
            pred = dy_model(to_tensors(batch_x)).numpy()
        both = np.stack([1 - pred, pred], 1)
        for metrics in (metric_list, metric_list_local):
            if metrics:
                metrics[0].update(preds=both, labels=np.asarray(batch_y).reshape(-1, 1))
        return pred
