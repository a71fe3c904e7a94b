"""tools/benchmark_blend.py: the blends it compares are computed from one
fine-tuning's scores (the measurement's pairing rests on these)."""
import numpy as np

from tools import benchmark_blend as bb


def record(n=200, seed=0, one_class=False):
    rng = np.random.default_rng(seed)
    return dict(aid=1, y=rng.integers(0, 2, n), seeds=50, w=0.5,
                net_cand=rng.uniform(0.01, 0.99, n),
                net_seed=rng.uniform(0.01, 0.99, 50),
                lr_cand=None if one_class else rng.uniform(0.01, 0.99, n),
                lr_seed=None if one_class else rng.uniform(0.01, 0.99, 50))


def test_the_rank_blend_is_the_mean_rank():
    from scipy.stats import rankdata
    r = record()
    out = bb.blends(r, 0.5)
    rank = 0.5 * rankdata(r["net_cand"]) + 0.5 * rankdata(r["lr_cand"])
    assert np.allclose(out["rank"] * len(rank), rank)
    assert np.array_equal(out["network"], r["net_cand"])
    assert np.array_equal(out["regression"], r["lr_cand"])


def test_a_standardised_blend_scores_each_user_alone():
    r = record()
    whole = bb.blends(r, 0.5)["z_seeds"]
    # the seeds' constants: scoring a subset of the candidates gives the
    # same scores to the same users
    part = dict(r, net_cand=r["net_cand"][:10], lr_cand=r["lr_cand"][:10])
    assert np.allclose(bb.blends(part, 0.5)["z_seeds"], whole[:10])
    # each part standardised: mean 0 over the candidates
    z = bb.blends(r, 0.5)["z_candidates"]
    assert abs(z.mean()) < 1e-9


def test_seeds_of_one_class_leave_the_network_alone():
    r = record(one_class=True)
    out = bb.blends(r, 0.5)
    assert all(np.array_equal(v, r["net_cand"]) for v in out.values())


def test_a_constant_part_adds_nothing():
    r = record()
    r["lr_cand"] = np.full(len(r["lr_cand"]), 0.3)
    z = bb.blends(r, 0.5)["z_candidates"]
    order = np.argsort(-z, kind="stable")
    assert np.array_equal(order, np.argsort(-r["net_cand"], kind="stable"))
