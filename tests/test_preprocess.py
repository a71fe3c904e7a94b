"""tools.preprocess on small generated raw files, checked against an
independent line-by-line reading of the raw text."""
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from dataio import safe_pickle, stage_files
from dataio.schema import (AD_FIELDS, ALL_COLUMNS, DYNAMIC_FIELDS,
                           DYNAMIC_NAMES, LENGTH_COLS, STATIC_FIELDS, IdMaxima)
from dataio.vocabulary import MAX_IDXS_FILE
from rawdata import pipeline as pp
from rawdata.files import RawDataError
from runkit.cli import Refused
from synthetic.raw_format import RawSize, write_raw
from tools.preprocess import main as preprocess_main

SIZE = RawSize(users=3000, train_rows=9000, test_rows=3000, campaigns=14)
SEED = 7
STAGES = ("train", "hot1", "hot2", "cold1", "cold2")


def read_raw_users(path):
    """uid -> {field: [int, ...]} by plain string splitting."""
    users = {}
    with open(path) as f:
        for line in f:
            fields = {}
            for part in line.rstrip("\r\n").split("|"):
                tokens = part.split()
                if tokens:
                    fields[tokens[0]] = [int(t) for t in tokens[1:]]
            users[fields["uid"][0]] = fields
    return users


def raw_rows(raw_dir):
    seeds = pd.read_csv(os.path.join(raw_dir, "train.csv"))
    cands = pd.read_csv(os.path.join(raw_dir, "test1_truth.csv"), header=None,
                        names=["aid", "uid", "label"])
    return seeds, cands


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("raw"))
    write_raw(path, SIZE, seed=3)
    return path


@pytest.fixture(scope="module")
def threshold(raw_dir):
    """A cold threshold with test campaigns on both sides of it."""
    seeds, _ = raw_rows(raw_dir)
    rows = tuple(seeds[c].to_numpy() for c in ("aid", "uid", "label"))
    rows = rows[:2] + ((rows[2] == 1).astype(np.int64), )
    _, hot, _ = pp.split_campaigns(rows, SEED, cold_threshold=-1)
    positives = np.sort(seeds[seeds.label == 1].groupby("aid").size()
                        .reindex(hot, fill_value=0).to_numpy())
    return int(positives[len(positives) // 2]) - 1


@pytest.fixture(scope="module")
def processed(raw_dir, threshold, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out"))
    # small chunks and two workers: chunk borders and the process pool run
    max_idxs = pp.preprocess(raw_dir, out, cold_threshold=threshold,
                             seed=SEED, workers=2, chunk_bytes=64 << 10)
    frames, yaml_path = pp.output_paths(out)
    return out, max_idxs, {k: pd.read_pickle(p) for k, p in frames.items()}


@pytest.mark.slow
def test_five_files_with_the_released_columns(processed):
    out, _, frames = processed
    for key, rel in pp.OUTPUTS.items():
        assert os.path.isfile(os.path.join(out, rel))
        df = frames[key]
        assert tuple(df.columns) == ALL_COLUMNS
        assert set(df["label"].unique()) <= {0, 1}
        for col in ALL_COLUMNS:
            if col in DYNAMIC_NAMES:
                assert df[col].dtype == object
            else:
                assert df[col].dtype == np.int64, col
        for name, width in DYNAMIC_FIELDS:
            if len(df):
                cell = df[name].iloc[0]
                assert isinstance(cell, np.ndarray)
                assert cell.dtype == np.int64 and cell.shape == (width, )
                assert cell.flags.writeable
    assert not any(f.endswith(".tmp") for _, _, fs in os.walk(out) for f in fs)


@pytest.mark.slow
def test_outputs_load_with_the_projects_safe_reader(processed):
    out, _, frames = processed
    paths, _ = pp.output_paths(out)
    for key, path in paths.items():
        pd.testing.assert_frame_equal(safe_pickle.read_pickle_safely(path),
                                      frames[key])


def without_seed_pairs(cands, seeds):
    """The candidate rows whose (aid, uid) is no seed row (pandas join)."""
    pairs = seeds[["aid", "uid"]].drop_duplicates().assign(seed=True)
    joined = cands.merge(pairs, on=["aid", "uid"], how="left")
    return cands[joined["seed"].isna().to_numpy()]


def _expected_rows(raw_dir, processed):
    """Per output: the raw (aid, uid, label) rows it was made from."""
    _, _, frames = processed
    seeds, cands = raw_rows(raw_dir)
    cands = without_seed_pairs(cands, seeds)
    aids = {k: set(frames[k]["aid"]) for k in ("train", "hot1", "cold1")}
    return {
        "train": seeds[seeds.aid.isin(aids["train"])],
        "hot1": seeds[seeds.aid.isin(aids["hot1"])],
        "cold1": seeds[seeds.aid.isin(aids["cold1"])],
        "hot2": cands[cands.aid.isin(aids["hot1"])],
        "cold2": cands[cands.aid.isin(aids["cold1"])],
    }


@pytest.mark.slow
def test_split_rows_and_threshold(raw_dir, threshold, processed):
    _, _, frames = processed
    seeds, cands = raw_rows(raw_dir)
    train, hot, cold = (set(frames[k]["aid"]) for k in ("train", "hot1",
                                                         "cold1"))
    assert hot and cold and train
    assert not (train & hot) and not (train & cold) and not (hot & cold)
    assert train | hot | cold == set(seeds["aid"])
    assert len(train) == len(set(seeds["aid"])) // 2
    positives = seeds[seeds.label == 1].groupby("aid").size()
    assert all(positives.get(a, 0) > threshold for a in hot)
    assert all(positives.get(a, 0) <= threshold for a in cold)
    assert set(frames["hot2"]["aid"]) <= hot
    assert set(frames["cold2"]["aid"]) <= cold
    # every seed row of a campaign, every candidate row of a test campaign,
    # in file order, labels -1 -> 0
    for key, rows in _expected_rows(raw_dir, processed).items():
        df = frames[key]
        assert len(df) == len(rows), key
        np.testing.assert_array_equal(df["aid"], rows["aid"])
        np.testing.assert_array_equal(df["label"], (rows["label"] == 1))


@pytest.mark.slow
def test_user_fields_round_trip(raw_dir, processed):
    """Every output row matches its raw user line through the id maps,
    which must be dense, ascending in raw value, 0 for missing/pad."""
    _, max_idxs, frames = processed
    users = read_raw_users(os.path.join(raw_dir, "userFeature.data"))
    expected = _expected_rows(raw_dir, processed)
    uids = np.concatenate([expected[k]["uid"].to_numpy() for k in STAGES])
    out = pd.concat([frames[k] for k in STAGES], ignore_index=True)
    widths = dict(DYNAMIC_FIELDS)

    def raw_values(uid, name):
        values = users[uid].get(name, [])
        return values[:widths.get(name, 1)]

    maxima = dict(IdMaxima.from_config(max_idxs).by_field())
    distinct = set(uids.tolist())
    for name in STATIC_FIELDS + DYNAMIC_NAMES:
        vocab = sorted({v for uid in distinct for v in raw_values(uid, name)})
        rank = {v: i + 1 for i, v in enumerate(vocab)}
        assert maxima[name] == len(vocab), name
        col = out[name].tolist()
        if name in STATIC_FIELDS:
            want = [rank[v[0]] if v else 0
                    for v in (raw_values(uid, name) for uid in uids)]
            assert col == want, name
            continue
        lengths = out[name + "_length"].tolist()
        for uid, cell, n in zip(uids.tolist(), col, lengths):
            assert n == min(len(users[uid].get(name, [])), widths[name])
            assert cell[:n].tolist() == [rank[v]
                                         for v in raw_values(uid, name)]
            assert not cell[n:].any(), "pad is 0"


@pytest.mark.slow
def test_same_user_same_fields_and_missing_index(raw_dir, processed):
    _, _, frames = processed
    users = read_raw_users(os.path.join(raw_dir, "userFeature.data"))
    expected = _expected_rows(raw_dir, processed)
    seen, repeats = {}, 0
    missing = {"house": 0, "interest2": 0}
    for key in STAGES:
        df, uids = frames[key], expected[key]["uid"].to_numpy()
        for i in range(0, len(df), 7):
            row = df.iloc[i]
            user = (tuple(row[list(STATIC_FIELDS + LENGTH_COLS)]),
                    tuple(tuple(row[n]) for n in DYNAMIC_NAMES))
            repeats += uids[i] in seen
            assert seen.setdefault(uids[i], user) == user
            if "house" not in users[uids[i]]:
                assert row["house"] == 0
                missing["house"] += 1
            if "interest2" not in users[uids[i]]:
                assert row["interest2_length"] == 0
                assert not row["interest2"].any()
                missing["interest2"] += 1
    assert repeats > 10, "users recur across rows and campaigns"
    assert all(missing.values()), "the generator leaves fields out"


@pytest.mark.slow
def test_max_idxs_yaml_bounds_every_id(processed):
    out, max_idxs, frames = processed
    with open(os.path.join(out, MAX_IDXS_FILE)) as f:
        config = yaml.safe_load(f)
    assert config["hyper_parameters"]["max_idxs"] == max_idxs
    maxima = IdMaxima.from_config(max_idxs)
    for name, top in maxima.by_field():
        for df in frames.values():
            if not len(df):
                continue
            ids = np.stack(df[name].to_numpy()) if name in DYNAMIC_NAMES \
                else df[name].to_numpy()
            assert ids.min() >= 0 and ids.max() <= top, name
    # ad ids are dense too: every one of 1..max occurs in some output
    for name, top in zip(AD_FIELDS, maxima.ad):
        used = set().union(*(set(df[name]) for df in frames.values()))
        assert used <= set(range(top + 1)) and max(used) == top


@pytest.mark.slow
def test_rerun_refuses_without_force(raw_dir, threshold, processed, capsys):
    out, max_idxs, _ = processed
    with pytest.raises(Refused, match="train_stage1.pkl"):
        pp.preprocess(raw_dir, out, cold_threshold=threshold, seed=SEED)
    assert preprocess_main(["--raw", raw_dir, "--out", out]) == 2
    assert pp.preprocess(raw_dir, out, cold_threshold=threshold, seed=SEED,
                         force=True, workers=1) == max_idxs


@pytest.mark.slow
def test_missing_raw_file_and_column(raw_dir, tmp_path):
    partial = tmp_path / "raw"
    shutil.copytree(raw_dir, partial)
    os.remove(partial / "test1_truth.csv")
    with pytest.raises(RawDataError, match="test1_truth.csv"):
        pp.preprocess(str(partial), str(tmp_path / "out"))
    shutil.copy(os.path.join(raw_dir, "test1_truth.csv"), partial)
    seeds = pd.read_csv(partial / "train.csv")
    seeds.drop(columns="label").to_csv(partial / "train.csv", index=False)
    with pytest.raises(RawDataError, match=r"train.csv.*label"):
        pp.preprocess(str(partial), str(tmp_path / "out"))
    assert not (tmp_path / "out" / "train_data").exists()


@pytest.mark.slow
def test_zero_one_candidate_labels_and_no_cold(raw_dir, processed, tmp_path):
    """test1_truth.csv with {1, 0} labels; a threshold below every count
    leaves the cold files empty but readable; default chunking and a
    single process give the same train file."""
    _, _, frames = processed
    raw = tmp_path / "raw"
    shutil.copytree(raw_dir, raw)
    _, cands = raw_rows(raw_dir)
    cands.assign(label=(cands.label == 1).astype(int)).to_csv(
        raw / "test1_truth.csv", index=False, header=False)
    out = tmp_path / "out"
    pp.preprocess(str(raw), str(out), cold_threshold=-1, seed=SEED, workers=1)
    paths, _ = pp.output_paths(str(out))
    back = {k: pd.read_pickle(p) for k, p in paths.items()}
    assert len(back["cold1"]) == 0 and len(back["cold2"]) == 0
    assert tuple(back["cold2"].columns) == ALL_COLUMNS
    both = pd.concat([frames["hot2"], frames["cold2"]])
    assert back["hot2"]["label"].sum() == both["label"].sum() > 0
    pd.testing.assert_frame_equal(back["train"], frames["train"])


@pytest.mark.slow
def test_handwritten_lines(tmp_path):
    """CRLF, a trailing '|', an unknown field, a name without values, a
    repeated field (the first wins), a user absent from the file, and exact
    ids under the convention."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "userFeature.data").write_bytes(
        b"uid 10|age 4|LBS 900|interest1 93 70 77|kw1 800000 5|new 1 2\r\n"
        b"uid 20|LBS 7|interest1 70 1 2 3 4 5 6 7 8 9 10 11|kw1|house 1|\r\n"
        b"uid 30|age 2|interest2 3|interest2 5 6\r\n")
    (raw / "adFeature.csv").write_text(
        "aid,advertiserId,campaignId,creativeId,creativeSize,adCategoryId,"
        "productId,productType\n1,500,9,1,59,3,0,4\n2,400,9,2,35,3,7,9\n")
    (raw / "train.csv").write_text(
        "aid,uid,label\n1,10,1\n1,20,-1\n2,30,1\n2,10,-1\n2,99,1\n")
    (raw / "test1_truth.csv").write_text("1,30,1\n2,20,-1\n")
    out = tmp_path / "out"
    max_idxs = pp.preprocess(str(raw), str(out), cold_threshold=0, seed=1)
    paths, _ = pp.output_paths(str(out))
    df = pd.concat([pd.read_pickle(p) for p in paths.values()])
    rows = list(df.itertuples())
    assert len(rows) == 6
    age, lbs, house = (STATIC_FIELDS.index(f) for f in ("age", "LBS",
                                                         "house"))
    assert max_idxs[0][age] == 2 and max_idxs[0][lbs] == 2
    assert max_idxs[0][house] == 1
    # interest1 vocabulary over the kept (first 10) ids: 1..9, 70, 77, 93
    assert max_idxs[1][0] == 12 and max_idxs[1][3] == 2
    by_uid = {}
    for r in rows:
        key = (r.interest1_length, r.kw1_length, r.age)
        by_uid.setdefault(key, r)
    u10 = by_uid[(3, 2, 2)]
    assert list(u10.interest1) == [12, 10, 11, 0, 0, 0, 0, 0, 0, 0]
    assert list(u10.kw1) == [2, 1, 0, 0, 0]
    assert u10.LBS == 2 and u10.house == 0
    u20 = by_uid[(10, 0, 0)]
    assert list(u20.interest1) == [10, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert u20.LBS == 1 and u20.house == 1 and u20.age == 0
    u30 = by_uid[(0, 0, 1)]
    assert u30.interest2_length == 1 and list(u30.interest2) == [1] + [0] * 9
    assert max_idxs[1][1] == 1
    # uid 99 is absent from the user file: every user field missing
    absent = [r for r in rows if r.aid == 2 and r.label == 1 and
              r.interest1_length == 0 and r.interest2_length == 0]
    assert len(absent) == 1 and absent[0].age == 0 and absent[0].LBS == 0


def test_generator_is_seeded_and_consistent(raw_dir, tmp_path):
    again = tmp_path / "again"
    write_raw(str(again), SIZE, seed=3)
    for name in ("adFeature.csv", "userFeature.data", "train.csv",
                 "test1_truth.csv"):
        with open(os.path.join(raw_dir, name), "rb") as a, \
                open(again / name, "rb") as b:
            assert a.read() == b.read(), name
    users = read_raw_users(os.path.join(raw_dir, "userFeature.data"))
    assert len(users) == SIZE.users
    seeds, cands = raw_rows(raw_dir)
    assert len(seeds) == SIZE.train_rows and len(cands) == SIZE.test_rows
    assert set(seeds.label) == set(cands.label) == {1, -1}
    assert set(seeds.uid) | set(cands.uid) <= set(users)
    assert not seeds.duplicated(["aid", "uid"]).any()
    ads = pd.read_csv(os.path.join(raw_dir, "adFeature.csv"))
    assert set(seeds.aid) <= set(ads.aid) and len(ads) == SIZE.campaigns
    # sparse raw ids, so that the re-index matters
    assert max(v for u in users.values() for v in u.get("kw1", [])) > 10**5


@pytest.mark.slow
def test_command_lines(tmp_path):
    import subprocess
    import sys
    from helpers import tool_env
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    raw, out = str(tmp_path / "raw"), str(tmp_path / "out")
    subprocess.run([sys.executable, "tools/make_raw_data.py", "--out", raw,
                    "--users", "400", "--train-rows", "900", "--test-rows",
                    "300", "--campaigns", "6", "--seed", "5"], cwd=root,
                   env=tool_env(), check=True, capture_output=True)
    done = subprocess.run([sys.executable, "tools/preprocess.py", "--raw",
                           raw, "--out", out, "--cold-threshold", "3",
                           "--verify"], cwd=root, env=tool_env(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("max_idxs: [[")
    assert "parse userFeature.data" in done.stderr
    again = subprocess.run([sys.executable, "tools/preprocess.py", "--raw",
                            raw, "--out", out], cwd=root, env=tool_env(),
                           capture_output=True, text=True)
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.slow
def test_outputs_pass_the_projects_stage_reader(processed):
    out, max_idxs, frames = processed
    paths, _ = pp.output_paths(out)
    maxima = IdMaxima.from_config(max_idxs)
    for key, path in paths.items():
        if len(frames[key]):
            assert len(stage_files.read_stage(path, maxima)) == len(frames[key])


@pytest.mark.slow
def test_candidates_that_are_seeds_are_counted_and_dropped(
        raw_dir, threshold, tmp_path, caplog):
    """A candidate whose user is a seed of the same campaign is named in a
    warning and left out of stage 2 (kept only on request); the same user
    as a candidate of another campaign stays."""
    raw = tmp_path / "raw"
    shutil.copytree(raw_dir, raw)
    seeds, cands = raw_rows(raw_dir)
    rows = tuple(seeds[c].to_numpy() for c in ("aid", "uid", "label"))
    rows = rows[:2] + ((rows[2] == 1).astype(np.int64), )
    _, hot, cold = pp.split_campaigns(rows, SEED, threshold)
    test = set(hot) | set(cold)
    cands = cands[cands.aid.isin(test)]   # stage 2 holds test campaigns'
    base = len(without_seed_pairs(cands, seeds))
    leaked = pd.concat([seeds[seeds.aid == a].head(3) for a in
                        (hot[0], cold[0])])
    # the same users as candidates of a campaign whose seeds lack them
    other = leaked.assign(aid=hot[-1])
    other = without_seed_pairs(other, seeds)
    pd.concat([cands, leaked, other]).to_csv(
        raw / "test1_truth.csv", index=False, header=False)
    expected = len(without_seed_pairs(pd.concat([cands, leaked, other]),
                                      seeds))
    assert expected == base + len(other) and len(other) > 0
    counts = {}
    for keep in (False, True):
        out = tmp_path / ("kept" if keep else "dropped")
        caplog.clear()
        pp.preprocess(str(raw), str(out), cold_threshold=threshold,
                      seed=SEED, workers=1, keep_seed_candidates=keep)
        paths, _ = pp.output_paths(str(out))
        counts[keep] = sum(len(pd.read_pickle(paths[k]))
                           for k in ("hot2", "cold2"))
        warned = [r.getMessage() for r in caplog.records
                  if "seed set in train.csv" in r.getMessage()]
        assert len(warned) == 1
        leaks = len(cands) + len(leaked) + len(other) - expected
        assert warned[0].startswith("%d row(s) of test1_truth.csv in " %
                                    leaks)
        assert str(hot[0]) in warned[0] and str(cold[0]) in warned[0]
        assert ("kept" if keep else "dropped") in warned[0]
    assert counts[False] == expected
    assert counts[True] == len(cands) + len(leaked) + len(other)


def test_seed_pairs_mask_matches_a_join():
    rng = np.random.default_rng(0)
    cands = (rng.integers(0, 5, 400), rng.integers(0, 60, 400) * 10 ** 9,
             rng.integers(0, 2, 400))
    seeds = (rng.integers(0, 5, 300), rng.integers(0, 60, 300) * 10 ** 9,
             rng.integers(0, 2, 300))
    mask = pp.seed_pairs(cands, seeds)
    pairs = set(zip(seeds[0].tolist(), seeds[1].tolist()))
    assert mask.tolist() == [(a, u) in pairs for a, u in
                             zip(cands[0].tolist(), cands[1].tolist())]
    assert 0 < mask.sum() < len(mask)
    assert len(pp.seed_pairs(tuple(c[:0] for c in cands), seeds)) == 0
