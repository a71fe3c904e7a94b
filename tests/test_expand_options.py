"""tools/expand.py's marketer options, in both input forms: --exclude
(excluded users in no audience, counted; bad files refused before any
work), --tiers (nested, sized by the one top-k rule, a tier column),
--overlap (equal to the overlap of the written files, also for earlier
runs with tools/overlap.py) and --plot (a PNG; checked by drawing before
any work, matplotlib named when missing; a plot failing after the work
loses no audience)."""
import base64
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from audience import exclusions, output, overlap, plot, tiers
from audience.expansion import audience_size, expand
from dataio.campaign import Campaign, TableCampaign
from dataio.stage_files import DataError
from helpers import (ROOT, errors, random_inputs, small_config, tool_env,
                     warnings, write)
from support.expansion import (overlapping_stage_files, small_model,
                               stage_files, tool)

CONFIG = small_config("hyper_parameters.batch_size=16")


# ------------------------------------------------------ --exclude: the file
def test_an_exclusion_file_is_a_csv_or_a_plain_list(tmp_path):
    plain = exclusions.read_exclusions(write(tmp_path / "a", "7\n3\n\n7\n"))
    assert plain.of(1).tolist() == [3, 7] and plain.users == 2
    csv = exclusions.read_exclusions(write(tmp_path / "b.csv",
                                           "name,uid\nx,5\ny,2\n"))
    assert csv.of(9).tolist() == [2, 5]
    # aid: that campaign only; an empty aid: every campaign
    per = exclusions.read_exclusions(write(tmp_path / "c.csv",
                                           "uid,aid\n1,4\n2,\n3,5\n"))
    assert per.of(4).tolist() == [1, 2] and per.of(5).tolist() == [2, 3]
    assert per.of(6).tolist() == [2] and per.users == 3


@pytest.mark.parametrize("text, said", [
    ("user,aid\n1,2\n", "has no uid column (header: user,aid)"),
    ("uid\n1\nabc\n", "line 3: uid 'abc' is not an integer id"),
    ("uid,aid\n1,2\n2,x\n", "line 3: aid 'x' is not an integer id"),
    ("1\n2\n3.5\n", "line 3: uid '3.5' is not an integer id"),
    ("1\n2,3\n", "line 2: '2,3' is not one uid"),
    ("uid,aid\n1\n", "line 2 has 1 fields, the header 2"),
    ("\n\n", "is empty"),
])
def test_a_malformed_exclusion_file_is_one_line_naming_file_and_row(
        tmp_path, text, said):
    path = write(tmp_path / "ex.csv", text)
    with pytest.raises(DataError) as err:
        exclusions.read_exclusions(path)
    message = str(err.value)
    assert path in message and said in message and "\n" not in message


# ---------------------------------------------- --exclude: both forms
def campaign(aid, cand_uid, seed=0):
    rng = np.random.default_rng(seed)
    n = len(cand_uid)
    return Campaign(aid, random_inputs(rng, 20), np.arange(9000, 9020),
                    (np.arange(20) % 2).astype(np.float32),
                    random_inputs(rng, n), np.asarray(cand_uid),
                    (np.arange(n) % 3 == 0).astype(np.float32))


@pytest.mark.slow
def test_excluded_users_are_in_no_audience_form_one(tmp_path):
    shut = exclusions.read_exclusions(write(
        tmp_path / "ex.csv", "uid,aid\n100,\n101,\n150,2\n9000,1\n"))
    campaigns = [campaign(1, np.arange(100, 160)),
                 campaign(2, np.arange(100, 160), seed=1)]
    results, _ = expand(CONFIG, campaigns, 0.99, *small_model(),
                        exclusions=shut)
    one, two = results
    assert not {100, 101} & set(one.uid.tolist())
    assert not {100, 101, 150} & set(two.uid.tolist())
    assert 150 in one.uid.tolist()   # an aid row is that campaign's only
    # a seed uid among the exclusions is no candidate to count
    assert one.summary["excluded"] == 2 and two.summary["excluded"] == 3
    assert one.summary["candidates"] == 58 and two.summary["candidates"] == 57


@pytest.mark.slow
def test_excluded_users_are_in_no_audience_form_two(users):
    _, table = users    # uids 0, 5, ..., 995
    shut = exclusions.Exclusions("ex", np.array([100, 105, 7]),
                                 {3: np.array([110])})
    # labelled seeds: no negatives drawn, so every other user is a candidate
    made = [TableCampaign(aid, np.arange(20),
                          (np.arange(20) % 2).astype(np.float32),
                          np.array([3] * 6)) for aid in (3, 4)]
    results, _ = expand(CONFIG, made, 0.99, *small_model(), table=table,
                        exclusions=shut)
    for result, gone in zip(results, ({100, 105, 110}, {100, 105})):
        assert not gone & set(result.uid.tolist())
        assert result.summary["excluded"] == len(gone)
        assert len(result.uid) == 180 - len(gone)
    assert 110 in results[1].uid.tolist()


def test_an_exclusion_file_naming_no_known_user_is_warned_about(tmp_path,
                                                                caplog):
    caplog.set_level(logging.INFO)
    shut = exclusions.read_exclusions(write(tmp_path / "ex.csv",
                                            "uid,aid\n5,1\n6,77\n"))
    results, skipped = expand(CONFIG, [campaign(1, np.arange(100, 130))],
                              0.5, *small_model(), exclusions=shut)
    shut.check_use(results, skipped)
    said = " ".join(warnings(caplog))
    assert "names no candidate of any campaign" in said and "ex.csv" in said
    assert "rows for campaign(s) 77" in said


# ------------------------------------------------------------- --tiers
def test_tiers_are_parsed_sorted_and_checked():
    assert tiers.parse_tiers("10,1,2.5,1") == (1, 2.5, 10)
    for bad in ("0,5", "5,100", "x", "", "5%,100%"):
        with pytest.raises(ValueError, match="--tiers"):
            tiers.parse_tiers(bad)
    # percentages may carry their sign; 0.5% is half a percent
    assert tiers.parse_tiers("5%,1%, 10%") == (1, 5, 10)
    assert tiers.parse_tiers("0.5%,0.1%") == (0.1, 0.5)
    assert tiers.parse_tiers("0.5,2") == (0.5, 2)


def test_tiers_that_read_as_fractions_are_refused():
    """0.05,0.1 would deliver 0.05 % and 0.1 % of the candidates (a user
    or two) to someone who meant the fractions --top takes."""
    with pytest.raises(ValueError, match=r"--tiers 0.05,0.1: every tier is "
                       r"below 1 %.*write 5,10 \(or 5%,10%\)"):
        tiers.parse_tiers("0.05,0.1")


@pytest.mark.parametrize("n", [1, 7, 60, 333, 1000, 12345])
def test_tiers_are_nested_and_sized_by_the_one_top_k_rule(n):
    percents = (1, 2, 5, 10)
    sizes = tiers.sizes(percents, n)
    assert sizes == [audience_size(p / 100, n) for p in percents]
    assert sizes == sorted(sizes)
    tier = tiers.tier_of_rank(percents, n)
    assert len(tier) == audience_size(tiers.top_of(percents), n)
    # rank r is in tier t exactly when r <= size of t
    for p, size in zip(percents, sizes):
        assert (tier[:size] <= p).all() and (tier[size:] > p).all()


def test_a_tiered_audience_is_the_largest_tier_with_its_column():
    (result, ), _ = expand(CONFIG, [campaign(1, np.arange(100, 300))],
                           tiers.top_of((1, 5, 10)), *small_model())
    text = output.audience_csv(result, (1, 5, 10)).splitlines()
    assert text[0] == "uid,score,rank,top_percent,tier"
    column = [line.split(",")[-1] for line in text[1:]]
    assert column == ["1"] * 2 + ["5"] * 8 + ["10"] * 10
    rows = tiers.summarize(result, (1, 5, 10))
    assert [r["size"] for r in rows] == [2, 10, 20]
    best = result.label[result.order]
    assert [r["precision"] for r in rows] == pytest.approx(
        [best[:2].mean(), best[:10].mean(), best[:20].mean()])
    # the seed diagnostics (on in config.yaml) give each tier's expected
    # precision, keyed by the tier's label
    expected = result.summary["diagnostics"]["precision_at"]
    assert [r["expected_precision"] for r in rows] == [
        expected[tiers.label(p)] for p in (1, 5, 10)]
    # the hook for seed diagnostics: their precision at a tier is shown
    result.summary["diagnostics"] = {"precision_at": {"5": 0.4}}
    assert [r["expected_precision"] for r in
            tiers.summarize(result, (1, 5, 10))] == [None, 0.4, None]


# -------------------------------------------- the tool, in-process, form 1
def expand_tool(checkpoint, tmp_path, out, *options):
    seeds, cands = overlapping_stage_files(tmp_path)
    return tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", out, *options)


def written_audiences(out):
    summary = json.loads((out / "summary.json").read_text())
    return summary, {c["aid"]: pd.read_csv(out / str(c["aid"]) /
                                           "audience.csv")
                     for c in summary["campaigns"]}


@pytest.mark.slow
def test_the_tool_excludes_tiers_and_reports_overlap(tmp_path, checkpoint):
    shut = write(tmp_path / "ex.txt", "500\n501\n502\n")
    out = tmp_path / "out"
    assert expand_tool(checkpoint, tmp_path, out, "--exclude", shut,
                       "--tiers", "5,10,25", "--overlap") == 0
    summary, audiences = written_audiences(out)
    assert summary["tier_fractions"] == [0.05, 0.1, 0.25]
    assert summary["provenance"]["exclude"] == os.path.abspath(shut)
    for c in summary["campaigns"]:
        frame = audiences[c["aid"]]
        assert c["excluded"] == 3 and c["candidates"] == 77
        assert not {500, 501, 502} & set(frame.uid)
        assert [t["size"] for t in c["tiers"]] == [3, 7, 19]  # int(n * share)
        assert len(frame) == 19 == c["audience"]
        assert (frame.tier.to_numpy() == np.repeat([5, 10, 25],
                                                   [3, 4, 12])).all()
    # overlap.csv is the overlap of the files written
    table = pd.read_csv(out / "overlap.csv")
    assert list(table.columns) == list(overlap.COLUMNS)
    (row, ) = table.itertuples()
    a, b = set(audiences[row.aid_a].uid), set(audiences[row.aid_b].uid)
    assert (row.size_a, row.size_b, row.overlap) == (len(a), len(b),
                                                     len(a & b))
    assert row.overlap > 0   # same candidates: a test that can fail
    assert row.share_of_a == pytest.approx(len(a & b) / len(a), abs=1e-6)
    assert row.share_of_b == pytest.approx(len(a & b) / len(b), abs=1e-6)
    # the report shows the tiers in users and the same overlap
    page = (out / "report.html").read_text()
    assert "top 25 % · the audience" in page
    assert "Overlap of the audiences" in page
    assert ">%d <span class=small>(" % row.overlap in page


@pytest.mark.slow
def test_overlap_of_earlier_runs_equals_the_files(tmp_path, checkpoint):
    runs = [tmp_path / "one" / "aud", tmp_path / "two" / "aud"]
    for i, out in enumerate(runs):
        assert expand_tool(checkpoint, tmp_path, out,
                           "--top", str(0.1 + 0.2 * i)) == 0
    report = tmp_path / "overlap.csv"
    from tools import overlap as overlap_tool
    assert overlap_tool.main([str(r) for r in runs] + ["--out",
                                                        str(report)]) == 0
    table = pd.read_csv(report)
    files = {}
    for run, name in zip(runs, ("one/aud", "two/aud")):
        for aid, frame in written_audiences(run)[1].items():
            files["%s/%d" % (name, aid)] = set(frame.uid)
    # aids repeat across the runs: named by folder (path, the last
    # parts clash) and aid
    assert len(table) == 6
    for row in table.itertuples():
        key_a = os.path.relpath(row.aid_a, str(tmp_path))
        key_b = os.path.relpath(row.aid_b, str(tmp_path))
        a, b = files[key_a], files[key_b]
        assert (row.size_a, row.size_b, row.overlap) == (len(a), len(b),
                                                         len(a & b))
    # refused when it exists, replaced with --overwrite
    assert overlap_tool.main([str(runs[0]), "--out", str(report)]) == 2
    assert overlap_tool.main([str(runs[0]), "--out", str(report),
                              "--overwrite"]) == 0
    assert len(pd.read_csv(report)) == 1


def test_overlap_names_campaigns_by_aid_when_none_repeats():
    rows = overlap.overlap_rows([(3, [1, 2, 3, 3]), (4, [3, 4]), (5, [])])
    assert rows == [("3", "4", "3", "2", "1", "0.333333", "0.500000"),
                    ("3", "5", "3", "0", "0", "0.000000", ""),
                    ("4", "5", "2", "0", "0", "0.000000", "")]


def test_top_and_tiers_together_are_refused_before_any_work(
        tmp_path, checkpoint, caplog):
    out = tmp_path / "out"
    assert expand_tool(checkpoint, tmp_path, out, "--top", "0.1",
                       "--tiers", "5,10") == 1
    assert "--top and --tiers both set the audience size" in \
        " ".join(errors(caplog))
    assert not out.exists()


def test_a_bad_exclusion_file_stops_the_tool_before_any_work(
        tmp_path, checkpoint, caplog):
    out = tmp_path / "out"
    bad = write(tmp_path / "ex.csv", "uid\n12\n1e3\n")
    assert expand_tool(checkpoint, tmp_path, out, "--exclude", bad) == 1
    (line, ) = errors(caplog)
    assert bad in line and "line 3" in line
    assert not out.exists()


@pytest.mark.slow
def test_plot_writes_a_png_of_the_run(tmp_path, checkpoint):
    out = tmp_path / "out"
    assert expand_tool(checkpoint, tmp_path, out, "--tiers", "5,10",
                       "--plot") == 0
    data = (out / "reach.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    picture = matplotlib.image.imread(str(out / "reach.png"))
    assert picture.shape[:2] == (480, 1000)   # one panel: 2 campaigns
    assert picture[..., :3].std() > 0.05   # something is drawn
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plot"] == "reach.png" and summary["report"] == \
        "report.html"
    # the report shows the same picture inline
    page = (out / "report.html").read_text()
    assert base64.b64encode(data).decode() in page
    for c in summary["campaigns"]:
        assert 'data-aid="%d"' % c["aid"] in page
    # --plot scores: the scores panel below
    again = tmp_path / "again"
    assert expand_tool(checkpoint, tmp_path, again, "--tiers", "5,10",
                       "--plot", "scores") == 0
    taller = matplotlib.image.imread(str(again / "reach.png"))
    assert taller.shape[1] == 1000 and taller.shape[0] > 480


def test_plot_draws_the_lift_the_summary_measured():
    from audience import summary_view
    (result, ), _ = expand(CONFIG, [campaign(1, np.arange(100, 300))], 0.1,
                           *small_model())
    (shown, ) = summary_view.read({"campaigns": [result.summary]}).campaigns
    where, lift = plot.measured(shown)
    assert where.tolist() == [1, 2, 5, 10]
    best = result.label[result.order]
    base = best.mean()
    # the top k of 200 candidates: 2, 4, 10, 20
    assert lift == pytest.approx([best[:k].mean() / base
                                  for k in (2, 4, 10, 20)])
    result.summary["diagnostics"] = {"precision_at": {"10": 0.3, "1": 0.5},
                                     "base_rate": 0.25}
    (shown, ) = summary_view.read({"campaigns": [result.summary]}).campaigns
    where, value, bounds = plot.expected(shown)
    assert where.tolist() == [1.0, 10.0] and value.tolist() == [2.0, 1.2]
    assert bounds is None


def test_plot_without_matplotlib_is_one_line_before_any_work(
        tmp_path, checkpoint, caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "out"
    assert expand_tool(checkpoint, tmp_path, out, "--plot") == 1
    assert errors(caplog) == [plot.NEEDS]
    assert not out.exists()


@pytest.mark.slow
def test_option_errors_come_before_paddle_is_loaded(tmp_path):
    bad = write(tmp_path / "ex.csv", "user\n1\n")
    code = ("import sys; from tools import expand; "
            "status = expand.main(sys.argv[1:]); "
            "print('STATUS', status, 'paddle' in sys.modules)")
    done = subprocess.run(
        [sys.executable, "-c", code, "-m", str(ROOT / "config.yaml"),
         "--seeds", "s.pkl", "--candidates", "c.pkl", "--exclude", bad,
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
        env=tool_env())
    assert "STATUS 1 False" in done.stdout, done.stdout + done.stderr
    assert "has no uid column" in done.stdout + done.stderr


def test_a_sample_test_set_becomes_a_user_table(tmp_path):
    from dataio import schema
    from dataio.safe_pickle import read_pickle_safely
    from dataio.user_table import UserTable
    from dataio.vocabulary import read_max_idxs_file
    from tools import sample_user_table
    sample_user_table.main(["--set", "cold", "--out", str(tmp_path)])
    seeds = read_pickle_safely(str(ROOT / "data" / "test_cold" /
                                   "test_cold_stage1.pkl"))
    cands = read_pickle_safely(str(ROOT / "data" / "test_cold" /
                                   "test_cold_stage2.pkl"))
    maxima = schema.IdMaxima.from_config(
        read_max_idxs_file(str(ROOT / "data" / "max_idxs.yaml")))
    table = UserTable(str(tmp_path / "users"), maxima)
    assert len(table) == len(seeds) + len(cands)
    listed = pd.read_csv(tmp_path / "seeds.csv")
    assert listed.label.tolist() == seeds.label.tolist()
    assert (table.positions(listed.uid.to_numpy()) >= 0).all()
    ads = pd.read_csv(tmp_path / "ads.csv")
    assert ads.aid.tolist() == sorted(seeds.aid.unique())
    # a seed's row in the table holds its fields
    row = table.positions(np.array([listed.uid[7]]))
    x = table.inputs(row, ads.iloc[0, 1:].to_numpy())
    from dataio.stage_files import read_stage
    stage = read_stage(str(ROOT / "data" / "test_cold" /
                           "test_cold_stage1.pkl"), maxima,
                       use_cache=False)
    for got, want in zip(x[:3], stage.inputs(np.array([7]))[:3]):
        np.testing.assert_array_equal(got, want)


def test_a_campaign_whose_candidates_are_all_excluded_is_skipped(users):
    _, table = users
    everyone = exclusions.Exclusions("ex", np.arange(1000), {})
    results, skipped = expand(CONFIG, [campaign(1, np.arange(10))], 0.5,
                              *small_model(), exclusions=everyone)
    assert not results and "every candidate" in skipped[0].reason
    mixed = (np.arange(20) % 2).astype(np.float32)
    results, skipped = expand(
        CONFIG, [TableCampaign(3, np.arange(20), mixed, np.array([3] * 6),
                               cand_rows=np.arange(40))],
        0.5, *small_model(), table=table, exclusions=everyone)
    assert not results and "every candidate" in skipped[0].reason
    assert "(20)" in skipped[0].reason


# -------------------------------------------------- --plot, checked
def test_plot_check_draws_as_the_plot_does(monkeypatch):
    from audience import plot
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ValueError, match="--plot cannot draw reach.png") as e:
        plot.require()
    assert "matplotlib.pyplot" in str(e.value)
    assert "leave out --plot" in str(e.value)


def test_plot_without_pyplot_stops_before_any_work(tmp_path, monkeypatch,
                                                   caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    seeds, cands = stage_files(tmp_path)
    # no checkpoint there: any work would fail on it first
    assert tool("expand", tmp_path / "nowhere", "--seeds", seeds,
                "--candidates", cands, "--plot", "--out",
                tmp_path / "aud") == 1
    (line, ) = errors(caplog)
    assert line.startswith("--plot cannot draw")
    assert not (tmp_path / "aud").exists()


def test_a_plot_failing_after_the_work_loses_no_audience(
        tmp_path, checkpoint, monkeypatch, caplog):
    from audience import plot
    caplog.set_level(logging.INFO)

    def broken(*args, **kwargs):
        raise RuntimeError("the font cache is unreadable")
    monkeypatch.setattr(plot, "reach_png", broken)
    seeds, cands = stage_files(tmp_path)
    out = tmp_path / "aud"
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--plot", "--out", out) == 0
    assert sorted(os.listdir(out)) == ["9", "audiences.csv", "report.html", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plot"] == ("not drawn: RuntimeError: the font cache is "
                               "unreadable")
    assert any("reach.png not drawn" in w for w in warnings(caplog))
