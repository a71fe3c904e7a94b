"""Seed diagnostics (audience/diagnostics.py): the cross-validated AUC
tracks the AUC the audience realises, seed sets that tell nothing (or too
little) are warned about, drawn negatives are the CV's negatives, and the
expansion itself is unchanged by them, in both input forms."""
import json
import logging

import numpy as np
import pytest
from scipy.stats import t as student_t

from audience import diagnostics
from audience.expansion import expand
from dataio.campaign import Campaign, TableCampaign
from helpers import SMALL_MAX_IDXS, random_inputs, small_config
from support.expansion import expand_process, small_model

CONFIG = small_config("hyper_parameters.batch_size=16",
                      "runner.infer_seed_blend=0.5")


def labelled(rng, n, tells, rate=0.3):
    """``n`` rows of which ``rate`` are positive; each static field of
    more than 3 values lies, with probability ``tells``, in the lower half
    of its range for a positive and the upper half for a negative
    (``tells`` 0: labels independent of the features)."""
    x = random_inputs(rng, n)
    y = (rng.random(n) < rate).astype(np.float32)
    for j, top in enumerate(SMALL_MAX_IDXS[0]):
        if top < 3:
            continue
        half = (top + 1) // 2
        low = rng.integers(0, half, n)
        high = rng.integers(half, top + 1, n)
        tell = rng.random(n) < tells
        x[0][:, j] = np.where(tell, np.where(y == 1, low, high), x[0][:, j])
    return x, y


def telling_campaign(seed=0, tells=0.8, seeds=150, candidates=300,
                     positives_only=False):
    rng = np.random.default_rng(seed)
    seed_x, seed_y = labelled(rng, seeds, tells)
    cand_x, cand_y = labelled(rng, candidates, tells)
    if positives_only:
        seed_x = [a[seed_y == 1] for a in seed_x]
        seed_y = None
    return Campaign(seed, seed_x, 10 ** 6 + np.arange(len(seed_x[0])),
                    seed_y, cand_x, np.arange(candidates), cand_y)


def expanded(campaigns, config=CONFIG, top=0.05):
    results, skipped = expand(config, campaigns, top, *small_model(config))
    assert not skipped
    return results


# --------------------------------------------------------------- pieces
def test_the_interval_is_the_corrected_resampled_t_of_the_fold_aucs():
    values = [0.7, 0.8, 0.75, 0.9, 0.65]
    mean, (lo, hi) = diagnostics.t_interval(values)
    # 5 folds: a test fold is a quarter of its training rows
    half = student_t.ppf(0.975, 4) * np.std(values, ddof=1) * \
        np.sqrt(1 / 5 + 1 / 4)
    assert mean == pytest.approx(0.76)
    assert (lo, hi) == pytest.approx((0.76 - half, 0.76 + half))
    # clipped to what an AUC can be
    assert diagnostics.t_interval([0.9, 1.0, 1.0])[1][1] == 1.0


def test_precision_per_tier_is_pooled_over_the_folds():
    # two folds of 100: the best-scored row is positive in the first only;
    # the 5 % tier takes 5 rows of each, 6 of those 10 positive
    labels = [np.zeros(100), np.zeros(100)]
    labels[0][[0, 1, 2, 3]] = 1          # scored best first
    labels[1][[98, 97]] = 1              # scored best last: 2nd and 3rd
    scores = [np.linspace(1, 0, 100), np.linspace(0, 1, 100)]
    got = diagnostics.precision_at(labels, scores, (1, 5))
    assert got == {"1": pytest.approx(1 / 2), "5": pytest.approx(6 / 10)}


# ------------------------------------------------------ against the truth
@pytest.mark.slow
def test_expected_auc_is_within_the_tolerance_of_the_realised_one(caplog):
    """A strongly separable generated campaign, labelled seeds and labelled
    candidates: the seeds' 5-fold AUC is within 0.06 of the audience's
    AUC. Measured on 8 such draws (seeds 0-7, this config): mean absolute
    difference 0.020, largest 0.043."""
    caplog.set_level(logging.INFO)
    (result, ) = expanded([telling_campaign(seed=0)])
    d = result.summary["diagnostics"]
    assert d["folds"] == 5 and len(d["fold_aucs"]) == 5
    assert d["negatives_from"] == "seeds"
    assert abs(d["auc"] - result.summary["auc"]) < 0.06, (
        d["auc"], result.summary["auc"])
    assert d["distinctive"] is True and "warning" not in d
    lo, hi = d["auc_interval"]
    assert 0.5 < lo <= d["auc"] <= hi <= 1.0
    assert set(d["precision_at"]) == {"1", "2", "5", "10"}
    assert d["base_rate"] == pytest.approx(d["positives"] / 150)
    # a separable campaign's top tiers are mostly positives
    assert d["precision_at"]["10"] > 2 * d["base_rate"]
    assert "expected AUC %.3f" % d["auc"] in caplog.text


@pytest.mark.slow
def test_seeds_that_tell_nothing_are_not_distinctive(caplog):
    caplog.set_level(logging.WARNING)
    (result, ) = expanded([telling_campaign(seed=2, tells=0.0, seeds=100)])
    d = result.summary["diagnostics"]
    lo, hi = d["auc_interval"]
    assert lo <= 0.5 <= hi
    assert d["distinctive"] is False
    assert "not distinctive" in d["warning"]
    assert "campaign 2: seeds not distinctive" in caplog.text


def test_too_few_positives_is_too_small_to_say(caplog):
    caplog.set_level(logging.WARNING)
    campaign = telling_campaign(seed=2, seeds=40)
    campaign.seed_y[:] = 0
    campaign.seed_y[:3] = 1
    (result, ) = expanded([campaign])
    d = result.summary["diagnostics"]
    assert d["auc"] is None and d["distinctive"] is None
    assert d["positives"] == 3 and d["negatives"] == 37
    assert "3 positive and 37 negative" in d["warning"]
    assert "too few seeds" in caplog.text and "campaign 2" in caplog.text


@pytest.mark.slow
def test_drawn_negatives_are_the_negatives_of_the_cross_validation():
    config = small_config("hyper_parameters.batch_size=16",
                          "expand.negative_ratio=1")
    (result, ) = expanded([telling_campaign(seed=3, seeds=60, positives_only=True)],
                          config)
    s, d = result.summary, result.summary["diagnostics"]
    assert d["negatives_from"] == "drawn"
    assert d["positives"] == s["seed_positives"]
    assert d["negatives"] == s["negatives_drawn"] > 0
    assert d["auc"] is not None


# ------------------------------------------- the expansion is unchanged
@pytest.mark.slow
def test_off_leaves_the_audience_as_it_was_and_on_is_deterministic():
    off = small_config("hyper_parameters.batch_size=16",
                       "runner.infer_seed_blend=0.5", "expand.diagnose=False",
                       "runner.infer_holdout=0.2")
    on = dict(off, **{"expand.diagnose": True})
    campaign = telling_campaign(seed=4, seeds=60)
    (plain, ) = expanded([campaign], off)
    (first, ) = expanded([campaign], on)
    (again, ) = expanded([campaign], on)
    assert "diagnostics" not in plain.summary
    # the folds have their own streams: the campaign's is untouched, and
    # so is the pass count its own hold-out kept
    np.testing.assert_array_equal(plain.score, first.score)
    strip = {"seconds"}
    assert {k: v for k, v in plain.summary.items() if k not in strip} == \
        {k: v for k, v in first.summary.items()
         if k not in strip | {"diagnostics"}}
    d1, d2 = (dict(r.summary["diagnostics"]) for r in (first, again))
    d1.pop("seconds")
    d2.pop("seconds")
    assert d1 == d2


class _Rank:
    """Rank ``rank`` of a 2-process group whose other rank's share is
    ``other`` (None: record this rank's share and stop)."""

    def __init__(self, rank, other=None):
        self.rank, self.size, self.other = rank, 2, other
        self.active, self.leader = True, rank == 0

    def share(self, n):
        return list(range(self.rank, n, self.size))

    def gather(self, obj):
        if self.other is None:
            self.mine = obj
            raise StopIteration
        return [obj, self.other] if self.rank == 0 else [self.other, obj]


@pytest.mark.slow
def test_the_folds_split_across_ranks_give_one_record():
    model_class, model, init = small_model(CONFIG)
    campaign = telling_campaign(seed=5, seeds=60)
    args = (model_class, model, init, 5, campaign.seed_x, campaign.seed_y,
            CONFIG)
    alone = diagnostics.diagnose(*args)
    second = _Rank(1)
    with pytest.raises(StopIteration):
        diagnostics.diagnose(*args, group=second)
    assert [i for i, _ in second.mine] == [1, 3]
    split = diagnostics.diagnose(*args, group=_Rank(0, second.mine))
    for d in (alone, split):
        d.pop("seconds")
    assert split == alone


@pytest.mark.slow
def test_form_two_reports_the_same_diagnostics_as_its_arrays(users):
    _, table = users
    ad = np.array([3, 3, 3, 3, 3, 3])
    labels = (np.arange(40) % 3 == 0).astype(np.float32)
    campaign = TableCampaign(3, np.arange(40), labels, ad)
    model = small_model(CONFIG)
    (result, ), _ = expand(CONFIG, [campaign], 0.1, *model, table=table)
    d = dict(result.summary["diagnostics"])
    direct = diagnostics.diagnose(*model, 3, table.inputs(np.arange(40), ad),
                                  labels, CONFIG)
    for record in (d, direct):
        record.pop("seconds")
    assert d == direct and d["folds"] == 5 and d["positives"] == 14


# ------------------------------------------------------------ the tool
@pytest.mark.slow
def test_the_tool_reports_diagnostics_unless_told_not_to(checkpoint,
                                                         tmp_path):
    from helpers import write_frame
    rng = np.random.default_rng(6)
    seeds, cands = tmp_path / "s.pkl", tmp_path / "c.pkl"
    x_s, y_s = labelled(rng, 60, 0.8)
    x_c, y_c = labelled(rng, 80, 0.8)
    write_frame(seeds, x_s, y_s, 9, uid=np.arange(100, 160))
    write_frame(cands, x_c, y_c, 9, uid=np.arange(500, 580))
    docs = {}
    for flag in ("--diagnose", "--no-diagnose"):
        out = tmp_path / flag
        done = expand_process(checkpoint, "--seeds", str(seeds),
                              "--candidates", str(cands), "--out", str(out), flag)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        docs[flag] = json.loads((out / "summary.json").read_text())
    (on, ), (off, ) = (docs[f]["campaigns"] for f in docs)
    assert on["diagnostics"]["folds"] == 5
    assert on["diagnostics"]["auc"] is not None
    assert "diagnostics" not in off


@pytest.mark.slow
def test_two_processes_split_the_folds_and_report_what_one_does(users,
                                                                 checkpoint,
                                                                 tmp_path):
    """Form 2 under the collective launcher: each rank cross-validates its
    share of the folds; the summary is the single process's."""
    from helpers import yaml_list
    from support.launcher import launch, same_outputs, single
    folder, table = users
    lines = ["aid,uid,label"] + ["3,%d,%d" % (uid, i % 3 == 0) for i, uid in
                                 enumerate(table.uid[:40])]
    (tmp_path / "seeds.csv").write_text("\n".join(lines) + "\n")
    overrides = [
        "hyper_parameters.max_idxs=%s" % yaml_list(SMALL_MAX_IDXS),
        "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
        "hyper_parameters.num_expert=3", "hyper_parameters.num_output=2",
        "hyper_parameters.batch_size=16", "expand.chunk_rows=50",
        "expand.checkpoint=%s" % checkpoint]
    extra = ["--users", str(folder / "users"), "--seeds",
             str(tmp_path / "seeds.csv"), "--ads", str(folder / "ads.csv"),
             "--top-users", "20", "--diagnose"]
    single("expand.py", overrides, extra=extra + ["--out",
                                                  str(tmp_path / "one")])
    launch("expand.py", overrides, tmp_path / "log",
           extra=extra + ["--out", str(tmp_path / "two")])
    same_outputs(str(tmp_path / "one"), str(tmp_path / "two"))
    (camp, ) = json.loads((tmp_path / "two" / "summary.json").read_text())[
        "campaigns"]
    assert camp["diagnostics"]["folds"] == 5
    assert len(camp["diagnostics"]["fold_aucs"]) == 5


@pytest.mark.slow
def test_valued_seeds_weigh_in_the_folds_as_in_the_audiences_fit():
    """Each fold is fitted as the audience is: with the seeds' values as
    loss weights (network and regression), so the diagnostics of valued
    seeds are their own, not those of the same seeds unvalued."""
    model_class, model, init = small_model(CONFIG)
    campaign = telling_campaign(seed=5, seeds=60)
    args = (model_class, model, init, 5, campaign.seed_x, campaign.seed_y,
            CONFIG)
    plain = diagnostics.diagnose(*args)
    weight = np.where(campaign.seed_x[0][:, 0] % 2 == 0, 5.0, 0.2)
    valued = diagnostics.diagnose(*args, weight=weight)
    assert valued["fold_aucs"] != plain["fold_aucs"]
    ones = diagnostics.diagnose(*args, weight=np.ones(len(weight)))
    np.testing.assert_allclose(ones["fold_aucs"], plain["fold_aucs"],
                               atol=1e-3)
