"""Seed diagnostics (audience/diagnostics.py): the cross-validated AUC
tracks the AUC the audience realises; three outcomes (distinctive, not
distinctive, too few seeds to judge), of which only the second is warned
about; valued seeds count by their value; repeated folds are
deterministic and narrow the estimate; drawn negatives are the CV's
negatives, and the expansion itself is unchanged by them, in both input
forms."""
import json
import logging
import os

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


def test_the_repeated_interval_reduces_to_the_single_one():
    values = [0.7, 0.8, 0.75, 0.9, 0.65, 0.72, 0.81, 0.77, 0.69, 0.74]
    mean, (lo, hi) = diagnostics.t_interval(values, folds=5)
    # 2 repeats of 5 folds: 10 values, the fold share 1/4 unchanged
    half = student_t.ppf(0.975, 9) * np.std(values, ddof=1) * \
        np.sqrt(1 / 10 + 1 / 4)
    assert (lo, hi) == pytest.approx((mean - half, mean + half))
    assert diagnostics.t_interval(values[:5], folds=5) == \
        diagnostics.t_interval(values[:5])


def test_the_verdict_has_three_outcomes_against_the_level():
    assert diagnostics.verdict([0.62, 0.9], 0.6) is True      # above
    assert diagnostics.verdict([0.41, 0.58], 0.6) is False    # below
    assert diagnostics.verdict([0.3, 0.95], 0.6) is None      # straddles
    assert diagnostics.verdict([0.55, 0.8], 0.6) is None
    assert diagnostics.verdict(None, 0.6) is None             # no numbers


def test_wilson_interval_holds_the_share_and_narrows_with_rows():
    few, many = diagnostics.wilson(0.3, 10), diagnostics.wilson(0.3, 1000)
    assert few[0] < many[0] < 0.3 < many[1] < few[1]
    assert diagnostics.wilson(0.0, 5)[0] == 0.0
    assert diagnostics.wilson(1.0, 5)[1] == 1.0


# ---------------------- constructed cases: a stand-in for the fine-tuning
class _Scorer:
    """Stands in for ``campaign_model.campaign_scores``: scores a held-out
    fold as ``tells`` times its labels (or ``by_row``, a score per row of
    the training set) plus Gaussian noise from the fold's own stream, and
    keeps the weights each fit was given."""

    def __init__(self, tells=0.0, by_row=None):
        self.tells, self.by_row, self.weights = tells, by_row, []

    def __call__(self, model_class, model, init, campaign, config, rng,
                 weight=None):
        self.weights.append(weight)
        signal = self.tells * campaign.cand_y if self.by_row is None else \
            self.by_row[campaign.cand_uid]
        return signal + rng.normal(size=len(campaign.cand_y)), None


def _diagnose(monkeypatch, scorer, n, rate=0.3, seed=0):
    from adaptation import campaign_model
    monkeypatch.setattr(campaign_model, "campaign_scores", scorer)
    rng = np.random.default_rng(seed)
    y = np.zeros(n, np.float32)
    y[rng.permutation(n)[:int(round(rate * n))]] = 1
    x = random_inputs(rng, n)
    return diagnostics.diagnose(None, None, None, 7, x, y, CONFIG), y


def test_a_telling_campaign_is_distinctive(monkeypatch):
    d, _ = _diagnose(monkeypatch, _Scorer(tells=2.0), 120)
    assert d["distinctive"] is True and d["verdict"] == "distinctive"
    assert d["auc_interval"][0] > d["level"] == 0.6
    assert "warning" not in d and d["note"].startswith("distinctive")
    assert len(d["fold_aucs"]) == d["folds"] * d["repeats"] == 10
    # the top tiers are mostly positives: informative, their intervals
    # above the base rate, lift above 1
    assert d["informative"]["10"] is True
    assert d["precision_interval"]["10"][0] > d["base_rate"]
    assert d["lift_interval"]["10"][0] > 1


def test_random_labels_with_many_seeds_are_not_distinctive(monkeypatch):
    d, _ = _diagnose(monkeypatch, _Scorer(tells=0.0), 2000)
    lo, hi = d["auc_interval"]
    assert lo < 0.5 < hi < d["level"]
    assert d["distinctive"] is False and d["verdict"] == "not distinctive"
    assert "not distinctive" in d["warning"] and "note" not in d
    assert "[%.2f, %.2f] lies below 0.60" % (lo, hi) in d["warning"]


def test_few_seeds_are_too_few_to_judge(monkeypatch):
    # a campaign that tells somewhat, of 30 seeds: the interval is wide
    d, _ = _diagnose(monkeypatch, _Scorer(tells=0.8), 30)
    lo, hi = d["auc_interval"]
    assert lo < d["level"] < hi
    assert d["distinctive"] is None
    assert d["verdict"] == "too few seeds to judge"
    assert "warning" not in d and "too few seeds to judge" in d["note"]
    # 9 positives: a tier of one or two rows per fold cannot tell its
    # precision from the base rate; the flat line is flagged uninformative
    assert d["informative"]["1"] is False
    lo1, hi1 = d["precision_interval"]["1"]
    assert lo1 <= d["base_rate"] <= hi1


def _outcome(diagnosed):
    class Outcome:
        summary = {"aid": 51, "fine_tuned": True, "seeds": 40,
                   "candidates": 300, "audience": 15, "seconds": 1.0,
                   "diagnostics": diagnosed}
    return Outcome()


def test_only_not_distinctive_is_warned_about(monkeypatch, caplog):
    from audience.expansion import _report
    caplog.set_level(logging.INFO)
    cases = {"telling": _diagnose(monkeypatch, _Scorer(tells=2.0), 120)[0],
             "few": _diagnose(monkeypatch, _Scorer(tells=0.8), 30)[0],
             "random": _diagnose(monkeypatch, _Scorer(), 2000)[0]}
    for name, d in cases.items():
        caplog.clear()
        _report(_outcome(d))
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
        if name == "random":
            (line, ) = warned
            assert line.getMessage().startswith(
                "campaign 51: seeds not distinctive")
            assert "before paying for it" in line.getMessage()
        else:
            assert warned == []
            assert "campaign 51: %s" % d["note"] in caplog.text


def test_valued_seeds_count_by_value_in_the_held_out_auc(monkeypatch):
    # the scores rank the even rows' positives first and the odd rows'
    # last; valuing the even rows' positives raises the expected AUC
    n = 200
    rng = np.random.default_rng(3)
    y = np.zeros(n, np.float32)
    y[rng.permutation(n)[:60]] = 1
    by_row = np.where(y == 1, np.where(np.arange(n) % 2 == 0, 3.0, -1.0), 0)

    def run(weight):
        from adaptation import campaign_model
        scorer = _Scorer(by_row=by_row)
        monkeypatch.setattr(campaign_model, "campaign_scores", scorer)
        x = random_inputs(np.random.default_rng(0), n)
        return diagnostics.diagnose(None, None, None, 7, x, y, CONFIG,
                                    weight=weight), scorer
    plain, scorer = run(None)
    assert all(w is None for w in scorer.weights)
    weight = np.ones(n)
    weight[(y == 1) & (np.arange(n) % 2 == 0)] = 1.8
    weight[(y == 1) & (np.arange(n) % 2 == 1)] = 0.2
    valued, scorer = run(weight)
    # each fold's fit was given its training rows' weights
    assert all(w is not None and len(w) > 0 for w in scorer.weights)
    assert valued["valued"] is True and plain["valued"] is False
    assert valued["auc"] > plain["auc"] + 0.1
    assert valued["precision_at"]["10"] > plain["precision_at"]["10"]
    same, _ = run(np.ones(n))
    assert same["fold_aucs"] == pytest.approx(plain["fold_aucs"])


def test_repeats_are_deterministic_and_narrow_the_estimate(monkeypatch):
    def auc(seed, repeats):
        from adaptation import campaign_model
        monkeypatch.setattr(campaign_model, "campaign_scores",
                            _Scorer(tells=0.6))
        rng = np.random.default_rng(11)
        y = (rng.random(80) < 0.3).astype(np.float32)
        x = random_inputs(rng, 80)
        config = CONFIG.with_overrides({"runner.seed": seed,
                                        "expand.diagnose_repeats": repeats})
        return diagnostics.diagnose(None, None, None, 7, x, y, config)
    one, again = auc(1, 3), auc(1, 3)
    one.pop("seconds")
    again.pop("seconds")
    assert one == again
    # the first repeat is the single k-fold's folds and streams
    assert auc(1, 1)["fold_aucs"] == one["fold_aucs"][:5]
    # the same seeds under 30 seeds of the run: the expected AUC varies
    # less over 4 repeats than over one
    spread = {r: np.std([auc(s, r)["auc"] for s in range(30)])
              for r in (1, 4)}
    assert spread[4] < 0.7 * spread[1], spread


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
    assert d["folds"] == 5 and len(d["fold_aucs"]) == 5 * d["repeats"]
    assert d["negatives_from"] == "seeds"
    assert abs(d["auc"] - result.summary["auc"]) < 0.06, (
        d["auc"], result.summary["auc"])
    assert d["distinctive"] is True and "warning" not in d
    lo, hi = d["auc_interval"]
    assert d["level"] < lo <= d["auc"] <= hi <= 1.0
    assert set(d["precision_at"]) == {"1", "2", "5", "10"}
    assert d["base_rate"] == pytest.approx(d["positives"] / 150)
    # a separable campaign's top tiers are mostly positives
    assert d["precision_at"]["10"] > 2 * d["base_rate"]
    assert "campaign 0: distinctive: expected AUC %.2f" % d["auc"] in \
        caplog.text


@pytest.mark.slow
def test_seeds_that_tell_nothing_are_not_called_distinctive(caplog):
    """100 seeds of labels independent of their features, fitted by the
    model: the interval holds 0.5 and is too wide to lie below the useful
    level either, so too few seeds to judge, said without a warning."""
    caplog.set_level(logging.INFO)
    (result, ) = expanded([telling_campaign(seed=2, tells=0.0, seeds=100)])
    d = result.summary["diagnostics"]
    lo, hi = d["auc_interval"]
    assert lo <= 0.5 <= hi
    assert d["distinctive"] is not True
    if d["distinctive"] is None:
        assert "warning" not in d
        assert "campaign 2: too few seeds to judge" in caplog.text
    else:
        assert "campaign 2: seeds not distinctive" in caplog.text


def test_too_few_positives_is_too_few_to_judge(caplog):
    caplog.set_level(logging.INFO)
    campaign = telling_campaign(seed=2, seeds=40)
    campaign.seed_y[:] = 0
    campaign.seed_y[:3] = 1
    (result, ) = expanded([campaign])
    d = result.summary["diagnostics"]
    assert d["auc"] is None and d["distinctive"] is None
    assert d["verdict"] == "too few seeds to judge" and "warning" not in d
    assert d["positives"] == 3 and d["negatives"] == 37
    assert "3 positive and 37 negative" in d["note"]
    # said, at INFO: no alarm
    (line, ) = [r for r in caplog.records if "too few seeds" in r.getMessage()]
    assert line.levelno == logging.INFO and "campaign 2" in line.getMessage()


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
    # the repeats' folds are shared out as one list
    assert [i for i, _ in second.mine] == list(
        range(1, 5 * CONFIG["expand.diagnose_repeats"], 2))
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
    assert len(camp["diagnostics"]["fold_aucs"]) == \
        5 * camp["diagnostics"]["repeats"]


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


def test_the_measurement_tool_needs_no_config_argument():
    from tools import measure_diagnostics as md
    argv = md.with_config(["--null", "60", "150"])
    assert argv[:2] == ["-m", os.path.normpath(md.DEFAULT_CONFIG)]
    assert os.path.isfile(argv[1]) and argv[2:] == ["--null", "60", "150"]
    assert md.with_config(["-m", "x.yaml", "--null", "60"])[:2] == \
        ["-m", "x.yaml"]
