"""Audience expansion: the rules (seeds left out, negatives drawn for
positives-only seeds, small campaigns skipped, sizes), the files, and the
tool end to end on small data (on the demo's checkpoint against held-back
labels: tests/test_end_to_end.py, the one module that uses the demo)."""
import json
import logging
import os

import numpy as np
import pandas as pd
import pytest

from audience import expansion, output
from audience.expansion import (audience_size, expand, parse_top,
                                parse_top_users)
from helpers import ROOT, random_inputs, run_tool, small_config, write_frame
from support.expansion import expand_process, make_campaign, small_model


CONFIG = small_config("hyper_parameters.batch_size=16")


def run(campaigns, top=0.1, config=CONFIG):
    return expand(config, campaigns, top, *small_model(config))


def test_top_is_a_share_and_a_count_is_said_apart():
    assert parse_top("5%") == parse_top("0.05") == 0.05
    assert parse_top("2.5 %") == 0.025 and parse_top("0.3%") == 0.003
    assert parse_top_users("100") == 100
    assert audience_size(0.05, 1000) == 50 and audience_size(100, 40) == 40
    assert audience_size(0.0001, 1000) == 1
    for bad in ("0", "-3", "x", "150%", "100%", "0%", "-3%", "nan",
                "inf", ""):
        with pytest.raises(ValueError, match="--top") as err:
            parse_top(bad)
        assert "\n" not in str(err.value) and repr(bad) in str(err.value)
    # a whole number is not read as users: the message names both ways
    with pytest.raises(ValueError) as err:
        parse_top("5")
    assert "--top 5%" in str(err.value) and "--top-users 5" in str(
        err.value)
    # nor is a percentage without its sign read as a fraction above 1
    with pytest.raises(ValueError, match=r"say --top 1.5% for 1.5 %"):
        parse_top("1.5")
    with pytest.raises(ValueError, match="--top-users 100000"):
        parse_top("100000")
    for bad in ("0", "-3", "2.5", "x", "5%"):
        with pytest.raises(ValueError, match="--top-users"):
            parse_top_users(bad)


def test_audience_is_the_best_scores_ranked():
    (result, ), skipped = run([make_campaign()], top=0.1)
    assert not skipped
    assert result.audience_size == 6 and len(result.uid) == 60
    best = result.score[result.order]
    assert np.all(np.diff(best) <= 0)
    text = output.audience_csv(result).splitlines()
    assert text[0] == "uid,score,rank,top_percent"
    rows = [line.split(",") for line in text[1:]]
    assert [int(r[2]) for r in rows] == list(range(1, 7))
    assert [int(r[0]) for r in rows] == result.uid[result.order[:6]].tolist()
    # top x %: rank 1 is the smallest share, the last user the --top share
    assert float(rows[0][3]) == pytest.approx(100 / 60, abs=1e-4)
    assert float(rows[-1][3]) == pytest.approx(100 * 6 / 60) == 10.0
    assert [float(r[3]) for r in rows] == sorted(float(r[3]) for r in rows)
    s = result.summary
    assert s["candidates"] == 60 and s["audience"] == 6
    assert s["base_rate"] == pytest.approx(20 / 60)
    assert [r["top_fraction"] for r in s["reach"]] == list(expansion.REACH)
    r5 = next(r for r in s["reach"] if r["top_fraction"] == 0.05)
    assert r5["lift"] == pytest.approx(r5["precision"] / s["base_rate"])


def test_seeds_are_never_in_their_own_audience():
    campaign = make_campaign()
    campaign.cand_uid[[3, 10]] = campaign.seed_uid[[0, 7]]
    (result, ), _ = run([campaign], top=0.99)
    assert result.summary["seeds_removed_from_candidates"] == 2
    assert not set(result.uid.tolist()) & set(campaign.seed_uid.tolist())
    assert len(result.uid) == 58


@pytest.mark.parametrize("labels", ["positive", None])
def test_positives_only_or_unlabelled_seeds_get_drawn_negatives(labels, caplog):
    caplog.set_level(logging.INFO)
    config = small_config("hyper_parameters.batch_size=16",
                          "expand.negative_ratio=0.5")
    campaign = make_campaign(seed_y=labels, seeds=20, candidates=80)
    (result, ), _ = run([campaign], top=0.99, config=config)
    s = result.summary
    assert s["negatives_drawn"] == 10 and s["seed_positives"] == 20
    assert "drew 10 negatives" in caplog.text
    # the drawn negatives stay candidates: none is lost
    assert s["candidates"] == 80 and len(result.uid) == 80
    assert set(result.uid.tolist()) == set(campaign.cand_uid.tolist())


@pytest.mark.slow
def test_labelled_negative_seeds_draw_nothing():
    (result, ), _ = run([make_campaign(seed_y="mixed")])
    assert result.summary["negatives_drawn"] == 0


def test_a_small_campaign_is_skipped_and_the_others_go_on(caplog):
    caplog.set_level(logging.WARNING)
    results, skipped = run([make_campaign(aid=1, seeds=4),
                            make_campaign(aid=2)])
    assert [r.aid for r in results] == [2]
    assert [s.record() for s in skipped] == [{
        "aid": 1, "reason": "4 seeds, fewer than expand.min_seeds 10: give "
        "it more seeds, or lower expand.min_seeds"}]
    assert "campaign 1 skipped" in caplog.text


@pytest.mark.slow
def test_expansion_is_deterministic():
    a = run([make_campaign()])[0][0]
    b = run([make_campaign()])[0][0]
    np.testing.assert_array_equal(a.score, b.score)


# ------------------------------------------------------------ files, CLI
@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(3)
    seeds, cands = tmp_path / "seeds.pkl", tmp_path / "cands.pkl"
    x_s, x_c = random_inputs(rng, 30), random_inputs(rng, 50)
    uid_c = np.arange(500, 550)
    uid_c[4] = 101   # a seed among the candidates
    write_frame(seeds, x_s, np.ones(30), 9, uid=np.arange(100, 130),
                label=False)
    write_frame(cands, x_c, (np.arange(50) % 2), 9, uid=uid_c)
    return seeds, cands


@pytest.mark.slow
def test_cli_writes_the_audience_and_leaves_the_seeds_out(files, checkpoint,
                                                          tmp_path):
    seeds, cands = files
    out = tmp_path / "out"
    done = expand_process(checkpoint, "--seeds", str(seeds), "--candidates",
                          str(cands), "--out", str(out), "--top-users", "10")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    audience = pd.read_csv(out / "9" / "audience.csv")
    assert list(audience.columns) == ["uid", "score", "rank", "top_percent"]
    assert len(audience) == 10 and 101 not in audience.uid.tolist()
    scores = pd.read_csv(out / "9" / "scores.csv")
    summary = json.loads((out / "summary.json").read_text())
    (camp, ) = summary["campaigns"]
    # unlabelled seeds: negatives drawn (capped at half the 49 candidates
    # left once the seed is out), still candidates
    assert camp["seeds_removed_from_candidates"] == 1
    assert camp["negatives_drawn"] == 24
    assert camp["candidates"] == len(scores) == 49
    assert list(scores.columns) == ["uid", "score", "label"]
    assert set(audience.uid) <= set(scores.uid)
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]
    # as readable as any folder the umask makes (not mkdtemp's 0700)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask


@pytest.mark.slow
def test_cli_refuses_an_existing_out_and_touches_nothing(files, checkpoint,
                                                         tmp_path):
    seeds, cands = files
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    done = expand_process(checkpoint, "--seeds", str(seeds), "--candidates",
                          str(cands), "--out", str(out))
    assert done.returncode == 2
    assert "--overwrite" in done.stdout + done.stderr
    assert os.listdir(out) == ["mine.txt"]
    assert (out / "mine.txt").read_text() == "keep me"
    # not an earlier output (no summary.json): --overwrite refuses it too
    again = expand_process(checkpoint, "--seeds", str(seeds), "--candidates",
                           str(cands), "--out", str(out), "--overwrite")
    assert again.returncode == 2, again.stdout[-2000:]
    assert "no summary.json" in again.stdout
    assert os.listdir(out) == ["mine.txt"]
    first = expand_process(checkpoint, "--seeds", str(seeds), "--candidates",
                           str(cands), "--out", str(tmp_path / "aud"))
    assert first.returncode == 0, first.stdout[-2000:]
    again = expand_process(checkpoint, "--seeds", str(seeds), "--candidates",
                           str(cands), "--out", str(tmp_path / "aud"), "--overwrite")
    assert again.returncode == 0, again.stdout[-2000:]
    assert sorted(os.listdir(tmp_path / "aud")) == ["9", "audiences.csv", "report.html",
                                                    "summary.json"]


@pytest.mark.slow
def test_row_index_names_users_without_a_uid_column(checkpoint, tmp_path):
    rng = np.random.default_rng(4)
    seeds, cands = tmp_path / "s.pkl", tmp_path / "c.pkl"
    write_frame(seeds, random_inputs(rng, 20), np.arange(20) % 2, 3)
    write_frame(cands, random_inputs(rng, 40), np.arange(40) % 2, 3,
                label=False)
    out = tmp_path / "out"
    done = expand_process(checkpoint, "--seeds", str(seeds), "--candidates",
                          str(cands), "--out", str(out), "--top", "0.25")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "no uid column" in done.stdout
    audience = pd.read_csv(out / "3" / "audience.csv")
    assert len(audience) == 10 and set(audience.uid) <= set(range(40))
    summary = json.loads((out / "summary.json").read_text())
    assert "auc" not in summary["campaigns"][0]   # no labels given


# ------------------------------------------------- form 2: a user table
@pytest.mark.slow
def test_form_two_scores_every_user_of_the_table_but_the_seeds(tmp_path):
    from dataio.schema import IdMaxima
    from dataio.user_table import UserTable
    from dataio.vocabulary import read_max_idxs_file
    from helpers import preprocessed
    from runkit.checkpoint import save_checkpoint
    from synthetic.raw_format import RawSize
    raw, out = preprocessed(tmp_path, RawSize(users=1500, train_rows=3000,
                                              test_rows=1000, campaigns=6),
                            2, "--user-table", "--workers", "1")
    max_idxs = read_max_idxs_file(str(out / "max_idxs.yaml"))
    table = UserTable(str(out / "users"), IdMaxima.from_config(max_idxs))
    lines = (raw / "userFeature.data").read_text().splitlines()
    assert len(table) == len(lines)   # every user, not only referenced ones
    ads = pd.read_csv(out / "ads.csv")
    seeds = pd.read_csv(raw / "train.csv")
    aid = int(seeds.aid.iloc[0])
    mine = seeds[(seeds.aid == aid) & (seeds.label == 1)].head(40)
    mine[["aid", "uid"]].to_csv(tmp_path / "seeds.csv", index=False)

    arch = ["hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
            "hyper_parameters.num_expert=3", "hyper_parameters.num_output=2"]
    config = small_config(*arch, max_idxs=max_idxs)
    _, model, _ = small_model(config)
    checkpoint = save_checkpoint(model, None, str(tmp_path / "m"), 0)
    expanded = run_tool("expand.py", arch + [
        "runner.train_data_dir=%s" % (out / "train_data"),
        "hyper_parameters.max_idxs=auto", "expand.negative_ratio=2",
        "expand.checkpoint=%s" % checkpoint], config=ROOT / "config_big.yaml",
        extra=["--users", str(out / "users"), "--seeds",
               str(tmp_path / "seeds.csv"), "--ads", str(out / "ads.csv"),
               "--all-scores", "--top-users", "50", "--out",
               str(tmp_path / "aud")])
    assert expanded.returncode == 0, expanded.stdout[-3000:] + expanded.stderr[-3000:]
    (camp, ) = json.loads((tmp_path / "aud" / "summary.json").read_text())[
        "campaigns"]
    seed_uids = set(mine.uid)
    drawn = 2 * len(mine)   # expand.negative_ratio 2: positives-only seeds
    assert len(seed_uids) == len(mine) >= 10
    assert camp["seeds"] == len(mine) and camp["negatives_drawn"] == drawn
    assert camp["seeds_removed_from_candidates"] == len(seed_uids)
    # every user a candidate: the drawn stay candidates
    assert camp["candidates"] == len(table) - len(seed_uids)
    audience = pd.read_csv(tmp_path / "aud" / str(aid) / "audience.csv")
    scores = pd.read_csv(tmp_path / "aud" / str(aid) / "scores.csv")
    assert len(audience) == 50 and len(scores) == camp["candidates"]
    assert not seed_uids & set(audience.uid) and not seed_uids & set(scores.uid)
    best = scores.sort_values("score", ascending=False, kind="stable").head(50)
    assert audience.uid.tolist() == best.uid.tolist()
    assert aid in set(ads.aid)


@pytest.mark.slow
def test_python_entry_point_takes_frames():
    """In a notebook: two DataFrames in, the ranked audiences out."""
    from audience.sources import frame_campaigns
    from dataio.frames import arrays_to_frame
    rng = np.random.default_rng(8)
    seeds = arrays_to_frame(np.arange(24) % 2, np.repeat([3, 4], 12),
                            *random_inputs(rng, 24))
    cands = arrays_to_frame(np.zeros(40), np.repeat([4, 3], 20),
                            *random_inputs(rng, 40)).drop(columns="label")
    config = small_config("hyper_parameters.batch_size=16",
                          "expand.min_seeds=5")
    results, skipped = expand(config, frame_campaigns(seeds, cands, config),
                              0.25, *small_model(config))
    assert [r.aid for r in results] == [3, 4] and not skipped
    for r in results:
        # users are the frames' row index: campaign 3's candidates are 20..39
        assert set(r.uid.tolist()) == (set(range(20, 40)) if r.aid == 3
                                       else set(range(20)))
        assert r.audience_size == 5 and "auc" not in r.summary


