"""A model for serving: the meta-trained weights, or one campaign's
model (fine-tuned network, seed regression and blend), as a Paddle
inference model (``paddle.jit.save``).

The saved program takes the four id arrays of a batch of users (``static``
[N, 7], ``dynamic`` [N, 50], ``lengths`` [N, 7], ``ad`` [N, 6], int64) and
returns their scores [N], as the campaign model scores them. Its weights are one task's packed weights
(``net.pack``) with each multi-id table's zero pad row already appended,
so serving runs the same ``forward_packed`` as training, without copies.
A model that reads rare ids through a mapping (dataio/rare_ids.py) has it
folded into its tables (each id's row holds the row it reads), so serving
takes the raw ids.
"""
import numpy as np
import paddle

from adaptation.blend import EPS
from dataio import schema

INPUT_NAMES = ("static", "dynamic", "lengths", "ad")


class ServingModel(paddle.nn.Layer):
    """The network's weights, and with a ``campaign``
    (``adaptation.campaign_model.CampaignModel``) whose blend is on, its
    seed regression (one width-1 table per user field) and the blend's
    constants: the program scores a user as the campaign model does."""

    def __init__(self, net, packed, campaign=None):
        super().__init__()
        # the network's layout and code, not its parameters: those saved
        # are the packed ones below
        object.__setattr__(self, "_net", net)
        with paddle.no_grad():
            packed = net.padded(packed)
        self._names = list(packed)
        for i, name in enumerate(self._names):
            self._constant("w%d" % i, packed[name].detach())
        self._blend = None
        if campaign is not None and campaign.blend is not None:
            b = self._blend = campaign.blend
            reg = campaign.regression
            # the regression's standardisation folded into its tables in
            # float64: subtracting the mean after a float32 sum loses the
            # digits that matter when its logits barely vary
            self._reg_offset = (reg.intercept - b.reg_mean) * b.reg_scale
            self._n_reg = len(reg.tables)
            for i, table in enumerate(reg.tables):
                self._constant("r%d" % i, paddle.to_tensor(
                    (table * b.reg_scale).astype("float32")))

    def record(self):
        """What a summary says of the program's scores."""
        if self._blend is None:
            return {"blend": "the network alone"}
        return {"blend": self._blend.record()}

    def _constant(self, name, value):
        weight = self.create_parameter(value.shape, dtype=value.dtype)
        weight.set_value(value)
        setattr(self, name, weight)

    def forward(self, static, dynamic, lengths, ad):
        packed = {name: getattr(self, "w%d" % i)
                  for i, name in enumerate(self._names)}
        net = self._net.forward_packed([static, dynamic, lengths, ad], packed,
                                       padded_tables=True).reshape([-1])
        if self._blend is None:
            return net
        b = self._blend
        p = paddle.clip(net, EPS, 1.0 - EPS)
        z_net = (paddle.log(p) - paddle.log(1.0 - p) - b.net_mean) * \
            b.net_scale
        z_reg = self._regression_logits(static, dynamic, lengths)
        return paddle.nn.functional.sigmoid(
            (1.0 - b.weight) * z_net + b.weight * z_reg)

    def _regression_logits(self, static, dynamic, lengths):
        """adaptation.seed_regression.SeedRegression.logits, as ops, and
        standardised (the tables hold the scaled weights)."""
        tables = [getattr(self, "r%d" % i) for i in range(self._n_reg)]
        n_static = len(schema.STATIC_FIELDS)
        out = paddle.full([paddle.shape(static)[0]], self._reg_offset,
                          "float32")
        for i in range(n_static):
            out = out + paddle.gather(tables[i], static[:, i])
        for j, (start, width) in enumerate(zip(schema.DYNAMIC_OFFSETS,
                                               schema.DYNAMIC_LENGTHS)):
            ids = dynamic[:, start:start + width]
            valid = paddle.arange(width, dtype="int64").unsqueeze(0) < \
                lengths[:, j:j + 1]
            same = ids.unsqueeze(2) == ids.unsqueeze(1)
            earlier = paddle.to_tensor(np.tril(np.ones((width, width), bool),
                                               -1)).unsqueeze(0)
            repeated = paddle.any(same & earlier & valid.unsqueeze(1),
                                  axis=2)
            keep = (valid & ~repeated).astype("float32")
            # ids past a list's length are never read, whatever they are
            ids = paddle.where(valid, ids, paddle.zeros_like(ids))
            weights = paddle.gather(tables[n_static + j],
                                    ids.reshape([-1])).reshape([-1, width])
            out = out + (weights * keep).sum(axis=1)
        return out


def full_weights(net, init_state, packed=None, rows=None):
    """One task's packed weights over the full tables: the meta-trained
    ones, or (``packed`` and ``rows`` from ``DygraphModel.fine_tune``) a
    campaign's, its fine-tuned local rows written into copies of the
    tables."""
    if packed is None:
        with paddle.no_grad():
            return fold_id_map(net, net.pack(init_state, 1))
    full = dict(packed)
    with paddle.no_grad():
        for name, table_rows in zip(net.table_names(), rows):
            full[name] = paddle.scatter(init_state[name].clone(),
                                        paddle.to_tensor(table_rows),
                                        packed[name].detach(), overwrite=True)
    return fold_id_map(net, full)


def fold_id_map(net, weights):
    """``weights`` whose full tables take raw ids: with the net's rare-id
    mapping, row ``i`` of each table becomes the row id ``i`` reads (its
    own, or its field's OOV row). Full tables are scored with raw ids
    (serving, user tables), not through ``localize``."""
    if net.id_map is None:
        return weights
    out = dict(weights)
    with paddle.no_grad():
        for name, lut in zip(net.table_names(), net.id_map.luts):
            out[name] = paddle.gather(weights[name], paddle.to_tensor(lut))
    return out


def input_spec():
    widths = dict(zip(INPUT_NAMES, schema.INPUT_WIDTHS))
    return [paddle.static.InputSpec([None, widths[n]], "int64", name=n)
            for n in INPUT_NAMES]


def save(serving_model, path_prefix):
    """Writes ``<prefix>.json`` (Paddle 3's program) and ``.pdiparams``."""
    import warnings
    serving_model.eval()
    with warnings.catch_warnings():
        # the static-graph conversion warns about tensor places it ignores
        warnings.filterwarnings("ignore", message="Tensor do not have 'place'")
        warnings.filterwarnings("ignore", message="No ccache found")
        paddle.jit.save(serving_model, path_prefix, input_spec=input_spec())
    check_saved(serving_model, path_prefix + ".pdiparams")
    return path_prefix


def check_saved(serving_model, params_file):
    """``paddle.jit.save`` says nothing when the disk fills up: the weights
    file is then cut short, and would be served as it is. It holds at
    least 4 bytes a weight."""
    import errno
    import math
    import os
    least = 4 * sum(math.prod(p.shape) for p in serving_model.parameters())
    size = os.path.getsize(params_file)
    if size < least:
        raise OSError(errno.ENOSPC, "the saved weights are cut short (%d "
                      "bytes, at least %d expected): the disk is full" % (
                          size, least), params_file)
