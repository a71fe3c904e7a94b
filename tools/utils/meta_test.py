"""Stage 1 and 2 of meta-testing one campaign: fine-tune on its seeds from
the meta-trained weights, then score its candidates.

``localized=True`` (what the tools use) fine-tunes only the embedding rows
the campaign's seeds and candidates use, gathered into small tables, with
its own Adam, and packs the dense weights once per campaign (the packed
tensors are the trainable leaves). It gives the plain computation's
numbers: Adam starts afresh for every campaign, so a row no seed has
touched yet has zero moments and a zero gradient, and Adam leaves it
unchanged; rows no candidate uses do not affect the scores; Adam is
elementwise, so stepping the packed weights is stepping the unpacked ones.
It just skips the dense Adam update of 22M parameters (nearly all in the
kw1/kw2 tables) and the re-packing of the dense weights at every step.
``localized=False`` is the plain computation, kept as the reference the
tests and the benchmark compare against.
"""
import numpy as np
import paddle
from paddle.base.framework import EagerParamBase

from tools.utils.localize import localize_tasks
from tools.utils.schema import AD_FIELDS, STATIC_FIELDS


def chunks(n, size):
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _local_packed(model, init_state, rows):
    """Trainable packed copies of the initial weights, tables cut to
    ``rows``, for one task."""
    params = dict(init_state)
    for name, table_rows in zip(model.table_names(), rows):
        params[name] = paddle.gather(params[name], paddle.to_tensor(table_rows))
    with paddle.no_grad():
        packed = model.pack(params, 1)
    return {name: EagerParamBase.from_tensor(value.clone())
            for name, value in packed.items()}


def finetune_and_score(model_class, model, init_state, campaign, config, rng,
                       localized=True):
    """Scores of the campaign's candidates after fine-tuning on its seeds."""
    _, x_spt, y_spt, x_qry, y_qry = campaign
    if localized:
        rows, x_spt, x_qry = localize_tasks([x_spt], [x_qry],
                                            len(STATIC_FIELDS), len(AD_FIELDS))
        packed = _local_packed(model, init_state, rows)
        trainable = list(packed.values())
    else:
        model.set_state_dict(init_state)
        packed, trainable = None, model.parameters()
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
                packed=packed)
            optimizer.clear_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    scores = [model_class.infer_forward(model, None, None,
                                        ([a[s] for a in x_qry], y_qry[s]),
                                        config, packed=packed)
              for s in chunks(len(y_qry), batch_size)]
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)
