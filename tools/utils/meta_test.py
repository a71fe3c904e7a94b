"""Stage 1 and 2 of meta-testing one campaign: fine-tune on its seeds from
the meta-trained weights, then score its candidates.

``localized=True`` (what the tools use) fine-tunes only the embedding rows
the campaign's seeds and candidates use, gathered into small tables, with
its own Adam. It gives the plain computation's numbers: Adam starts afresh
for every campaign, so a row no seed has touched yet has zero moments and a
zero gradient, and Adam leaves it unchanged; rows no candidate uses do not
affect the scores. It just skips the dense Adam update of 22M parameters
(nearly all in the kw1/kw2 tables) at every step. ``localized=False`` is
the plain computation, kept as the reference the tests and the benchmark
compare against.
"""
import numpy as np
import paddle
from paddle.base.framework import EagerParamBase

from tools.utils.localize import localize_tasks
from tools.utils.schema import AD_FIELDS, STATIC_FIELDS


def chunks(n, size):
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _local_params(model, init_state, rows):
    """Trainable copies of the initial weights, tables cut to ``rows``."""
    params = {}
    tables = dict(zip(model.table_names(), rows))
    for name, value in init_state.items():
        if name in tables:
            value = paddle.gather(value, paddle.to_tensor(tables[name]))
        params[name] = EagerParamBase.from_tensor(value.clone())
    return params


def finetune_and_score(model_class, model, init_state, campaign, config, rng,
                       localized=True):
    """Scores of the campaign's candidates after fine-tuning on its seeds."""
    _, x_spt, y_spt, x_qry, y_qry = campaign
    if localized:
        rows, x_spt, x_qry = localize_tasks([x_spt], [x_qry],
                                            len(STATIC_FIELDS), len(AD_FIELDS))
        params = _local_params(model, init_state, rows)
        trainable = list(params.values())
    else:
        model.set_state_dict(init_state)
        params, trainable = None, model.parameters()
    optimizer = paddle.optimizer.Adam(
        learning_rate=config.get(
            "hyper_parameters.optimizer.local_test_learning_rate"),
        parameters=trainable)
    batch_size = config.get("hyper_parameters.batch_size")
    model.train()
    for _ in range(config.get("runner.infer_train_epoch")):
        # a fresh seeded shuffle per pass, as the paper's sample(frac=1)
        order = rng.permutation(len(y_spt))
        for part in chunks(len(order), batch_size):
            rows = order[part]
            loss = model_class.infer_train_forward(
                model, ([a[rows] for a in x_spt], y_spt[rows]), config,
                params=params)
            optimizer.clear_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    scores = [model_class.infer_forward(model, None, None,
                                        ([a[s] for a in x_qry], y_qry[s]),
                                        config, params=params)
              for s in chunks(len(y_qry), batch_size)]
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)
