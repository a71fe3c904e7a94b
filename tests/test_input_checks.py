"""Inputs that must not pass unchecked: seed values near the float maximum
(whose sum can overflow, every weight 0), negative (signed 64-bit) campaign
ids, exclusion files with ids beyond 64 bits, unreadable or millions of
lines long, user tables whose ids outgrew a stale meta.json, seed files
given in the other form's option. Each is read right or refused with one
line naming the file; the tools run in-process
(support.expansion.tool)."""
import json
import logging
import os

import numpy as np
import pandas as pd
import pytest

from audience import exclusions, sources
from audience.exclusions import read_exclusions
from audience.expansion import EVERY_CANDIDATE_EXCLUDED, expand
from dataio.campaign import Skipped
from audience.training_set import seed_weights
from dataio import schema
from dataio.stage_files import DataError
from dataio.user_table import UserTable, write_user_table
from helpers import (SMALL_MAX_IDXS, errors, random_inputs, small_config,
                     warnings, write)
from support.expansion import make_campaign, small_model, stage_files, tool

CONFIG = small_config("hyper_parameters.batch_size=16",
                      "runner.infer_seed_blend=0", "expand.diagnose=False")
MAXIMA = schema.IdMaxima.from_config(SMALL_MAX_IDXS)


# ------------------------------------ seed values near the float maximum
def test_values_near_the_float_maximum_weigh_as_their_ratios():
    y = np.array([1, 1, 1, 0, 0], np.float32)
    ones = seed_weights(y, np.ones(3))
    assert np.array_equal(seed_weights(y, np.full(3, 1.5e308)), ones)
    assert np.array_equal(seed_weights(y, np.full(3, 5e-324)), ones)
    w = seed_weights(y, np.array([1.6e308, 0.8e308, 0.8e308]))
    np.testing.assert_allclose(w, [1.5, 0.75, 0.75, 1, 1], rtol=1e-6)


def test_ordinary_values_weigh_bit_for_bit_as_value_over_mean():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        y = (rng.random(n + 3) < 0.7).astype(np.float32)
        y[0] = 1
        value = rng.lognormal(rng.normal(0, 8), 2, n)
        positive = np.flatnonzero(y[:n] == 1)
        want = np.ones(n + 3, np.float32)
        want[positive] = value[positive] / float(np.mean(value[positive]))
        assert np.array_equal(seed_weights(y, value), want)


def test_seeds_worth_1e308_are_fine_tuned_as_seeds_worth_1():
    def scores(value):
        campaign = make_campaign(seed_y=None)
        campaign.seed_value = np.full(len(campaign.seed_uid), value)
        (result, ), _ = expand(CONFIG, [campaign], 0.1, *small_model(CONFIG))
        return result
    one, huge = scores(1.0), scores(1.5e308)
    assert huge.summary["fine_tuned"] is True
    np.testing.assert_array_equal(one.score, huge.score)


@pytest.mark.parametrize("cell, said", [
    (np.nan, "value missing"), (-2.5, "value -2.5 is not"),
    (np.inf, "value inf is infinite")])
def test_a_bad_value_is_shown_plainly(tmp_path, cell, said):
    frame = pd.DataFrame({"aid": [3, 3], "uid": [1, 2],
                          "value": [1.0, cell]})
    with pytest.raises(DataError) as err:
        sources.seed_values(frame, "seeds.pkl")
    message = str(err.value)
    assert said in message and "seeds.pkl, row 1" in message
    assert "np." not in message


# ------------------------------------------------ negative campaign ids
def test_a_negative_aid_has_its_own_stream_and_others_keep_theirs():
    from audience.diagnostics import fold_rng
    from dygraph_model import campaign_rng
    seed = CONFIG.get("runner.seed")
    hashed = -(2 ** 63) + 12345
    draws = {aid: campaign_rng(CONFIG, aid).random(4)
             for aid in (-1, hashed, 1, 2 ** 63 - 1)}
    assert len({d.tobytes() for d in draws.values()}) == 4
    for aid in (0, 7, 2 ** 40, 2 ** 63 - 1):   # as they always were
        assert np.array_equal(campaign_rng(CONFIG, np.int64(aid)).random(4),
                              np.random.default_rng([seed, aid]).random(4))
    assert not np.array_equal(fold_rng(CONFIG, -5, 0).random(4),
                              fold_rng(CONFIG, 5, 0).random(4))


def negative_stage_files(tmp_path, aid):
    seeds, cands = stage_files(tmp_path)
    for path in (seeds, cands):
        frame = pd.read_pickle(path)
        frame["aid"] = aid
        frame.to_pickle(path)
    return seeds, cands


def test_form_one_expands_a_campaign_with_a_negative_aid(tmp_path, caplog,
                                                         checkpoint):
    caplog.set_level(logging.INFO)
    aid = -4611686018427387904
    seeds, cands = negative_stage_files(tmp_path, aid)
    out = tmp_path / "out"
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", out) == 0, errors(caplog)
    (campaign, ) = json.loads((out / "summary.json").read_text())["campaigns"]
    assert campaign["aid"] == aid and campaign["fine_tuned"] is True
    assert (out / str(aid) / "audience.csv").exists()


def test_form_two_expands_a_campaign_with_a_negative_aid(tmp_path, caplog,
                                                         checkpoint,
                                                         users):
    caplog.set_level(logging.INFO)
    folder, _ = users
    ads = pd.read_csv(folder / "ads.csv")
    ads["aid"] = ads["aid"] - 10   # 3, 4 -> -7, -6
    ads.to_csv(tmp_path / "ads.csv", index=False)
    write(tmp_path / "seeds.csv", "aid,uid,label\n" + "".join(
        "-7,%d,%d\n" % (5 * i, i % 2) for i in range(20)))
    out = tmp_path / "out"
    assert tool("expand", checkpoint, "--users", folder / "users", "--ads",
                tmp_path / "ads.csv", "--seeds", tmp_path / "seeds.csv",
                "--out", out) == 0, errors(caplog)
    (campaign, ) = json.loads((out / "summary.json").read_text())["campaigns"]
    assert campaign["aid"] == -7


def test_an_exclusion_row_for_campaign_minus_1_is_that_campaigns_only(
        tmp_path):
    shut = read_exclusions(write(tmp_path / "ex.csv",
                                 "uid,aid\n10,-1\n11,\n12,5\n13,-1\n"))
    assert shut.of(-1).tolist() == [10, 11, 13]
    assert shut.of(5).tolist() == [11, 12] and shut.of(6).tolist() == [11]
    assert sorted(shut.per_aid) == [-1, 5]


# ------------------------------------------------ exclusion files: ids
@pytest.mark.parametrize("text, line, cell", [
    ("uid\n5\n%d\n" % 2 ** 70, 3, str(2 ** 70)),
    ("5\n\n%d\n" % 2 ** 63, 3, str(2 ** 63)),
    ("uid,aid\n5,1\n%d,2\n" % (-2 ** 63 - 1), 3, str(-2 ** 63 - 1)),
    ("uid,aid\n5,%d\n" % 2 ** 64, 2, str(2 ** 64)),
])
def test_an_id_beyond_64_bits_is_one_line_naming_file_and_line(
        tmp_path, text, line, cell):
    path = write(tmp_path / "ex.csv", text)
    with pytest.raises(DataError) as err:
        read_exclusions(path)
    message = str(err.value)
    assert "%s line %d" % (path, line) in message and cell in message
    assert "beyond 64-bit" in message and "\n" not in message


def test_the_64_bit_limits_themselves_are_ids(tmp_path):
    shut = read_exclusions(write(tmp_path / "ex",
                                 "%d\n%d\n" % (2 ** 63 - 1, -2 ** 63)))
    assert shut.of(1).tolist() == [-2 ** 63, 2 ** 63 - 1]


def test_expand_refuses_an_exclusion_id_beyond_64_bits_in_one_line(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)
    seeds, cands = stage_files(tmp_path)
    excluded = write(tmp_path / "ex.csv", "uid\n%d\n" % 2 ** 64)
    # no checkpoint there: the file must be refused before any work
    assert tool("expand", tmp_path / "nowhere", "--seeds", seeds,
                "--candidates", cands, "--exclude", excluded, "--out",
                tmp_path / "out") == 1
    (line, ) = errors(caplog)
    assert excluded in line and "line 2" in line


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"),
                    reason="needs a file every read of which fails")
def test_an_exclusion_file_that_cannot_be_read_is_named():
    # /proc/self/mem opens, and its first read fails (EIO), even for root
    with pytest.raises(DataError) as err:
        read_exclusions("/proc/self/mem")
    assert "--exclude /proc/self/mem cannot be read" in str(err.value)


@pytest.mark.parametrize("kind, said", [
    ("folder", "is a folder, not a file"),
    ("gzip", "is not a text file"),
])
def test_an_exclusion_path_that_is_no_text_file_is_named(tmp_path, kind,
                                                         said):
    import gzip
    path = tmp_path / "ex.csv"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(gzip.compress(b"uid\n5\n"))
    with pytest.raises(DataError) as err:
        read_exclusions(str(path))
    assert str(path) in str(err.value) and said in str(err.value)


# ----------------------------------- exclusion files: millions of lines
def test_an_exclusion_file_is_read_block_by_block_as_a_whole(tmp_path,
                                                             monkeypatch):
    """Blocks of 64 bytes: lines, CRLF ends, quotes and ids of 19 digits
    cut at every place; a block the numpy pass cannot read (a 25-digit
    id with leading zeros) is read line by line, the others still by
    numpy; the result is the file's, row for row."""
    monkeypatch.setattr(exclusions, "BLOCK", 64)
    rng = np.random.default_rng(4)
    uid = rng.integers(-2 ** 63, 2 ** 63 - 1, 300, dtype=np.int64)
    aid = rng.integers(-3, 3, 300)
    cells = ['"%d"' % u if i % 7 == 0 else " %d " % u if i % 5 == 0 else
             "%d" % u for i, u in enumerate(uid)]
    cells[100] = "0" * 24 + "5"
    uid[100] = 5
    lines = ["\ufeffname,uid,aid"] + [
        "x,%s,%s" % (c, "" if a == 0 else a) for c, a in zip(cells, aid)]
    path = tmp_path / "ex.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    calls = {"exactly": 0}
    exact = exclusions._block_exactly

    def counted(*args):
        calls["exactly"] += 1
        return exact(*args)
    monkeypatch.setattr(exclusions, "_block_exactly", counted)
    shut = read_exclusions(str(path))
    assert calls["exactly"] == 1   # the 25 digits' block alone
    assert shut.everywhere.tolist() == sorted(set(uid[aid == 0].tolist()))
    for a in (-3, -2, -1, 1, 2):
        assert shut.per_aid[a].tolist() == sorted(set(uid[aid == a].tolist()))
    # a bad line far into the file: named by its own number
    lines[250] = "x,12,3.5"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 251: aid '3.5'"):
        read_exclusions(str(path))


def test_a_plain_list_in_old_mac_line_ends_is_read(tmp_path):
    path = tmp_path / "ex"
    path.write_bytes(b"7\r3\r\r-9\r")
    assert read_exclusions(str(path)).of(1).tolist() == [-9, 3, 7]


# ------------------------------ the warning that nothing was excluded
def expansion_of(aid, excluded):
    from audience.expansion import Expansion
    return Expansion(aid, np.arange(3), np.zeros(3), np.arange(3), 1,
                     {"aid": aid, "excluded": excluded})


def test_no_warning_when_the_exclusion_removed_a_whole_campaign(tmp_path,
                                                                caplog):
    caplog.set_level(logging.INFO)
    shut = read_exclusions(write(tmp_path / "ex.csv",
                                 "uid,aid\n100,1\n101,1\n"))
    skipped = [Skipped(1, EVERY_CANDIDATE_EXCLUDED % 2),
               Skipped(3, "2 seeds, fewer than expand.min_seeds 10")]
    shut.check_use([expansion_of(2, 0)], skipped)
    assert not any("nothing was excluded" in m for m in warnings(caplog))
    shut.check_use([expansion_of(2, 0)], skipped[1:])
    assert any("nothing was excluded" in m for m in warnings(caplog))


def test_no_warning_when_the_excluded_are_users_of_the_table(
        tmp_path, caplog, users):
    caplog.set_level(logging.INFO)
    _, table = users    # uids 0, 5, ..., 995
    outside = read_exclusions(write(tmp_path / "a.csv", "uid\n15\n20\n"))
    outside.check_use([expansion_of(3, 0)], [], table)
    assert not any("nothing was excluded" in m for m in warnings(caplog))
    unknown = read_exclusions(write(tmp_path / "b.csv", "uid\n7\n"))
    unknown.check_use([expansion_of(3, 0)], [], table)
    (said, ) = [m for m in warnings(caplog) if "nothing was excluded" in m]
    assert "b.csv" in said and table.folder in said


def test_no_warning_when_a_campaign_was_emptied_by_the_exclusion(tmp_path,
                                                                 caplog):
    """The probe's case, through expand: campaign 1's every candidate is
    excluded (skipped, with that reason), campaign 2's none."""
    from dataio.campaign import Campaign
    caplog.set_level(logging.INFO)
    rng = np.random.default_rng(0)
    made = [Campaign(aid, random_inputs(rng, 20), np.arange(9000, 9020),
                     (np.arange(20) % 2).astype(np.float32),
                     random_inputs(rng, 30), np.arange(30) + 100 * aid)
            for aid in (1, 2)]
    shut = read_exclusions(write(tmp_path / "ex.csv", "uid,aid\n" + "".join(
        "%d,1\n" % u for u in made[0].cand_uid)))
    results, skipped = expand(CONFIG, made, 0.5, *small_model(CONFIG),
                              exclusions=shut)
    assert [r.aid for r in results] == [2] and skipped[0].aid == 1
    shut.check_use(results, skipped)
    assert not any("nothing was excluded" in m for m in warnings(caplog))


# ------------------------------------------------------ user tables
def table_folder(tmp_path):
    folder = tmp_path / "users"
    static, dynamic, lengths, _ = random_inputs(np.random.default_rng(2), 50)
    write_user_table(str(folder), np.arange(50) * 3,
                     np.concatenate([static, dynamic, lengths], axis=1))
    return str(folder)


def rewrite(folder, name, change):
    array = np.load(os.path.join(folder, name), allow_pickle=True)
    np.save(os.path.join(folder, name), change(array), allow_pickle=True)


@pytest.mark.parametrize("column, value, said", [
    (2, 10, "column LBS holds id 10 (first at uid 21), above max_idxs 9"),
    (7, 10, "column interest1[0] holds id 10 (first at uid 21), above "
            "max_idxs 9"),
    (0, -1, "column carrier holds id -1 (first at uid 21), below 0"),
    (57, 11, "column interest1_length holds length 11 (first at uid 21), "
             "above its field's 10 ids"),
])
def test_a_table_whose_ids_outgrew_its_meta_json_is_refused_when_opened(
        tmp_path, column, value, said):
    folder = table_folder(tmp_path)

    def damage(features):
        features = features.astype(np.int64)
        features[7, column] = value
        return features
    rewrite(folder, "features.npy", damage)   # meta.json left as it was
    with pytest.raises(DataError) as err:
        UserTable(folder, MAXIMA)
    message = str(err.value)
    assert message.startswith(folder) and said in message, message
    if column == 2:
        assert "meta.json says" in message


def test_a_table_of_python_objects_is_named(tmp_path):
    folder = table_folder(tmp_path)
    rewrite(folder, "uid.npy", lambda uid: uid.astype(object))
    with pytest.raises(DataError) as err:
        UserTable(folder, MAXIMA)
    message = str(err.value)
    assert os.path.join(folder, "uid.npy") in message
    assert "Python objects" in message


def test_a_table_of_unsorted_uids_is_refused(tmp_path):
    folder = table_folder(tmp_path)
    rewrite(folder, "uid.npy", lambda uid: uid[::-1].copy())
    with pytest.raises(DataError, match="uid.npy is not sorted"):
        UserTable(folder, MAXIMA)


def test_a_good_table_opens(tmp_path):
    table = UserTable(table_folder(tmp_path), MAXIMA)
    assert len(table) == 50 and table.positions([3, 4]).tolist() == [1, -1]


# -------------------------------------- a seeds file in the other form
def test_a_csv_given_as_a_stage_file_says_it_needs_users(tmp_path):
    seeds = write(tmp_path / "seeds.csv", "aid,uid\n3,0\n3,5\n")
    _, cands = stage_files(tmp_path)
    with pytest.raises(DataError) as err:
        list(sources.feature_row_campaigns(seeds, str(cands), CONFIG))
    message = str(err.value)
    assert "--seeds %s is a CSV" % seeds in message and "--users" in message
    # export takes a user table too: it says how
    with pytest.raises(DataError) as err:
        list(sources.feature_row_campaigns(seeds, str(cands), CONFIG,
                                           "tools/export.py"))
    message = str(err.value)
    assert "tools/export.py --users" in message


@pytest.mark.parametrize("which", ["seeds", "candidates"])
def test_a_stage_file_given_as_a_csv_says_it_goes_without_users(
        tmp_path, users, which):
    folder, table = users
    pickled, _ = stage_files(tmp_path)
    seeds = write(tmp_path / "seeds.csv", "aid,uid\n3,0\n3,5\n")
    paths = {"seeds": seeds, "candidates": None, which: str(pickled)}
    with pytest.raises(DataError) as err:
        list(sources.user_table_campaigns(table, paths["seeds"],
                                          str(folder / "ads.csv"),
                                          paths["candidates"]))
    message = str(err.value)
    assert "--%s %s is a pickle" % (which, pickled) in message
    assert "without --users" in message


# ---------------------------------- a customer list of millions, per campaign
def test_membership_in_a_sorted_list_is_np_isin():
    from audience.exclusions import member, sorted_ids, union_sorted
    rng = np.random.default_rng(0)
    many = sorted_ids(rng.integers(-10**12, 10**12, 5000))
    values = np.concatenate([rng.choice(many, 50), rng.integers(
        -10**12, 10**12, 50), [many[0], many[-1], many[-1] + 1]])
    assert np.array_equal(member(values, many), np.isin(values, many))
    assert not member(values, many[:0]).any()
    few = np.concatenate([values[:20], values[:5]])
    assert np.array_equal(union_sorted(few, many), np.union1d(few, many))
    shuffled = rng.permutation(np.concatenate([many, many[:10]]))
    assert np.array_equal(sorted_ids(shuffled), many)


def test_a_campaign_against_millions_of_excluded_ids_does_not_sort_them(
        monkeypatch):
    """The customer list is sorted once, when read: a campaign's check is
    a binary search, not np.isin / np.union1d, which sort the millions of
    ids again for every campaign."""
    from audience import expansion
    from audience.exclusions import Exclusions
    from dataio.campaign import Campaign
    ex = Exclusions("ex.csv", np.arange(0, 2 * 10**5, 2), {7: [1, 3]})
    for name in ("isin", "union1d"):
        real = getattr(np, name)

        def small_only(a, b, *args, _real=real, _name=name, **kwargs):
            assert len(np.ravel(a)) + len(np.ravel(b)) < 1000, \
                "np.%s over the exclusion list" % _name
            return _real(a, b, *args, **kwargs)
        monkeypatch.setattr(np, name, small_only)
    x = [np.zeros((4, 7), np.int64), np.zeros((4, 50), np.int64),
         np.zeros((4, 7), np.int64), np.zeros((4, 6), np.int64)]
    for aid, left in ((5, [1, 3]), (7, [])):
        campaign = Campaign(aid, [a[:1] for a in x], np.array([100]),
                            np.array([1]), x, np.array([1, 2, 3, 4]),
                            np.array([0, 1, 0, 1]))
        if not left:
            with pytest.raises(ValueError):
                expansion.without_seeds(campaign, ex.of(aid))
            continue
        kept, _, excluded = expansion.without_seeds(campaign, ex.of(aid))
        assert kept.cand_uid.tolist() == left and excluded == 2
