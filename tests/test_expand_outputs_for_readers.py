"""What an expansion's reader gets: one upload-ready audiences.csv equal to
the campaigns' audience files, ``--top 5%`` (= ``--top 0.05``) and
``--top-users N`` for a count (``--top 5`` refused in one line),
``top_percent`` counting from the best user, summary.json's shares as
fractions named so and its figures rounded in one place, its
``provenance`` (checkpoint and checksum, inputs, resolved config, time,
version), names that cannot be misread, and a note when the campaigns'
candidates cannot overlap. The tool runs in this process."""
import datetime
import hashlib
import json
import os
import subprocess
from importlib import metadata

import numpy as np
import pandas as pd
import pytest

from audience import output, provenance
from audience.ranking import percent_label, top_label, top_record
from helpers import write
from support.expansion import overlapping_stage_files, stage_files, tool


def expand(checkpoint, tmp_path, out, *options, files=None):
    seeds, cands = files or overlapping_stage_files(tmp_path)
    return tool("expand", checkpoint, "--seeds", seeds, "--candidates",
                cands, "--out", out, *options)


def summary_of(out):
    return json.loads((out / "summary.json").read_text())


def campaign_files(out, summary):
    return {c["aid"]: pd.read_csv(out / str(c["aid"]) / "audience.csv")
            for c in summary["campaigns"]}


# ------------------------------------------------------------ audiences.csv
@pytest.mark.parametrize("options, tier_of", [
    (["--top", "30%"], lambda frame: ["30%"] * len(frame)),
    (["--tiers", "5,10,25"], lambda frame: [t + "%" for t in
                                            frame.tier.astype(str)]),
    (["--top-users", "30"], lambda frame: ["30 users"] * len(frame)),
])
def test_audiences_csv_is_the_campaigns_audience_files_in_one(
        tmp_path, checkpoint, options, tier_of):
    out = tmp_path / "out"
    assert expand(checkpoint, tmp_path, out, *options) == 0
    summary = summary_of(out)
    union = pd.read_csv(out / "audiences.csv", dtype={"tier": str})
    assert list(union.columns) == ["aid", "uid", "tier"]
    expected = []
    for aid, frame in campaign_files(out, summary).items():
        expected += [(aid, int(u), t) for u, t in zip(frame.uid,
                                                      tier_of(frame))]
    # the same rows, in the same order: campaign by campaign, best first
    assert list(union.itertuples(index=False, name=None)) == expected
    assert not union.duplicated(["aid", "uid"]).any()
    # the two campaigns rank the same users: the union counts them once
    assert summary["union"] == {"file": "audiences.csv",
                                "rows": len(union),
                                "distinct_users": union.uid.nunique()}
    assert union.uid.nunique() < len(union)


def test_a_repeated_candidate_is_one_row_of_audiences_csv():
    class Ranked:   # an expansion whose candidates name user 7 twice
        aid, audience_size = 3, 4
        uid = np.array([7, 8, 7, 9, 10])
        score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
        order = np.arange(5)
    uids, names = output.union_of(Ranked, top=4)
    assert uids.tolist() == [7, 8, 9] and names.tolist() == ["4 users"] * 3


def test_audiences_csv_is_the_tools_own_file(tmp_path, checkpoint):
    """--overwrite replaces an output holding it; a file beside it that the
    tool does not write is still named."""
    out = tmp_path / "out"
    assert expand(checkpoint, tmp_path, out) == 0
    assert output.foreign_entries(str(out), output.TOOLS["expand"]) == []
    assert expand(checkpoint, tmp_path, out, "--overwrite") == 0
    write(out / "audiences.csv.bak", "mine")
    assert output.foreign_entries(str(out), output.TOOLS["expand"]) == [
        "audiences.csv.bak"]


# ------------------------------------------------------- --top, --top-users
def test_top_five_percent_is_top_point_zero_five(tmp_path, checkpoint):
    runs = {}
    for given in ("5%", "0.05"):
        out = tmp_path / given
        assert expand(checkpoint, tmp_path, out, "--top", given) == 0
        runs[given] = summary_of(out), campaign_files(out, summary_of(out))
    (a, files_a), (b, files_b) = runs.values()
    assert a["top_fraction"] == b["top_fraction"] == 0.05
    assert "top" not in a and "top_users" not in a
    for aid, frame in files_a.items():
        # 5 % of 80 candidates: 4 users, the last one at the top 5.0 %
        assert len(frame) == 4 and frame.top_percent.iloc[-1] == 5.0
        pd.testing.assert_frame_equal(frame, files_b[aid])


def test_a_count_is_said_with_top_users(tmp_path, checkpoint, caplog):
    out = tmp_path / "out"
    assert expand(checkpoint, tmp_path, out, "--top-users", "7") == 0
    summary = summary_of(out)
    assert summary["top_users"] == 7 and "top_fraction" not in summary
    assert all(len(f) == 7 for f in campaign_files(out, summary).values())
    # more than a campaign holds: all of it, said
    assert expand(checkpoint, tmp_path, tmp_path / "all", "--top-users",
                  "500") == 0
    assert "--top-users 500 but only 80 candidates" in caplog.text


@pytest.mark.parametrize("options, said", [
    (["--top", "5"], "--top 5 is not a share of the candidates: say --top "
     "5% for 5 % of them, or --top-users 5 for 5 users"),
    (["--top", "150%"], "--top takes a share of the candidates, above 0 and "
     "below 100 %: a percentage (5%) or a fraction (0.05); got '150%'"),
    (["--top", "-3"], "got '-3'"),
    (["--top", "5.5"], "--top 5.5 is not a fraction of the candidates "
     "(below 1): say --top 5.5% for 5.5 % of them"),
    (["--top-users", "2.5"], "--top-users takes a whole number of users >= "
     "1; got '2.5'"),
])
def test_a_bad_size_is_one_line_before_any_work(tmp_path, checkpoint, capsys,
                                                options, said):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        expand(checkpoint, tmp_path, out, *options)
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert said in error and not out.exists()


def test_two_sizes_together_are_refused(tmp_path, checkpoint, caplog):
    out = tmp_path / "out"
    assert expand(checkpoint, tmp_path, out, "--top", "5%", "--top-users",
                  "7") == 1
    assert "--top and --top-users both set the audience size" in caplog.text
    assert not out.exists()


def test_labels_and_records_of_a_size():
    assert top_label(0.05) == "5%" and top_label(0.025) == "2.5%"
    assert top_label(1000) == "1000 users"
    assert percent_label(0.07) == "7"   # 0.07 * 100 is 7.000000000000001
    assert top_record(0.05) == {"top_fraction": 0.05}
    assert top_record(7) == {"top_users": 7}


# ---------------------------------------------- summary.json: names, figures
def floats(value, skip=("provenance", )):
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in skip:
                yield from floats(v, skip)
    elif isinstance(value, list):
        for v in value:
            yield from floats(v, skip)
    elif isinstance(value, float):
        yield value


def test_rounded_keeps_four_significant_digits():
    doc = {"auc": 0.8299713403880, "lift": [3.1892288045846278, 12345.678],
           "recall": 0.023809523809523808, "n": 7, "ok": True, "none": None,
           "nan": float("nan"), "deep": {"x": np.float64(0.123456)}}
    got = output.rounded(doc)
    assert got["auc"] == 0.83 and got["lift"] == [3.189, 12350.0]
    assert got["recall"] == 0.02381 and got["deep"]["x"] == 0.1235
    assert got["n"] == 7 and got["ok"] is True and got["none"] is None
    assert np.isnan(got["nan"]) and type(got["deep"]["x"]) is float


def test_the_summary_says_its_units_and_rounds_its_figures(tmp_path,
                                                            checkpoint):
    out = tmp_path / "out"
    assert expand(checkpoint, tmp_path, out, "--tiers", "2.5,10") == 0
    summary = summary_of(out)
    figures = list(floats(summary))
    assert len(figures) > 20
    assert all(float("%.4g" % x) == x for x in figures)
    assert summary["tier_fractions"] == [0.025, 0.1]
    for c in summary["campaigns"]:
        assert [r["top_fraction"] for r in c["reach"]] == [
            0.01, 0.02, 0.05, 0.1, 0.2]
        assert [(t["tier"], t["top_fraction"]) for t in c["tiers"]] == [
            ("2.5", 0.025), ("10", 0.1)]
        # names that cannot be misread: the seeds found among the
        # candidates were taken out of them, not out of the seeds
        assert c["seeds_removed_from_candidates"] == 0
        assert "seeds_excluded" not in c and "percent" not in c["tiers"][0]
    assert not {"top", "tiers", "exclude"} & set(summary)


# -------------------------------------------------------------- provenance
def test_provenance_names_what_made_the_audiences(tmp_path, checkpoint):
    seeds, cands = overlapping_stage_files(tmp_path)
    shut = write(tmp_path / "ex.txt", "500\n")
    out = tmp_path / "out"
    before = datetime.datetime.now(datetime.timezone.utc).replace(
        microsecond=0)
    assert expand(checkpoint, tmp_path, out, "--exclude", shut,
                  files=(seeds, cands)) == 0
    made = summary_of(out)["provenance"]
    assert set(made) == {"checkpoint", "seeds", "candidates", "users", "ads",
                         "exclude", "config", "created", "version"}
    params = os.path.join(checkpoint, "rec.pdparams")
    assert made["checkpoint"] == {
        "path": params,
        "sha256": hashlib.sha256(open(params, "rb").read()).hexdigest()}
    assert made["seeds"] == str(seeds) and made["candidates"] == str(cands)
    assert made["exclude"] == os.path.abspath(shut)
    assert made["users"] is None and made["ads"] is None
    # the resolved config: every key, the meta-test's auto keys decided,
    # exact (not rounded)
    config = made["config"]
    assert config["expand.checkpoint"] == str(checkpoint)
    assert config["hyper_parameters.embed_dim"] == 4
    assert config["runner.infer_seed_blend"] != "auto"
    assert config["runner.infer_train_epoch"] != "auto"
    assert len(config) > 50
    created = datetime.datetime.fromisoformat(made["created"])
    assert created.utcoffset() == datetime.timedelta(0)
    assert before <= created <= datetime.datetime.now(datetime.timezone.utc)
    assert made["version"]["package"] == metadata.version(
        "metaheac-paddle")


def test_form_two_names_its_user_table_and_counts_shared_users_once(
        tmp_path, checkpoint, users):
    """Two campaigns ranking one user table: audiences.csv holds both
    audiences, the union counts a user in both once, and no overlap note
    is given (the table's users are every campaign's candidates)."""
    folder, _ = users
    write(tmp_path / "seeds.csv", "aid,uid,label\n" + "".join(
        "%d,%d,%d\n" % (aid, 5 * i, i % 2) for aid in (3, 4)
        for i in range(aid * 10, aid * 10 + 20)))
    out = tmp_path / "out"
    assert tool("expand", checkpoint, "--users", folder / "users", "--ads",
                folder / "ads.csv", "--seeds", tmp_path / "seeds.csv",
                "--top", "40%", "--overlap", "--out", out) == 0
    summary = summary_of(out)
    made = summary["provenance"]
    assert made["users"] == str(folder / "users")
    assert made["ads"] == str(folder / "ads.csv")
    assert made["seeds"] == str(tmp_path / "seeds.csv")
    assert made["candidates"] is None and made["exclude"] is None
    union = pd.read_csv(out / "audiences.csv")
    files = campaign_files(out, summary)
    assert sorted(files) == [3, 4] and len(union) == sum(
        len(f) for f in files.values())
    shared = len(set(files[3].uid) & set(files[4].uid))
    assert shared > 0
    assert summary["union"]["distinct_users"] == len(union) - shared
    assert "overlap_note" not in summary


def test_the_version_is_the_packages_and_the_commit_when_git_says(
        tmp_path, monkeypatch):
    commit = provenance.git_commit()
    if commit is not None:   # a checkout: the commit of its HEAD
        head = subprocess.run(["git", "-C", provenance.ROOT, "rev-parse",
                               "HEAD"], capture_output=True, text=True)
        assert commit.split("-")[0] == head.stdout.strip()
    # an installed copy inside someone else's repository names no commit
    (tmp_path / "inner").mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=False)
    assert provenance.git_commit(str(tmp_path / "inner")) is None

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")
    monkeypatch.setattr(subprocess, "run", no_git)
    assert provenance.git_commit() is None
    monkeypatch.setattr(provenance, "package_version", lambda: None)
    assert provenance.version_record() == {"package": None, "commit": None}


# ------------------------------------------------------------ overlap note
def test_campaigns_that_cannot_overlap_get_a_note(tmp_path, checkpoint,
                                                  caplog):
    """Form 1, each campaign its own candidate rows: overlap.csv holds only
    zeros, and the summary and the log say why."""
    (tmp_path / "own").mkdir()
    files = stage_files(tmp_path / "own", seed_aids=(9, 8), cand_aids=(9, 8))
    out = tmp_path / "out"
    assert expand(checkpoint, tmp_path, out, "--overlap", files=files) == 0
    summary = summary_of(out)
    assert (pd.read_csv(out / "overlap.csv").overlap == 0).all()
    assert "share no candidate" in summary["overlap_note"]
    assert any("--overlap: the campaigns share no candidate" in m
               for m in caplog.messages)
    # campaigns ranking the same users: no note
    again = tmp_path / "again"
    assert expand(checkpoint, tmp_path, again, "--overlap", "--top",
                  "25%") == 0
    assert "overlap_note" not in summary_of(again)
    assert (pd.read_csv(again / "overlap.csv").overlap > 0).all()
