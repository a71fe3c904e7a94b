"""The MetaHeac network (Zhu et al., KDD 2021), as in the paper's code.

User fields are embedded (7 static ids, 7 multi-id fields averaged over their
valid ids), ``num_expert`` MLP experts read the user representation and a
softmax gate over the campaign representation mixes them; ``num_output``
sigmoid critics read the mixed feature and a second gate mixes them.

Parameter names match PaddleRec's metaheac model so its checkpoints load
unchanged.

Initialisation (``init``): ``"torch"``, the default, starts the weights as
the paper's PyTorch code does, because quality depends on it: every
embedding row N(0, 1) (``torch.nn.Embedding``), every linear weight and bias
uniform in +-1/sqrt(fan_in) (``torch.nn.Linear``). ``"xavier"`` keeps
Paddle's defaults (Xavier-uniform weights, zero biases), which start a table
of 263k kw1 ids within +-0.005 of zero: the rare ids then carry almost no
signal into fine-tuning, and the project trailed the paper's code by
0.03-0.05 GAUC under the paper's own settings (docs/quality.md). ``forward(x, params)`` is functional: ``params`` maps parameter
names to tensors (the adapted "fast" weights of the inner loop). The ops used
are restricted to ones with double-grad kernels in Paddle (gather, matmul,
relu, sigmoid, exp, log, sum, ...): ``F.embedding`` and ``F.softmax`` have
none, so second-order MAML through them would fail.

Field interactions (``field_interaction``): ``"none"``, the default, is the
paper's network. ``"bi"`` adds NFM's bi-interaction pooling (He and Chua,
SIGIR 2017) of the 14 user field embeddings, the sum over field pairs of
their elementwise products, as E more inputs of every expert's first layer
(same parameter names; that layer's weight is [15E, d0] instead of
[14E, d0]). Why this form rather than a field-aware FM or a cross network:
docs/method.md, *Field interactions*.

``scoring(ad, packed)`` is the network's scoring mode: the same forward in
numpy, rearranged to score a user table fast (see "scoring mode" below).
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from scipy import sparse

from dataio.schema import (AD_FIELDS, AD_SLOT, DYNAMIC_SLOT, LENGTHS_SLOT,
                           STATIC_SLOT, TABLES, IdMaxima)


INITS = ("torch", "xavier")
FIELD_INTERACTIONS = ("none", "bi")


def bi_interaction_scale(n_fields):
    """The bi-interaction's factor: 0.5 (each pair once) over the square
    root of the pair count. With the paper's N(0, 1) embeddings each of the
    n(n-1)/2 pairwise products has unit variance, so the unscaled sum's
    spread is about 9.5 for 14 fields against the embeddings' 1; the inner
    loop's fixed SGD step would then move that input's weights about 9.5
    times as far as an embedding's, and the output through them about 90
    times as much. Scaled, it starts at the embeddings' spread."""
    pairs = n_fields * (n_fields - 1) / 2.0
    return 0.5 / math.sqrt(max(pairs, 1.0))


def _embedding(rows, dim, init):
    if init == "xavier":
        return nn.Embedding(rows, dim)
    return nn.Embedding(rows, dim, weight_attr=paddle.ParamAttr(
        initializer=nn.initializer.Normal(0.0, 1.0)))


def _linear(fan_in, fan_out, init):
    if init == "xavier":
        return nn.Linear(fan_in, fan_out)
    # torch.nn.Linear: kaiming_uniform(a=sqrt(5)) on the weight is
    # U(+-1/sqrt(fan_in)), and the bias takes the same bound
    bound = 1.0 / math.sqrt(fan_in)
    uniform = paddle.ParamAttr(
        initializer=nn.initializer.Uniform(-bound, bound))
    return nn.Linear(fan_in, fan_out, weight_attr=uniform,
                     bias_attr=paddle.ParamAttr(
                         initializer=nn.initializer.Uniform(-bound, bound)))


class _Tables(nn.Layer):
    """One embedding table per field; named ``embeddings.{i}.weight``."""

    def __init__(self, maxima, embed_dim, init):
        super().__init__()
        self.embeddings = nn.LayerList(
            [_embedding(m + 1, embed_dim, init) for m in maxima])


class Emb(nn.Layer):
    def __init__(self, maxima: IdMaxima, embed_dim, init):
        super().__init__()
        # registration order as in PaddleRec: static, ad, dynamic
        self.static_emb = _Tables(maxima.static, embed_dim, init)
        self.ad_emb = _Tables(maxima.ad, embed_dim, init)
        self.dynamic_emb = _Tables(maxima.dynamic, embed_dim, init)


class MultiLayerPerceptron(nn.Layer):
    """Linear layers at even indices of ``mlp``, ReLU between (PaddleRec)."""

    def __init__(self, input_dim, dims, init):
        super().__init__()
        layers = []
        for dim in dims:
            layers += [_linear(input_dim, dim, init), nn.ReLU()]
            input_dim = dim
        self.mlp = nn.LayerList(layers)


def _gate(in_dim, hidden, n_out, init):
    return nn.Sequential(_linear(in_dim, hidden, init), nn.ReLU(),
                         _linear(hidden, n_out, init), nn.Softmax(axis=1))


def _sum_leading(x):
    """[T, n, ...] summed over axis 1, as a matmul with ones: Paddle's CPU
    reduction over a middle axis (and its gradient) is 4-8x slower."""
    tasks, n = x.shape[0], x.shape[1]
    rest = x.shape[2:]
    ones = paddle.ones([tasks, 1, n], x.dtype)
    return paddle.matmul(ones, x.reshape([tasks, n, -1])).reshape(
        [tasks] + list(rest))


def _softmax(z):
    """Softmax over axis 1 of [T, n, B]: exp/sum instead of F.softmax, which
    has no double-grad kernel; the shift is a constant for the gradient
    (softmax is shift invariant)."""
    e = paddle.exp(z - z.max(axis=1, keepdim=True).detach())
    return e / _sum_leading(e).unsqueeze(1)


class MetaHeac(nn.Layer):
    def __init__(self, max_idxs, embed_dim, mlp_dims, num_expert, num_output,
                 init="torch", field_interaction="none"):
        super().__init__()
        if init not in INITS:
            raise ValueError("init must be one of %s, got %r" % (INITS, init))
        if field_interaction not in FIELD_INTERACTIONS:
            raise ValueError(
                "hyper_parameters.field_interaction must be one of %s, got %r"
                % (FIELD_INTERACTIONS, field_interaction))
        self.field_interaction = field_interaction
        maxima = max_idxs if isinstance(max_idxs, IdMaxima) else \
            IdMaxima.from_config(max_idxs)
        self.maxima = maxima
        # the rare-id mapping (dataio.rare_ids.IdMap) the ids are read
        # through, set by the trainer or with a checkpoint; None: every id
        # its own row. Not a parameter: the state dict stays PaddleRec's.
        self.id_map = None
        self.embed_dim = embed_dim
        self.mlp_dims = list(mlp_dims)
        self.num_expert = num_expert
        self.num_output = num_output
        self.n_user_fields = len(maxima.static) + len(maxima.dynamic)
        self.embed_output_dim = self.n_user_fields * embed_dim
        # what each expert's first layer reads: the user fields'
        # embeddings, then the bi-interaction when there is one
        self.expert_input_dim = self.embed_output_dim + (
            embed_dim if field_interaction == "bi" else 0)
        self.ad_embed_dim = (len(maxima.ad) + 1) * embed_dim

        self.embedding = Emb(maxima, embed_dim, init)
        self.mlp = nn.LayerList([
            MultiLayerPerceptron(self.expert_input_dim, mlp_dims, init)
            for _ in range(num_expert)
        ])
        self.output_layer = nn.LayerList(
            [_linear(mlp_dims[-1], 1, init) for _ in range(num_output)])
        self.attention_layer = _gate(self.ad_embed_dim, mlp_dims[-1],
                                     num_expert, init)
        self.output_attention_layer = _gate(self.ad_embed_dim, mlp_dims[-1],
                                            num_output, init)

    @staticmethod
    def table_names():
        """Parameter names of the embedding tables, in schema.TABLES order."""
        return ["embedding.%s_emb.embeddings.%d.weight" % (t.group, t.index)
                for t in TABLES]

    def params(self):
        return dict(self.named_parameters())

    def forward(self, x, params=None):
        """x = [static [B,7], dynamic [B,50], lengths [B,7], ad [B,6]] ids.

        With ``params`` (name -> tensor) given, its tensors are used instead
        of the layer's own; an embedding table there may be a row subset as
        long as the ids in ``x`` index into it.
        """
        p = self.params() if params is None else params
        return self.forward_packed(x, self.pack(p, 1)).reshape([-1])

    def pack(self, params, tasks):
        """The dense weights regrouped for a batched forward of ``tasks``.

        Experts are concatenated (first layer) or stacked (further layers),
        critics concatenated, and every dense weight gets a leading task
        axis, so that all tasks of a meta-batch, each with its own fast
        weights, run in one pass of batched matmuls. Biases get a trailing
        unit axis: activations are feature-major (see ``forward_packed``).
        Packing is linear, so an SGD step on the packed weights equals
        packing the stepped weights, and Adam (elementwise) on them equals
        Adam on the unpacked ones. Tables pass through unchanged (shared by
        the tasks, which use disjoint rows of them).
        """
        def task_axis(t):
            return paddle.expand(t.unsqueeze(0), [tasks] + list(t.shape))

        experts = range(self.num_expert)
        critics = range(self.num_output)
        packed = {name: params[name] for name in self.table_names()}
        packed["experts.0.weight"] = task_axis(paddle.concat(
            [params["mlp.%d.mlp.0.weight" % e] for e in experts], 1))
        packed["experts.0.bias"] = task_axis(paddle.concat(
            [params["mlp.%d.mlp.0.bias" % e] for e in experts], 0).unsqueeze(1))
        for i in range(1, len(self.mlp_dims)):
            layer = 2 * i
            packed["experts.%d.weight" % i] = task_axis(paddle.stack(
                [params["mlp.%d.mlp.%d.weight" % (e, layer)] for e in experts]))
            packed["experts.%d.bias" % i] = task_axis(paddle.stack(
                [params["mlp.%d.mlp.%d.bias" % (e, layer)]
                 for e in experts]).unsqueeze(2))
        for gate in ("attention_layer", "output_attention_layer"):
            for i in ("0", "2"):
                packed["%s.%s.weight" % (gate, i)] = task_axis(
                    params["%s.%s.weight" % (gate, i)])
                packed["%s.%s.bias" % (gate, i)] = task_axis(
                    params["%s.%s.bias" % (gate, i)].unsqueeze(1))
        packed["critics.weight"] = task_axis(paddle.concat(
            [params["output_layer.%d.weight" % k] for k in critics], 1))
        packed["critics.bias"] = task_axis(paddle.concat(
            [params["output_layer.%d.bias" % k] for k in critics], 0).unsqueeze(1))
        return packed

    def padded(self, packed):
        """``packed`` with every multi-id table's zero pad row appended once,
        for ``forward_packed(..., padded_tables=True)`` (scoring, serving)."""
        out = dict(packed)
        for table, name in zip(TABLES, self.table_names()):
            if table.group == "dynamic":
                weight = packed[name]
                out[name] = paddle.concat(
                    [weight, paddle.zeros([1, weight.shape[1]], weight.dtype)])
        return out

    def embed(self, x, p, padded_tables=False):
        """User representation [N, 14E] and campaign representation [N, 7E].

        With ``padded_tables`` every multi-id table already ends with its
        zero pad row (a serving model stores it so, to spare the copy)."""
        return self._representations(*self._fields(x, p, padded_tables))

    def _fields(self, x, p, padded_tables):
        """The 14 user fields' embeddings and the 6 ad fields', [N, E]
        each."""
        user, ad_emb = [], []
        for table, name in zip(TABLES, self.table_names()):
            ids = x[table.slot][:, table.columns]
            if table.group == "dynamic":
                user.append(self._mean_embedding(
                    p[name], ids, x[LENGTHS_SLOT][:, table.index:table.index + 1],
                    padded_tables))
            elif table.group == "ad":
                ad_emb.append(paddle.gather(p[name], ids.reshape([-1])))
            else:
                user.append(paddle.gather(p[name], ids.reshape([-1])))
        return user, ad_emb

    @staticmethod
    def _representations(user, ad_emb):
        user_rep = paddle.concat(user, axis=1)
        user_mean = paddle.add_n(user) / float(len(user))
        return user_rep, paddle.concat([user_mean] + ad_emb, axis=1)

    @staticmethod
    def _bi_interaction(user):
        """NFM's bi-interaction of the fields' embeddings [N, E] each:
        sum over field pairs of their elementwise products, as
        0.5 * ((sum e)^2 - sum e^2), scaled (``bi_interaction_scale``).
        Elementwise ops and add_n over the list: no reduction over a
        middle axis, and every op has a double-grad kernel."""
        total = paddle.add_n(user)
        squares = paddle.add_n([u * u for u in user])
        return (total * total - squares) * bi_interaction_scale(len(user))

    def _mean_embedding(self, weight, ids, length, padded_table):
        """Mean embedding of the first ``length`` ids of each row. Padded
        positions read a zero row appended to the table, which adds nothing
        and takes no gradient (a mask multiply over [N, width, E] and its
        gradients cost more)."""
        width, dim = ids.shape[1], self.embed_dim
        if not padded_table:
            pad = paddle.zeros([1, dim], weight.dtype)
            pad.stop_gradient = False  # concat's double grad needs both
            weight = paddle.concat([weight, pad])
        valid = paddle.arange(width, dtype=length.dtype).unsqueeze(0) < length
        ids = paddle.where(valid, ids, paddle.full_like(ids, weight.shape[0] - 1))
        # position-major [width, N*E], summed over positions by a matmul;
        # the ids' columns concatenated rather than transposed (the
        # inference predictor's fused transpose has no CPU kernel)
        emb = paddle.gather(weight, paddle.concat(
            [ids[:, j] for j in range(width)]))
        total = _sum_leading(emb.reshape([1, width, -1])).reshape([-1, dim])
        count = paddle.clip(length.astype(total.dtype), min=1.0)
        return total / count

    def forward_packed(self, x, packed, padded_tables=False):
        """Scores [T, B] of T tasks' inputs stacked as N = T*B rows; the
        tables of ``packed`` are indexed by the ids in ``x`` directly.

        Activations are feature-major, [T, features, B]: each layer is
        W^T h with the transposes folded into the matmul's flags, so the
        first layer's output [T, n_exp*d0, B] is already every expert's
        [d0, B] block (a view, no copy) for the experts' batched matmuls,
        and the gate mixes the experts by an elementwise product and a sum.
        Batch-major activations needed two large transpose copies a pass.
        """
        tasks = packed["critics.weight"].shape[0]
        user, ad_emb = self._fields(x, packed, padded_tables)
        user_rep, campaign_rep = self._representations(user, ad_emb)
        if self.field_interaction == "bi":
            user_rep = paddle.concat([user_rep, self._bi_interaction(user)],
                                     axis=1)
        user_rep = user_rep.reshape([tasks, -1, self.expert_input_dim])
        campaign_rep = campaign_rep.reshape([tasks, -1, self.ad_embed_dim])
        batch = user_rep.shape[1]
        n_exp = self.num_expert

        gate = self._gate(campaign_rep, packed, "attention_layer")  # [T,E,B]
        h = F.relu(paddle.matmul(packed["experts.0.weight"], user_rep,
                                 transpose_x=True, transpose_y=True) +
                   packed["experts.0.bias"])  # [T, n_exp * d0, B]
        h = h.reshape([tasks * n_exp, self.mlp_dims[0], batch])
        for i in range(1, len(self.mlp_dims)):
            w = packed["experts.%d.weight" % i]
            b = packed["experts.%d.bias" % i]
            h = F.relu(paddle.matmul(
                w.reshape([tasks * n_exp] + list(w.shape[2:])), h,
                transpose_x=True) + b.reshape([tasks * n_exp] + list(b.shape[2:])))
        h = h.reshape([tasks, n_exp, self.mlp_dims[-1], batch])
        # an explicit expand: Paddle's broadcasting multiply has a slow
        # gradient (3-4x the expand's)
        gate = paddle.expand(gate.unsqueeze(2), h.shape)
        fea = _sum_leading(h * gate)  # [T, d_out, B]

        gate2 = self._gate(campaign_rep, packed, "output_attention_layer")
        critic = F.sigmoid(paddle.matmul(packed["critics.weight"], fea,
                                         transpose_x=True) +
                           packed["critics.bias"])  # [T, n_out, B]
        return _sum_leading(gate2 * critic)

    def scoring(self, ad, packed=None):
        """The network's scoring mode (see :class:`CampaignScorer`) for one
        campaign, ``ad`` its 6 ad ids: over one task's packed weights
        (``pack(params, 1)`` over the full tables, unpadded: a campaign's
        fine-tuned weights), or the network's own parameters."""
        if packed is None:
            with paddle.no_grad():
                packed = self.pack(self.params(), 1)
        return CampaignScorer(self, packed, ad, ScoringLayout(self.maxima))

    @staticmethod
    def _gate(rep, p, prefix):
        """Softmax gate [T, n, B] of a batch-major representation [T, B, A]."""
        hidden = F.relu(paddle.matmul(p[prefix + ".0.weight"], rep,
                                      transpose_x=True, transpose_y=True) +
                        p[prefix + ".0.bias"])
        return _softmax(paddle.matmul(p[prefix + ".2.weight"], hidden,
                                      transpose_x=True) +
                        p[prefix + ".2.bias"])


# ------------------------------------------------------------ scoring mode
#
# The network's own inference path for scoring many users of one campaign
# (a user table: audience/batch_scoring.py): the arithmetic of
# ``forward_packed`` reordered, in numpy, with about half the work and none
# of the autograd's. It exists for the speed of the table scan, and is
# tested equal to the forward to float tolerance
# (tests/test_scoring_speed_path.py):
#
# - the experts' first layer is linear in the user fields' embeddings, so a
#   static field's part of it (and of the gates' user half) is a row of a
#   projected table ``T_f @ W_f``; static fields with few ids are combined
#   into one table (carrier x consumption x age x ... = 3 456 rows with the
#   full data's vocabularies), so seven 64 x 512 products become two row
#   gathers;
# - the gates read ``[mean of the user fields, ad ids]``: the ad half is the
#   same for every user of a campaign and is added once, as a bias;
# - the multi-id fields' mean embeddings are sparse products (one CSR
#   matrix per field, weights 1/length), whose structure depends on the
#   user only and is built once per batch of users for every campaign
#   (:class:`ScoringUsers`).

# combined static tables are kept at most this many rows (their projected
# rows are ~2.5 kB: a few MB a campaign, cache-resident)
COMBINED_ROWS = 4096
# a static field with more ids than this is embedded and multiplied like
# the multi-id fields (its projected table would not fit in the cache)
PROJECTED_ROWS = 65536
GATES = ("attention_layer", "output_attention_layer")


class ScoringLayout:
    """Which user fields the scoring mode projects (static fields, grouped
    into combined tables) and which it embeds and multiplies (``dense``),
    from the id maxima; the same for every campaign of a model."""

    def __init__(self, maxima):
        sizes = [m + 1 for m in maxima.static]
        self.groups = []     # lists of static field indices
        self.dense = []      # user field indices (static, then dynamic)
        rows = None
        for i, size in enumerate(sizes):
            if size > PROJECTED_ROWS:
                self.dense.append(i)
                continue
            if rows is not None and rows * size <= COMBINED_ROWS:
                self.groups[-1].append(i)
                rows *= size
            else:
                self.groups.append([i])
                rows = size
        self.sizes = sizes
        # strides of each group's combined index (first field slowest)
        self.strides = []
        for g in self.groups:
            stride, out = 1, []
            for i in reversed(g):
                out.append(stride)
                stride *= sizes[i]
            self.strides.append(out[::-1])
        n_static = len(sizes)
        self.dense += [n_static + j for j in range(len(maxima.dynamic))]
        # rows of each user field's table
        self.vocab = sizes + [m + 1 for m in maxima.dynamic]

    def users(self, x):
        """The :class:`ScoringUsers` of a batch's id arrays ``x`` (the
        network's inputs: static, dynamic, lengths; an ad slot is
        ignored)."""
        return ScoringUsers(self, x)


class ScoringUsers:
    """The campaign-independent part of scoring a batch of users: the
    combined-table indices and each dense field's CSR matrix (weights
    1/length over its valid ids: ``_mean_embedding``'s mean; lengths are
    at most the field's width, as the readers check)."""

    def __init__(self, layout, x):
        self.x = x[:AD_SLOT]
        static = np.asarray(x[STATIC_SLOT]).astype(np.int64)
        lengths = np.asarray(x[LENGTHS_SLOT]).astype(np.int64)
        n = len(static)
        self.n = n
        self.combined = [
            (static[:, g] * np.asarray(strides, np.int64)).sum(axis=1)
            for g, strides in zip(layout.groups, layout.strides)]
        self.dense = []
        for k in layout.dense:
            table = TABLES[k]   # user field k: TABLES lists them first
            if table.group == "static":
                matrix = sparse.csr_matrix(
                    (np.ones(n, np.float32), static[:, k],
                     np.arange(n + 1)), shape=(n, layout.vocab[k]))
            else:
                j, width = table.index, table.columns.stop - \
                    table.columns.start
                length = np.minimum(lengths[:, j], width)
                valid = np.arange(width)[None, :] < length[:, None]
                ids = np.asarray(x[DYNAMIC_SLOT])[:, table.columns][
                    valid].astype(np.int64)
                weight = (1.0 / np.maximum(length, 1)).astype(np.float32)
                indptr = np.concatenate([[0], np.cumsum(length)])
                matrix = sparse.csr_matrix(
                    (np.repeat(weight, length), ids, indptr),
                    shape=(n, layout.vocab[k]))
            self.dense.append(matrix)

    def inputs(self, rows, ad):
        """The four network inputs of some of the batch's users, with the
        campaign's ad ids ``ad`` on every row (as ``UserTable.inputs``)."""
        out = [np.asarray(np.asarray(a)[rows], np.int64) for a in self.x]
        return out + [np.repeat(np.asarray(ad, np.int64)[None, :],
                                len(out[0]), 0)]


def _np(t):
    return np.asarray(t.numpy(), np.float32)


class CampaignScorer:
    """One campaign's packed weights (one task, full tables, unpadded)
    rearranged for :meth:`scores`: the network's scoring mode, built by
    ``MetaHeac.scoring``.

    With the bi-interaction (``field_interaction: bi``) the projected rows
    also carry each static field's embedding and its square, so a combined
    row holds those fields' parts of the two sums the term is made of."""

    def __init__(self, net, packed, ad, layout):
        self.layout = layout
        dim = net.embed_dim
        n_user = net.n_user_fields
        names = net.table_names()
        w1 = _np(packed["experts.0.weight"])[0]          # [14E(+E), X*d0]
        b1 = _np(packed["experts.0.bias"])[0, :, 0]
        g_w = [_np(packed[g + ".0.weight"])[0] for g in GATES]  # [7E, h]
        g_b = [_np(packed[g + ".0.bias"])[0, :, 0] for g in GATES]
        ad = np.asarray(ad, np.int64)
        ad_emb = np.concatenate([
            _np(packed[names[n_user + k]])[ad[k]]
            for k in range(len(AD_FIELDS))])
        # the gates' ad half and biases: one vector for the campaign
        gate_const = np.concatenate([w[dim:].T @ ad_emb + b
                                     for w, b in zip(g_w, g_b)])
        # the gates' user half reads the mean of the 14 fields' embeddings
        gate_user = np.concatenate([w[:dim] for w in g_w], 1) / n_user
        self.width1 = w1.shape[1]
        self.gates_end = self.width1 + gate_user.shape[1]
        self.bi = net.field_interaction == "bi"
        if self.bi:
            self.w1_bi = np.ascontiguousarray(w1[n_user * dim:], np.float32)
            self.bi_scale = np.float32(bi_interaction_scale(n_user))
        # the sums' columns start at zero: no bias
        bias = np.concatenate([b1, gate_const] +
                              ([np.zeros(2 * dim, np.float32)]
                               if self.bi else []))
        self.combined = []
        for gi, g in enumerate(layout.groups):
            table = None
            for i in g:
                rows = _np(packed[names[i]])
                proj = rows @ np.concatenate(
                    [w1[i * dim:(i + 1) * dim], gate_user], 1)
                if self.bi:
                    proj = np.concatenate([proj, rows, rows * rows], 1)
                table = proj if table is None else \
                    (table[:, None, :] + proj[None, :, :]).reshape(
                        -1, proj.shape[1])
            if gi == 0:
                table = table + bias
            self.combined.append(np.ascontiguousarray(table, np.float32))
        if not layout.groups:   # no static field projected: biases alone
            self.bias = bias.astype(np.float32)
        self.dim = dim
        self.dense_tables = [_np(packed[names[k]]) for k in layout.dense]
        self.w1_dense = np.ascontiguousarray(np.concatenate(
            [w1[k * dim:(k + 1) * dim] for k in layout.dense]), np.float32)
        self.gate_user = np.ascontiguousarray(gate_user, np.float32)
        self.g2 = [(_np(packed[g + ".2.weight"])[0],
                    _np(packed[g + ".2.bias"])[0, :, 0]) for g in GATES]
        self.layers = [(_np(packed["experts.%d.weight" % i])[0],
                        _np(packed["experts.%d.bias" % i])[0, :, :, 0])
                       for i in range(1, len(net.mlp_dims))]
        self.n_exp, self.d0 = net.num_expert, net.mlp_dims[0]
        self.hidden = g_w[0].shape[1]
        self.critic_w = _np(packed["critics.weight"])[0]
        self.critic_b = _np(packed["critics.bias"])[0, :, 0]

    def scores(self, users):
        """Scores [N] of a :class:`ScoringUsers`, as ``forward_packed``."""
        n = users.n
        if self.combined:
            pre = np.take(self.combined[0], users.combined[0], axis=0)
            for table, idx in zip(self.combined[1:], users.combined[1:]):
                pre += np.take(table, idx, axis=0)
        else:
            pre = np.repeat(self.bias[None, :], n, 0)
        dim = self.dense_tables[0].shape[1] if self.dense_tables else 0
        emb = np.empty((n, dim * len(self.dense_tables)), np.float32)
        for k, (matrix, table) in enumerate(zip(users.dense,
                                                self.dense_tables)):
            emb[:, k * dim:(k + 1) * dim] = matrix @ table
        h = emb @ self.w1_dense
        h += pre[:, :self.width1]
        # the dense fields' embeddings summed: the gates' user half
        emb_sum = emb.reshape(n, -1, dim).sum(axis=1) if dim else 0.0
        if self.bi:
            h += self._bi_interaction(pre, emb, emb_sum, dim) @ self.w1_bi
        np.maximum(h, 0, out=h)
        gh = pre[:, self.width1:self.gates_end]
        if dim:
            gh = gh + emb_sum @ self.gate_user
        np.maximum(gh, 0, out=gh)
        gates = [_np_softmax(gh[:, i * self.hidden:(i + 1) * self.hidden] @ w
                             + b) for i, (w, b) in enumerate(self.g2)]
        h = h.reshape(n, self.n_exp, self.d0).transpose(1, 0, 2)
        for w, b in self.layers:
            h = np.matmul(h, w) + b[:, None, :]
            np.maximum(h, 0, out=h)
        fea = np.einsum("enj,ne->nj", h, gates[0], optimize=False)
        critic = fea @ self.critic_w + self.critic_b
        critic = 1.0 / (1.0 + np.exp(-critic))
        return (gates[1] * critic).sum(axis=1).astype(np.float32)

    def _bi_interaction(self, pre, emb, emb_sum, dim):
        """``MetaHeac._bi_interaction`` [N, E]: the static fields' sums
        from the projected rows, the dense fields' added."""
        start = self.gates_end
        total = pre[:, start:start + self.dim]
        squares = pre[:, start + self.dim:start + 2 * self.dim]
        if dim:
            total = total + emb_sum
            squares = squares + (emb * emb).reshape(
                len(emb), -1, dim).sum(axis=1)
        return (total * total - squares) * self.bi_scale


def _np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# PaddleRec's class name, for code that imports it
WideAndDeepModel = MetaHeac
