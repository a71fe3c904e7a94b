"""The expansion's report.html (audience/report.py), built from a summary
document: one row per campaign with its seeds, tiers in users and
percent, expected and measured lift and a traffic light whose sentence
fits each case; the skipped campaigns with their reasons; the overlap
matrix only when asked; what produced the run; every text escaped; one
self-contained file. And the reach picture (audience/plot.py) drawn from
the same summary: one panel for a few lines, small multiples for more,
the scores panel only when asked. The browser check (headless Chromium)
skips where no Chromium is installed."""
import base64
import html
import io
import json
import re

import numpy as np
import pytest

from audience import output, plot, report, summary_view
from support import summaries
from support.summaries import campaign, diagnostics, summary


def rows_of(page):
    """{aid: the HTML of its row} of the campaigns table."""
    return dict(re.findall(r'<tr data-aid="([^"]*)">(.*?)</tr>', page, re.S))


def text_of(fragment):
    """The text a reader sees of an HTML fragment."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).replace(
        "\u00a0", " ").split())


def view(document, aid):
    (found, ) = [c for c in summary_view.read(document).campaigns
                 if c.aid == aid]
    return found


# ------------------------------------------------------------ the verdicts
@pytest.mark.parametrize("aid, light, sentence", [
    (1, report.GOOD, "ranks well: the 5 % tier is about 2.6× the base rate "
                     "(measured)"),
    (2, report.FAIR, "ranks a little better than random users: the 5 % tier "
                     "is about 1.2× the base rate"),
    (3, report.POOR, "ranks no better than random users: the 5 % tier is "
                     "about 0.9× the base rate"),
    (4, report.GOOD, "ranks well: the 5 % tier is expected to be about 3.0× "
                     "the base rate"),
    (5, report.FAIR, "distinctive, but the 5 % tier is expected to be only "
                     "about 1.2× the base rate"),
    (6, report.POOR, "not distinctive: the seeds do not stand out from "
                     "other users (expected AUC 0.52)"),
    (7, report.FAIR, "too few seeds to judge (3 positive and 23 negative)"),
    (8, report.UNKNOWN, "not judged: the candidates carry no labels and the "
                        "seed diagnostics were off"),
])
def test_each_case_gets_its_light_and_sentence(aid, light, sentence):
    document = summaries.every_case()
    said_light, said = report.verdict(view(document, aid))
    assert said_light == light and said.startswith(sentence)
    row = rows_of(report.report_html(document))[str(aid)]
    assert 'data-light="%s"' % light in row
    assert sentence in text_of(row)


def test_measured_figures_outrank_a_pessimistic_forecast():
    # the labels are the truth: seeds that looked not distinctive, an
    # audience that ranks well
    document = summary([campaign(1, measured_lift=3.0, diagnosed=diagnostics(
        False, lift=0.5, auc=0.45, interval=(0.2, 0.7)))])
    assert report.verdict(view(document, 1))[0] == report.GOOD


def test_the_verdict_quotes_the_tier_nearest_5_percent():
    document = summary([campaign(1, diagnosed=diagnostics(
        True, lift=2.0, tiers=(1, 3, 20)))], tiers=[1, 3, 20])
    assert "the 3 % tier is expected" in report.verdict(view(document, 1))[1]


# ------------------------------------------------------------ the table
def test_one_row_per_campaign_with_its_tiers_in_users_and_percent():
    document = summaries.every_case()
    page = report.report_html(document)
    rows = rows_of(page)
    assert sorted(rows) == [str(a) for a in range(1, 9)]
    first = text_of(rows["1"])
    # seeds, the audience in users and in % of the candidates, each tier
    assert "100 (40 positive)" in first
    assert "50 users (5 % of 1,000)" in first
    for users in ("10 users", "20 users", "50 users", "100 users"):
        assert users in first
    assert first.count("measured 2.6×") == 4
    # the delivered tier is named in the header
    assert "top 5 % · the audience" in text_of(page)
    lead = text_of(re.search(r"<p class=lead>(.*?)</p>", page).group(1))
    assert lead.startswith("8 campaigns expanded, 1 skipped. Audience: the "
                           "top 5 % of each campaign's candidates.")
    assert "2 good, 3 uncertain, 2 poor, 1 not judged" in lead


def test_expected_figures_carry_their_interval():
    diagnosed = diagnostics(True, lift=3.0)
    diagnosed["lift_interval_at"] = {k: [1.8, 4.1] for k in diagnosed[
        "lift_at"]}
    row = text_of(rows_of(report.report_html(summary([campaign(
        4, diagnosed=diagnosed)])))["4"])
    assert "expected 3.0× [1.8–4.1]" in row
    assert "expected 0.80 [0.70–0.90]" in row   # the AUC and its interval


def test_a_tier_interval_given_in_precision_becomes_one_in_lift():
    diagnosed = diagnostics(True, lift=2.0, base=0.25)
    diagnosed["precision_at"] = {k: {"value": 0.5, "interval": [0.25, 0.75]}
                                 for k in diagnosed["precision_at"]}
    del diagnosed["lift_at"]
    (tier, *_) = view(summary([campaign(1, diagnosed=diagnosed)]), 1).tiers
    assert tier.expected_lift == pytest.approx(2.0)
    assert tier.expected_lift_interval == pytest.approx((1.0, 3.0))


def test_valued_seeds_show_their_sum_and_mean():
    document = summary([campaign(1, seed_value_sum=12345.5,
                                 seed_value_mean=123.455)])
    row = text_of(rows_of(report.report_html(document))["1"])
    assert "value 12,346, mean 123.5" in row


def test_the_expansion_records_the_seeds_value():
    from audience.expansion import expand
    from support.expansion import make_campaign, small_model
    from helpers import small_config
    config = small_config("hyper_parameters.batch_size=16")
    campaign_ = make_campaign(seed_y=None)
    campaign_.seed_value = np.linspace(1, 3, len(campaign_.seed_uid))
    (done, ), _ = expand(config, [campaign_], 0.1, *small_model(config))
    assert done.summary["seed_value_sum"] == pytest.approx(
        campaign_.seed_value.sum())
    assert done.summary["seed_value_mean"] == pytest.approx(2.0)
    json.dumps(done.summary)   # plain floats


def test_skipped_campaigns_are_listed_with_their_reason():
    page = report.report_html(summaries.every_case())
    skipped = text_of(page.split("<h2>Skipped campaigns</h2>")[1].split(
        "<h2>")[0])
    assert "9 4 seeds, fewer than expand.min_seeds 10" in " ".join(
        skipped.split())
    none = report.report_html(summary([campaign(1)]))
    assert "No campaign skipped." in none


def test_the_overlap_matrix_only_when_asked():
    document = summaries.every_case()
    assert "Overlap of the audiences" not in report.report_html(document)
    rows = [("1", "2", "50", "40", "10", "0.2", "0.25"),
            ("1", "3", "50", "50", "0", "0", "0"),
            ("2", "3", "40", "50", "5", "0.125", "0.1")]
    page = report.report_html(document, overlap=rows)
    matrix = page.split("<table class=overlap>")[1].split("</table>")[0]
    lines = dict((text_of(h).strip(), text_of(r)) for h, r in re.findall(
        r"<tr><th class=num>(.*?)</th>(.*?)</tr>", matrix))
    # row 1 shares 10 users with 2 (20 % of row 1's 50), row 2 10 with 1
    # (25 % of its 40)
    assert lines["1"].split() == ["–", "10", "(20", "%)", "0"]
    assert lines["2"].split() == ["10", "(25", "%)", "–", "5", "(12.5", "%)"]
    alone = report.report_html(document, overlap=[
        ("1", "2", "5", "5", "0", "0", "0")])
    assert "No two audiences share a user." in alone


def test_many_audiences_list_their_top_pairs_not_a_matrix():
    names = [str(a) for a in range(report.MATRIX_MOST + 1)]
    rows = [(a, b, "10", "10", str(int(a) + int(b)), "0", "0")
            for i, a in enumerate(names) for b in names[i + 1:]]
    section = report.report_html(summaries.every_case(), overlap=rows).split(
        "Overlap of the audiences")[1]
    assert "820 pairs; the 50 sharing the most users" in section
    assert text_of(section).count("shared users") == 1
    assert "<td class=num>39</td><td class=num>40</td><td class=num>79" \
        in section


def test_without_matplotlib_the_report_says_why_it_has_no_picture(
        monkeypatch):
    import argparse
    import sys
    from tools import expand
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    png, why = expand.picture(argparse.Namespace(plot=None),
                              summaries.every_case(), [])
    assert png is None and why.startswith("matplotlib is not installed")
    assert "No picture: matplotlib is not installed" in report.report_html(
        summaries.every_case(), picture_missing=why)


def test_what_produced_the_run_shows_whatever_provenance_it_holds():
    document = summaries.every_case()
    document["provenance"] = {
        "checkpoint": {"path": "/runs/model/0", "sha256": "ab12"},
        "seeds": "/data/seeds.csv", "created": "2026-12-06T00:00:00Z",
        "config": {"key%d" % i: i for i in range(20)}}
    made = text_of(report.report_html(document).split(
        "<h2>What produced it</h2>")[1])
    for said in ("checkpoint path: /runs/model/0; sha256: ab12",
                 "seeds /data/seeds.csv", "created 2026-12-06T00:00:00Z",
                 "config 20 entries", "key19 19", "top 0.05"):
        assert said in " ".join(made.split())


def test_every_text_is_escaped():
    hostile = '<script>alert("x")</script>'
    document = summary([campaign(hostile, measured_lift=2.0)],
                       skipped=[('<img src=x onerror="y">', hostile)],
                       provenance={"seeds": hostile, hostile: "x"})
    document["campaigns"][0]["diagnostics"] = dict(
        diagnostics(False), warning=hostile)
    page = report.report_html(document, overlap=[(hostile, "2", "1", "1",
                                                  "1", "1", "1")])
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # the row's attribute cannot be broken out of either
    assert 'data-aid="&lt;script&gt;alert(&quot;x&quot;)' in page


def test_the_page_is_one_self_contained_file():
    png = b"\x89PNG\r\n\x1a\nnot really"
    page = report.report_html(summaries.every_case(), picture=png)
    assert "data:image/png;base64,%s" % base64.b64encode(png).decode() in page
    # nothing fetched: no script, no stylesheet link, no remote source
    assert not re.search(r"<script|<link|src=\"(?!data:)|url\(", page)
    missing = report.report_html(summaries.every_case(),
                                 picture_missing="matplotlib is not there")
    assert "No picture: matplotlib is not there." in missing


def test_renamed_keys_read_alike():
    # percent-named keys (a summary that names its units) give the same
    # figures as fractions
    plain = summary([campaign(1, measured_lift=2.0, base=0.1)])
    named = json.loads(json.dumps(plain))
    record = named["campaigns"][0]
    record["base_rate_percent"] = 100 * record.pop("base_rate")
    for entry in record["reach"]:
        entry["top_percent"] = 100 * entry.pop("top")
        entry["precision_percent"] = 100 * entry.pop("precision")
    record["seeds_removed_from_candidates"] = record.pop("seeds_excluded")
    assert report.report_html(named) == report.report_html(plain)
    # --tiers as percents, or as fractions with tier records naming theirs
    tiered = summary([campaign(1, tiers=[
        {"percent": 2.5, "size": 25, "precision": 0.5},
        {"percent": 5, "size": 50, "precision": 0.4}], base_rate=0.2)],
        tiers=[2.5, 5])
    fractions = json.loads(json.dumps(tiered))
    fractions["tier_fractions"] = [0.025, 0.05]
    del fractions["tiers"]
    for entry in fractions["campaigns"][0]["tiers"]:
        entry["top_fraction"] = entry.pop("percent") / 100.0
    for document in (tiered, fractions):
        run = summary_view.read(document)
        assert run.tiers == (2.5, 5) and run.given_tiers
        (shown, ) = run.campaigns
        assert [(t.users, t.measured_lift) for t in shown.tiers] == [
            (25, pytest.approx(2.5)), (50, pytest.approx(2.0))]


def three_outcome_diagnostics(distinctive, informative):
    """A diagnostics record with intervals per tier and ``informative``
    (``distinctive`` None here: an interval too wide to say)."""
    record = diagnostics(True, lift=2.0, base=0.25, auc=0.66,
                         interval=(0.45, 0.87))
    record["distinctive"] = distinctive
    record["precision_interval"] = {k: [0.25, 0.75]
                                    for k in record["precision_at"]}
    record["lift_interval"] = {k: [1.0, 3.0] for k in record["lift_at"]}
    record["informative"] = {k: informative for k in record["lift_at"]}
    if distinctive is None:
        record["note"] = "too few seeds to judge"
    return record


def test_a_wide_interval_is_too_few_seeds_to_judge_with_its_figures():
    document = summary([campaign(1, diagnosed=three_outcome_diagnostics(
        None, True))])
    light, said = report.verdict(view(document, 1))
    assert light == report.FAIR and said == (
        "too few seeds to judge: expected AUC 0.66, somewhere in "
        "[0.45–0.87]")
    row = text_of(rows_of(report.report_html(document))["1"])
    assert "expected 2.0× [1.0–3.0]" in row


def test_a_tier_that_may_be_random_is_greyed_and_not_drawn():
    document = summary([campaign(1, diagnosed=three_outcome_diagnostics(
        True, False))])
    row = rows_of(report.report_html(document))["1"]
    assert "<div class=small title=\"%s\">expected" % html.escape(
        report.UNINFORMATIVE) in row
    (shown, ) = summary_view.read(document).campaigns
    assert plot.expected(shown) is None
    assert plot.why_not_drawn(shown) == \
        "no tier expected to differ from random"


def test_the_size_as_a_count_of_users_and_the_overlap_note():
    document = summary([campaign(1)], top_users=1000, overlap_note=(
        "the campaigns' candidates are their own rows: they cannot "
        "overlap"))
    del document["top"]
    page = report.report_html(document, overlap=[
        ("1", "2", "5", "5", "0", "0", "0")])
    assert "Audience: the best 1,000 candidates of each campaign." in \
        text_of(page)
    assert "they cannot overlap" in page.split("Overlap of the")[1]


# ------------------------------------------------------------ the picture
def png_size(data):
    from PIL import Image
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_a_few_lines_share_one_panel_more_get_a_panel_each():
    few = summary([campaign(a, measured_lift=2.0, diagnosed=diagnostics())
                   for a in range(3)])            # 6 lines
    many_lines = summary([campaign(a, measured_lift=2.0,
                                   diagnosed=diagnostics())
                          for a in range(5)])     # 10 lines
    many = summary([campaign(a, diagnosed=diagnostics()) for a in range(9)])
    assert plot.layout(summary_view.read(few).campaigns) == "one panel"
    assert plot.layout(summary_view.read(many_lines).campaigns) == \
        "small multiples"
    assert plot.layout(summary_view.read(many).campaigns) == \
        "small multiples"
    one = png_size(plot.reach_png(few))
    grid = png_size(plot.reach_png(many))
    assert one == (1000, 480)
    assert grid[0] == 4 * 330 and grid[1] > one[1]   # 4 columns, 3 lines


def test_campaigns_not_drawn_leave_the_panel_its_width():
    # five campaigns named under one panel: on one line the note was wider
    # than the panel, and the layout shrank the panel to a sliver
    import warnings
    document = summary([campaign(1, diagnosed=diagnostics())] +
                       [campaign(a, diagnosed=diagnostics(distinctive=None))
                        for a in range(100000002, 100000007)])
    assert plot.layout(summary_view.read(document).campaigns) == "one panel"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)   # "axes sizes collapsed"
        data = plot.reach_png(document)
    width, height = png_size(data)
    assert (width, height) == (1000, 480)


def test_the_scores_panel_only_when_asked():
    document = summaries.every_case()
    curves = {c["aid"]: (np.array([10.0, 100.0]), np.array([0.9, 0.1]))
              for c in document["campaigns"]}
    plain = png_size(plot.reach_png(document))
    scores = png_size(plot.reach_png(document, curves))
    assert scores[1] > plain[1] and scores[0] == plain[0]


def test_only_figures_that_exist_are_drawn():
    document = summaries.every_case()
    shown = {c.aid: c for c in summary_view.read(document).campaigns}
    where, lift = plot.measured(shown[1])
    assert where.tolist() == [1, 2, 5, 10]
    assert lift == pytest.approx([2.6] * 4)
    assert plot.expected(shown[1]) is None       # no diagnostics
    assert plot.measured(shown[7]) is None and plot.expected(shown[7]) is None
    assert plot.why_not_drawn(shown[7]) == "too few seeds to judge"
    where, lift, bounds = plot.expected(shown[4])
    assert lift == pytest.approx([3.0] * 4) and bounds is None


def test_the_picture_is_the_same_for_the_same_summary():
    document = summaries.every_case()
    assert plot.reach_png(document) == plot.reach_png(document)


# ------------------------------------------------------------ the folder
def test_an_earlier_output_holding_a_report_may_be_replaced(tmp_path):
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "audience.csv").write_text("uid\n1\n")
    (tmp_path / "summary.json").write_text('{"tool": "expand"}')
    (tmp_path / "report.html").write_text("<html></html>")
    assert output.foreign_entries(str(tmp_path),
                                  output.TOOLS["expand"]) == []


# ------------------------------------------------------------ in a browser
@pytest.mark.slow
def test_the_report_in_a_real_browser(tmp_path):
    from tools import screenshot_report
    if screenshot_report.browser() is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    document = summaries.every_case()
    page = tmp_path / "report.html"
    page.write_text(report.report_html(document, plot.reach_png(document)))
    shot = tmp_path / "report.png"
    width, height = screenshot_report.screenshot(str(page), str(shot),
                                                 width=1200)
    from PIL import Image
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert width == 1200 and 800 < height < screenshot_report.TALL
    # the lights are drawn: each colour of the page's verdicts is there
    for light in (report.GOOD, report.FAIR, report.POOR, report.UNKNOWN):
        colour = report.LIGHTS[light][0]
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        assert (np.abs(pixels.astype(int) - rgb).max(axis=1) <= 2).sum() \
            > 50, light


def test_a_campaign_id_holding_markup_or_math_is_drawn_as_text():
    document = summary([campaign("$\\frac{1}{0$", measured_lift=2.0),
                        campaign("<b>x</b>", diagnosed=diagnostics())])
    assert plot.reach_png(document)[:8] == b"\x89PNG\r\n\x1a\n"
