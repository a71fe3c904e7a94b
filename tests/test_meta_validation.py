"""Meta-validation (tuning/): campaigns held out of meta-training, cut
into seeds and candidates, a grid searched on them, the choice recorded in
run.json and applied by the tools unless the config sets the key."""
import json
import logging

import numpy as np
import pytest

from dataio.campaigns import CampaignIndex
from helpers import run_tool, small_config
from dataio import holdout
from tuning import choice, search


def index_of(counts, positives, seed=0):
    """A campaign index and labels: campaign k has counts[k] rows,
    positives[k] of them positive."""
    rng = np.random.default_rng(seed)
    aid = np.concatenate([np.full(c, 100 + k) for k, c in enumerate(counts)])
    y = np.zeros(len(aid), np.float32)
    for k, (c, p) in enumerate(zip(counts, positives)):
        rows = np.flatnonzero(aid == 100 + k)
        y[rng.choice(rows, p, replace=False)] = 1
    perm = rng.permutation(len(aid))
    return CampaignIndex(aid[perm]), y[perm]


def test_held_out_campaigns_are_seeded_eligible_and_never_all():
    index, y = index_of([50] * 20 + [50, 50], [10] * 20 + [1, 50])
    config = small_config("tuning.share=0.2", "runner.seed=5")
    held = holdout.held_out_campaigns(index, y, config)
    assert len(held) == 4 and list(held) == sorted(held)
    # campaigns 20 (1 positive) and 21 (no negative) cannot be split
    assert 20 not in held and 21 not in held
    again = holdout.held_out_campaigns(index, y, config)
    assert np.array_equal(held, again)
    other = holdout.held_out_campaigns(
        index, y, small_config("tuning.share=0.2", "runner.seed=6"))
    assert not np.array_equal(held, other)
    assert len(holdout.held_out_campaigns(
        index, y, small_config("tuning.share=0"))) == 0
    # at most a quarter held out; fewer than min_campaigns: none
    many = holdout.held_out_campaigns(index, y, small_config("tuning.share=0.9"))
    assert len(many) == 22 // 4
    few, fy = index_of([50] * 11, [10] * 11)
    assert len(holdout.held_out_campaigns(
        few, fy, small_config("tuning.share=0.5"))) == 0


def test_a_held_out_campaign_is_cut_like_a_test_campaign():
    y = np.zeros(600, np.float32)
    y[:60] = 1
    cuts = holdout.split(y, np.random.default_rng(0), 8000, 3000, folds=3,
                         cold_seeds=40)
    assert len(cuts) == 3
    every = np.concatenate([cand for cand, _, _ in cuts])
    assert np.array_equal(np.sort(every), np.arange(600))  # a candidate once
    for cand, hot, cold in cuts:
        assert len(np.intersect1d(cand, hot)) == 0 and set(cold) <= set(hot)
        assert len(cand) == 200 and len(hot) == 400 and len(cold) == 40
        for part in (cand, hot, cold):   # stratified: the campaign's rate
            assert abs(y[part].mean() - 0.1) < 0.02
    cuts = holdout.split(y, np.random.default_rng(0), 100, 50, folds=2,
                         cold_seeds=300)
    for cand, hot, cold in cuts:   # a campaign too small: all its seeds
        assert len(cand) == 50 and len(hot) == 100 and len(cold) == 100


def test_the_reader_never_draws_a_held_out_campaign(tmp_path):
    import reader_train
    from dataio.stage_files import StageArrays
    from helpers import random_inputs
    rng = np.random.default_rng(1)
    index_aid = np.repeat(np.arange(12), 40)
    x = random_inputs(rng, len(index_aid))
    y = (rng.random(len(index_aid)) < 0.3).astype(np.float32)
    stage = StageArrays.from_features("mem", y, index_aid,
                                      np.concatenate(x, axis=1))
    for method in ("normal", "sqrt", "unit"):
        config = small_config("tuning.share=0.3", "hyper_parameters.batch_size=8",
                              "hyper_parameters.sample_method=%s" % method)
        data = reader_train.RecDataset([], config, stage=stage)
        held = set(data.index.aids[data.validation].tolist())
        assert len(held) == 3
        drawn = set()
        for _ in range(200):
            drawn.update(data.index.aids[data.sample_tasks()].tolist())
        assert drawn == set(range(12)) - held
        assert len(data) == int(np.ceil(9 * 40 / 8))


def test_resolve_prefers_the_config_then_the_run_then_the_paper(caplog):
    manifest = {"meta_validation": {"chosen": {
        choice.LEARNING_RATE: 0.01, choice.PASSES: 5, choice.SEED_BLEND: 0.5}}}
    config = small_config()  # resolved to the fallback by the helper
    paper = choice.fallback()
    assert config[choice.PASSES] == paper[choice.PASSES]
    assert config[choice.SEED_BLEND] == paper[choice.SEED_BLEND]
    auto = dict(config)
    auto.update({k: "auto" for k in choice.SEARCHED})
    auto[choice.PASSES] = 3            # the user's
    with caplog.at_level(logging.INFO, logger="metaheac"):
        resolved, sources = choice.resolved(auto, manifest)
    assert resolved[choice.LEARNING_RATE] == 0.01
    assert resolved[choice.SEED_BLEND] == 0.5
    assert resolved[choice.PASSES] == 3 and sources[choice.PASSES] == "config"
    assert "meta-validated 5 is not used" in caplog.text
    # a new config: the one given is left as it was
    assert auto[choice.LEARNING_RATE] == "auto" and resolved is not auto
    bare = dict(config)
    bare.update({k: "auto" for k in choice.SEARCHED})
    resolved, sources = choice.resolved(bare, None)
    assert set(sources.values()) == {"fallback"}
    assert resolved[choice.LEARNING_RATE] == paper[choice.LEARNING_RATE]


def test_fine_tuning_with_an_unresolved_auto_key_is_an_error():
    from dygraph_model import DygraphModel
    config = small_config().with_overrides({choice.PASSES: "auto"})
    with pytest.raises(ValueError, match="infer_train_epoch is auto"):
        # before any work: no model is touched
        DygraphModel().fine_tune(None, None, None, np.ones(3), None, config,
                                 None)


@pytest.mark.parametrize("bad", ["tuning.passes=[]", "tuning.passes=[1.5]",
                                 "tuning.seed_blends=[0,2]",
                                 "tuning.learning_rates=[0]",
                                 "runner.infer_seed_blend=fast",
                                 "tuning.share=1"])
def test_bad_grids_are_refused_naming_the_key(bad):
    from runkit.config import ConfigError
    with pytest.raises(ConfigError, match=bad.split("=")[0].replace(".", r"\.")):
        small_config(bad)


SMALL = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
         "hyper_parameters.num_expert=2", "hyper_parameters.num_output=2",
         "hyper_parameters.batch_size=512", "runner.print_interval=100",
         "tuning.learning_rates=[0.001,0.01]", "tuning.passes=[1,2]",
         "tuning.seed_blends=[0,0.5]"]


@pytest.mark.slow
def test_the_trainer_records_the_choice_and_the_meta_test_applies_it(tmp_path):
    folder = tmp_path / "run"
    done = run_tool("trainer.py", SMALL + ["runner.model_save_path=%s" % folder])
    assert done.returncode == 0, done.stdout[-3000:]
    manifest = json.loads((folder / "run.json").read_text())
    mv = manifest["meta_validation"]
    assert len(mv["campaigns"]) == 4 and len(mv["grid"]) == 8
    best = max(mv["grid"], key=lambda r: r["score"])
    assert mv["chosen"] == best["settings"]
    assert "<- chosen" in done.stdout
    # announced with its size (progress lines follow when it runs long):
    # a fine-tuning per (rate, passes) pair, cut and distinct seed set
    pairs = {(r["settings"][choice.LEARNING_RATE],
              r["settings"][choice.PASSES]) for r in mv["grid"]}
    sets = sum(1 + (cold < hot) for hot, cold in zip(mv["seeds"]["hot"],
                                                      mv["seeds"]["cold"]))
    assert "meta-validation: %d fine-tunings to run" % (
        len(pairs) * sets) in done.stdout
    # held out of training: never in a logged meta-batch is not observable,
    # but the reader's epoch is the other campaigns' rows
    result = tmp_path / "r.json"
    tested = run_tool("infer_meta.py", SMALL + [
        "runner.infer_load_path=%s" % folder,
        "runner.infer_result_path=%s" % result])
    assert tested.returncode == 0, tested.stdout[-3000:]
    out = json.loads(result.read_text())
    for key, value in mv["chosen"].items():
        assert out["config"][key] == value
        assert out["meta_test_settings"][key] == "meta-validated"
    # an explicit key wins, and the log says the run's choice is not used
    other = [p for p in (1, 2) if p != mv["chosen"][choice.PASSES]][0]
    tested = run_tool("infer_meta.py", SMALL + [
        "runner.infer_load_path=%s" % folder, "runner.overwrite=True",
        "runner.infer_result_path=%s" % result,
        "runner.infer_train_epoch=%d" % other])
    assert tested.returncode == 0
    assert json.loads(result.read_text())["config"][choice.PASSES] == other
    assert "is not used" in tested.stdout
