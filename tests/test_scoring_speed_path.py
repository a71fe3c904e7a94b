"""The network's scoring mode (``net.MetaHeac.scoring``) gives the numbers
of its forward, and the table scan that runs it (audience/batch_scoring.py)
those of the per-campaign path (``DygraphModel.score`` over
``UserTable.inputs``): per user, per campaign, with several campaigns in
one pass, with their own candidate pools, and split across ranks."""
import numpy as np
import paddle
import pytest

import net
from audience import batch_scoring
from audience.expansion import expand
from audience.serving import full_weights
from dataio.campaign import TableCampaign
from dataio import schema
from dataio.user_table import UserTable, write_user_table
from dygraph_model import DygraphModel
from helpers import (SMALL_MAX_IDXS, random_inputs, randomize_parameters,
                     small_config)
from runkit.distributed import Group

TOL = 2e-6


def model_of(config, seed=0):
    model_class = DygraphModel()
    model = model_class.create_model(config)
    randomize_parameters(model, np.random.default_rng(seed), scale=0.3)
    return model_class, model, {k: v.clone()
                                for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("users") / "users"
    static, dynamic, lengths, _ = random_inputs(np.random.default_rng(3), 300)
    write_user_table(str(folder), np.arange(300) * 5 + 1,
                     np.concatenate([static, dynamic, lengths], axis=1))
    return UserTable(str(folder), schema.IdMaxima.from_config(SMALL_MAX_IDXS))


def reference(model_class, model, config, weights, table, rows, ad):
    """The per-campaign path: the network's own forward over table rows."""
    return model_class.score(model, table.inputs(rows, ad), config, weights)


def fine_tuned_weights(model_class, model, init, table, config, seed):
    """A campaign's full weights after fine-tuning on 40 table rows."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(table), 40, replace=False))
    x = table.inputs(rows, [1, 2, 3, 1, 2, 1])
    y = (rng.random(40) < 0.5).astype(np.float32)
    tuned = model_class.fine_tune(model, init, x, y, [a[:0] for a in x],
                                  config, rng)
    return full_weights(model, init, tuned.packed, tuned.rows)


LAYOUTS = [
    ((8, 8), 4096, 65536),     # the default layout: two combined tables
    ((6, ), 4096, 65536),      # one expert layer
    ((8, 6, 4), 12, 65536),    # three layers, static fields in more tables
    ((8, 8), 4096, 5),         # static fields with many ids embedded
]


@pytest.mark.parametrize("mlp_dims,combined,projected", LAYOUTS)
def test_the_scoring_mode_is_the_forward(monkeypatch, mlp_dims, combined,
                                         projected):
    """The network's own parameters: its forward and its scoring mode
    give the same scores, every user read with the campaign's ad ids."""
    monkeypatch.setattr(net, "COMBINED_ROWS", combined)
    monkeypatch.setattr(net, "PROJECTED_ROWS", projected)
    config = small_config(mlp_dims=mlp_dims)
    _, model, _ = model_of(config, seed=4)
    x = random_inputs(np.random.default_rng(7), 500)
    ad = x[schema.AD_SLOT][0]
    x[schema.AD_SLOT] = np.repeat(ad[None, :], 500, 0)
    with paddle.no_grad():
        want = model([paddle.to_tensor(a) for a in x]).numpy()
    scorer = model.scoring(ad)
    got = scorer.scores(scorer.layout.users(x))
    assert got.dtype == np.float32 and got.shape == (500, )
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("mlp_dims,combined,projected", LAYOUTS)
def test_a_campaign_scores_as_the_network(table, monkeypatch, mlp_dims,
                                          combined, projected):
    monkeypatch.setattr(net, "COMBINED_ROWS", combined)
    monkeypatch.setattr(net, "PROJECTED_ROWS", projected)
    config = small_config("hyper_parameters.batch_size=16",
                          mlp_dims=mlp_dims)
    model_class, model, init = model_of(config)
    weights = fine_tuned_weights(model_class, model, init, table, config, 1)
    ad = np.array([2, 5, 1, 3, 0, 2])
    scorer = model.scoring(ad, weights)
    layout = scorer.layout
    if projected == 5:
        assert 2 in layout.dense   # LBS (10 ids) is embedded
    rows = np.arange(len(table))
    users = layout.users(table.inputs(rows, ad))
    got = scorer.scores(users)
    want = reference(model_class, model, config, weights, table, rows, ad)
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    # the seeds' own model reads the same inputs as before
    for mine, theirs in zip(users.inputs(rows[::7], ad),
                            table.inputs(rows[::7], ad)):
        np.testing.assert_array_equal(mine, theirs)


def spy_weights(monkeypatch):
    """Records each campaign's (ad, weights) as expand builds its scoring
    mode."""
    seen = {}
    original = net.CampaignScorer.__init__

    def spying(self, network, weights, ad, layout):
        original(self, network, weights, ad, layout)
        seen[tuple(int(a) for a in ad)] = weights
    monkeypatch.setattr(net.CampaignScorer, "__init__", spying)
    return seen


def campaigns():
    rng = np.random.default_rng(5)
    out = []
    for aid in range(4):
        seeds = np.sort(rng.choice(300, 25, replace=False))
        y = None if aid % 2 else (rng.random(25) < 0.4).astype(np.float32)
        ad = np.array([aid % 6, aid + 1, 2, aid % 4, 1, aid % 4])
        # the last campaign has its own candidates: a pass of its own
        cand = np.arange(0, 300, 2) if aid == 3 else None
        out.append(TableCampaign(10 + aid, seeds, y, ad, cand))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("per_pass", [1, 3])
def test_campaigns_in_one_pass_rank_as_the_network(table, monkeypatch,
                                                   per_pass):
    monkeypatch.setattr(batch_scoring, "CAMPAIGNS_PER_PASS", per_pass)
    config = small_config("hyper_parameters.batch_size=16",
                          "expand.chunk_rows=70")
    monkeypatch.setattr(batch_scoring, "BATCH_ROWS", 32)
    model_class, model, init = model_of(config)
    seen = spy_weights(monkeypatch)
    results, skipped = expand(config, campaigns(), 0.1, model_class, model,
                              init, table=table)
    assert not skipped and [r.aid for r in results] == [10, 11, 12, 13]
    for result, campaign in zip(results, campaigns()):
        rows = table.positions(result.uid)
        pool = np.arange(300) if campaign.cand_rows is None \
            else campaign.cand_rows
        # every candidate but the seeds, in order (drawn negatives stay
        # candidates: no candidate is lost to them)
        assert np.all(np.diff(rows) > 0) and np.isin(rows, pool).all()
        assert not np.isin(rows, campaign.seed_rows).any()
        assert len(rows) == len(pool) - len(np.intersect1d(
            pool, campaign.seed_rows))
        want = reference(model_class, model, config,
                         seen[tuple(campaign.ad)], table, rows, campaign.ad)
        np.testing.assert_allclose(result.score, want, atol=TOL, rtol=0)
        # the ranking sorts the network's scores (ties within tolerance)
        ranked = want[result.order]
        assert np.all(np.diff(ranked) <= TOL)


class HalfGroup(Group):
    """Rank ``rank`` of 2, its gather fed by what the other rank gave (the
    ranks run one after the other in this process)."""

    def __init__(self, rank, store):
        super().__init__(rank, 2)
        self.store = store

    def gather(self, obj):
        self.store[self.rank] = obj
        return [self.store.get(r, []) for r in range(2)]


def test_a_collective_pass_gathers_the_one_process_scores(table, monkeypatch):
    config = small_config("hyper_parameters.batch_size=16",
                          "expand.chunk_rows=40")
    model_class, model, init = model_of(config)
    jobs = []
    for seed, ad in ((1, [1, 2, 3, 1, 2, 1]), (2, [4, 0, 1, 2, 3, 2])):
        weights = fine_tuned_weights(model_class, model, init, table, config,
                                     seed)
        jobs.append(batch_scoring.TableJob(
            seed, None, np.array([3, 50, 51, 299]),
            model.scoring(np.array(ad), weights), np.array(ad)))
    alone = batch_scoring.score_jobs(table, jobs, model.maxima, config)
    store = {}
    batch_scoring.score_jobs(table, jobs, model.maxima, config,
                             HalfGroup(0, store))
    split = batch_scoring.score_jobs(table, jobs, model.maxima, config,
                                     HalfGroup(1, store))
    for (kept_a, net_a), (kept_b, net_b) in zip(alone, split):
        np.testing.assert_array_equal(kept_a, kept_b)
        np.testing.assert_array_equal(net_a, net_b)
        assert len(kept_a) == 296 and not np.isin([3, 50, 51, 299],
                                                  kept_a).any()
