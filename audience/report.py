"""The one-page report of an expansion (DIR/report.html): per campaign its
seeds, its audience per tier in users and percent, the lift the seed
diagnostics expect and, where the candidates' labels are known, the lift
measured, and a traffic light with one plain sentence; the campaigns
skipped and why; the overlap of the audiences when the run measured it;
what produced the run. One self-contained file (styles inline, the reach
picture as an inline PNG) that opens from disk.

:func:`report_html` builds it from the summary document alone (read
through ``audience.summary_view``), so it can be tested, and re-made from
a summary.json. Every text from the summary is escaped: a campaign id or a
file name could hold markup.
"""
import base64
import html
import json
import math

from audience import summary_view

GOOD, FAIR, POOR, UNKNOWN = "good", "fair", "poor", "unknown"
LIGHTS = {GOOD: ("#2e7d32", "good"), FAIR: ("#f2a900", "uncertain"),
          POOR: ("#c62828", "poor"), UNKNOWN: ("#9e9e9e", "not judged")}
WELL = 1.5      # lift from which a campaign "ranks well"
ABOVE = 1.1     # lift under which it ranks no better than random users


def _e(value):
    return html.escape(str(value), quote=True)


def _lift(value):
    return "%.1f×" % value


def _percent(value):
    """A percentage as a reader takes it: 5 %, 0.25 %."""
    return "%g %%" % float("%.3g" % value)


def _users(count):
    return "?" if count is None else "{:,}".format(count)


def _number(value):
    """A figure in the provenance: at most 4 significant digits."""
    if isinstance(value, float):
        return "%.4g" % value
    return str(value)


def _amount(value):
    """A sum of values: 12,346 or 123.5."""
    return "{:,.0f}".format(value) if abs(value) >= 1000 else "%.4g" % value


def _tier_phrase(tier):
    return "the %s tier" % _percent(tier.percent)


def verdict(campaign):
    """(light, sentence) of a ``summary_view.Campaign``: measured on the
    candidates' labels where they are known (the truth), else what the
    seed diagnostics say (``distinctive``: true, false, or null for too
    few seeds to judge)."""
    tier = summary_view.reference(campaign, measured=True)
    if tier is not None:
        lift = tier.measured_lift
        said = "%s is about %s the base rate (measured)" % (
            _tier_phrase(tier), _lift(lift))
        if lift >= WELL:
            return GOOD, "ranks well: " + said
        if lift >= ABOVE:
            return FAIR, "ranks a little better than random users: " + said
        return POOR, "ranks no better than random users: " + said
    if not campaign.diagnosed:
        return UNKNOWN, ("not judged: the candidates carry no labels and "
                         "the seed diagnostics were off (expand.diagnose)")
    if campaign.distinctive is None:
        # no figures (fewer seeds than folds), or an interval too wide to
        # say: the interval where there is one, else the counts
        said = ""
        if campaign.expected_auc is not None and \
                campaign.expected_auc_interval:
            said = ": expected AUC %.2f, somewhere in [%.2f–%.2f]" % (
                (campaign.expected_auc, ) + campaign.expected_auc_interval)
        elif campaign.positives is not None and \
                campaign.negatives is not None:
            said = " (%d positive and %d negative)" % (campaign.positives,
                                                       campaign.negatives)
        return FAIR, "too few seeds to judge%s" % said
    if campaign.distinctive is False:
        auc = "" if campaign.expected_auc is None else \
            " (expected AUC %.2f)" % campaign.expected_auc
        return POOR, ("not distinctive: the seeds do not stand out from "
                      "other users%s" % auc)
    tier = summary_view.reference(campaign, measured=False)
    if tier is None:
        auc = "" if campaign.expected_auc is None else \
            ": expected AUC %.2f" % campaign.expected_auc
        return GOOD, "distinctive%s" % auc
    said = "%s is expected to be about %s the base rate" % (
        _tier_phrase(tier), _lift(tier.expected_lift))
    if tier.expected_lift >= WELL:
        return GOOD, "ranks well: " + said
    return FAIR, "distinctive, but " + said.replace("about", "only about")


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial,
  sans-serif; margin: 24px; color: #1a1a1a; }
.wide { overflow-x: auto; }
h1 { font-size: 22px; margin: 0 0 4px 0; }
h2 { font-size: 17px; margin: 28px 0 8px 0; }
p.lead { margin: 4px 0 12px 0; font-size: 15px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 5px 8px; text-align: left;
  vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
td.num, th.num { text-align: right; }
.light { display: inline-block; width: 14px; height: 14px;
  border-radius: 50%; vertical-align: -2px; margin-right: 6px;
  border: 1px solid rgba(0,0,0,0.25); }
.verdict { min-width: 240px; max-width: 320px; }
td.seeds, td.audience { min-width: 100px; }
.small { color: #555; font-size: 12px; }
td.auc div, .nw { white-space: nowrap; }
th.delivered { background: #e3ecf7; }
.exp { color: #1f5fa8; }
.meas { color: #1a1a1a; font-weight: 600; }
details { margin-top: 4px; font-size: 12px; color: #444; }
img.reach { max-width: 100%; border: 1px solid #eee; }
dl { display: grid; grid-template-columns: max-content auto;
  gap: 4px 16px; font-size: 13px; margin: 0; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
td.zero { color: #aaa; }
"""


def _light(light):
    color, word = LIGHTS[light]
    return '<span class="light" style="background:%s" title="%s" ' \
        'aria-label="%s"></span>' % (color, _e(word), _e(word))


def _seeds_cell(c):
    lines = []
    if c.seeds is not None:
        if c.negatives_drawn:
            detail = "%s negatives drawn" % _users(c.negatives_drawn)
        elif c.seed_positives is not None:
            detail = "%s positive" % _users(c.seed_positives)
        else:
            detail = None
        lines.append("%s%s" % (_users(c.seeds), "" if detail is None else
                               " <span class=small>(%s)</span>" % _e(detail)))
    if c.value_sum is not None:
        lines.append("<span class=small>value %s%s</span>" % (
            _e(_amount(c.value_sum)), "" if c.value_mean is None else
            ", mean %s" % _e(_amount(c.value_mean))))
    return "<br>".join(lines) or "?"


def _audience_cell(c):
    if c.audience is None:
        return "?"
    share = "" if not c.candidates else " <span class=small>(%s of %s)" \
        "</span>" % (_e(_percent(100.0 * c.audience / c.candidates)),
                     _e(_users(c.candidates)))
    return "%s users%s" % (_e(_users(c.audience)), share)


def _expected_text(tier):
    """The expected lift and its interval (HTML): a line may break
    between the two, never inside the interval."""
    text = _e(_lift(tier.expected_lift))
    if tier.expected_lift_interval:
        low, high = tier.expected_lift_interval
        text += " <span class=nw>%s</span>" % _e("[%.1f–%.1f]" % (low, high))
    return text


def _share_title(precision):
    """The tier's share of positives, shown on pointing at a figure."""
    return "" if precision is None else ' title="%s"' % _e(
        "%s of the tier positive" % _percent(100 * precision))


UNINFORMATIVE = ("its interval holds the base rate: this tier may be no "
                 "better than random users")


def _tier_cell(tier):
    lines = ["<div>%s users</div>" % _e(_users(tier.users))]
    if tier.expected_lift is not None and \
            tier.expected_informative is False:
        lines.append('<div class=small title="%s">expected\u00a0%s</div>' % (
            _e(UNINFORMATIVE), _expected_text(tier)))
    elif tier.expected_lift is not None:
        # a line may break before the interval only
        lines.append("<div class=exp%s>expected\u00a0%s</div>" % (
            _share_title(tier.expected_precision),
            _expected_text(tier)))
    if tier.measured_lift is not None:
        lines.append("<div class=meas%s>measured\u00a0%s</div>" % (
            _share_title(tier.measured_precision),
            _e(_lift(tier.measured_lift))))
    return "".join(lines)


def _auc_cell(c):
    lines = []
    if c.expected_auc is not None:
        lines.append("<div class=exp>expected %.2f</div>" % c.expected_auc)
        if c.expected_auc_interval:
            lines.append("<div class=exp>[%.2f–%.2f]</div>" %
                         c.expected_auc_interval)
    if c.measured_auc is not None:
        lines.append("<div class=meas>measured %.2f</div>" % c.measured_auc)
    return "".join(lines) or "–"


def _campaign_row(c, tiers):
    light, sentence = verdict(c)
    notes = ""
    if c.notes:
        notes = "<details><summary>notes (%d)</summary>%s</details>" % (
            len(c.notes), "".join("<p>%s</p>" % _e(n) for n in c.notes))
    cells = ['<td class=num>%s</td>' % _e(c.aid),
             '<td class=verdict data-light="%s">%s%s%s</td>' % (
                 _e(light), _light(light), _e(sentence), notes),
             "<td class=seeds>%s</td>" % _seeds_cell(c),
             "<td class=audience>%s</td>" % _audience_cell(c),
             "<td class=auc>%s</td>" % _auc_cell(c)]
    by_percent = {t.percent: t for t in c.tiers}
    for percent in tiers:
        tier = by_percent.get(percent)
        cells.append("<td class=tier>%s</td>" % (
            "–" if tier is None else _tier_cell(tier)))
    return '<tr data-aid="%s">%s</tr>' % (_e(c.aid), "".join(cells))


def _delivered(run):
    """The tier the audience is (--top as a fraction, or the largest of
    --tiers), or None."""
    if run.given_tiers:
        return max(run.tiers)
    top = run.top
    if isinstance(top, float) and 0 < top < 1:
        return next((t for t in run.tiers if abs(t - 100 * top) < 1e-9),
                    None)
    return None


def _campaigns_table(run):
    delivered = _delivered(run)
    head = ["<th>%s</th>" % h for h in ("campaign", "verdict", "seeds",
                                         "audience", "AUC")]
    for t in run.tiers:
        if t == delivered:
            head.append("<th class=delivered>top %s · the audience</th>" %
                        _e(_percent(t)))
        else:
            head.append("<th>top %s</th>" % _e(_percent(t)))
    rows = "".join(_campaign_row(c, run.tiers) for c in run.campaigns)
    return ('<div class=wide><table class=campaigns><thead><tr>%s</tr>'
            '</thead><tbody>%s</tbody></table></div>' % ("".join(head), rows))


def _audience_phrase(run):
    if run.given_tiers:
        return "tiers of %s of each campaign's candidates (the largest is " \
            "delivered)" % ", ".join(_percent(t) for t in run.tiers)
    top = run.top
    if isinstance(top, bool) or not isinstance(top, (int, float)):
        return None
    if isinstance(top, float) and top < 1:
        return "the top %s of each campaign's candidates" % _percent(
            100 * top)
    return "the best %s candidates of each campaign" % _users(int(top))


def _lead(run):
    """The first line: how many campaigns, the audience, the verdicts
    counted (HTML)."""
    lights = [verdict(c)[0] for c in run.campaigns]
    n = len(run.campaigns)
    text = "%d campaign%s expanded, %d skipped" % (
        n, "" if n == 1 else "s", len(run.skipped))
    audience = _audience_phrase(run)
    if audience:
        text += ". Audience: %s" % audience
    counted = ", ".join("%s%d %s" % (_light(k), lights.count(k),
                                     _e(LIGHTS[k][1]))
                        for k in (GOOD, FAIR, POOR, UNKNOWN)
                        if lights.count(k))
    return _e(text + ".") + (" Verdicts: %s." % counted if counted else "")


def _how_to_read():
    return ("<p class=small>Lift: how many times the base rate of positives "
            "(converters) a tier holds; 1.0× is what random users give. "
            "<span class=exp>Expected</span>: from cross-validating each "
            "campaign's seeds (its interval in brackets where known). "
            "<span class=meas>Measured</span>: on the candidates' own labels, "
            "where the candidates file has them. An expected figure in grey: "
            "its interval holds 1.0×, so it may be no better than random. "
            "Point at a figure for the tier's share of positives.</p>")


def _skipped(run):
    if not run.skipped:
        return "<p>No campaign skipped.</p>"
    rows = "".join("<tr><td class=num>%s</td><td>%s</td></tr>" % (
        _e(aid), _e(reason)) for aid, reason in run.skipped)
    return ("<table class=skipped><thead><tr><th>campaign</th><th>why it was "
            "skipped</th></tr></thead><tbody>%s</tbody></table>" % rows)


def overlap_matrix(rows):
    """(names, {(a, b): (shared, share of a)}) of overlap rows
    (``audience.overlap.overlap_rows``: aid_a, aid_b, size_a, size_b,
    overlap, share_of_a, share_of_b; strings), both directions."""
    names, cells = [], {}
    for row in rows:
        a, b, size_a, size_b, shared = row[:5]
        for name in (a, b):
            if name not in names:
                names.append(name)
        shared, size_a, size_b = int(shared), int(size_a), int(size_b)
        cells[(a, b)] = (shared, shared / size_a if size_a else None)
        cells[(b, a)] = (shared, shared / size_b if size_b else None)
    return names, cells


MATRIX_MOST = 40   # audiences in a matrix at most; more: the top pairs
PAIRS_MOST = 50


def _top_pairs(rows):
    """The pairs sharing the most users, as a table (a matrix of many
    audiences would be too large to read, or to open)."""
    ranked = sorted(rows, key=lambda r: -int(r[4]))[:PAIRS_MOST]
    body = "".join(
        "<tr><td class=num>%s</td><td class=num>%s</td><td class=num>%s"
        "</td></tr>" % (_e(r[0]), _e(r[1]), _e(_users(int(r[4]))))
        for r in ranked)
    return ("<p class=small>%d pairs; the %d sharing the most users (all: "
            "overlap.csv).</p><table class=overlap><thead><tr><th>campaign"
            "</th><th>campaign</th><th>shared users</th></tr></thead><tbody>"
            "%s</tbody></table>" % (len(rows), len(ranked), body))


def _overlap(rows, note=None):
    names, cells = overlap_matrix(rows)
    if len(names) < 2:
        return "<p>One audience: no pair to compare.</p>"
    if len(names) > MATRIX_MOST:
        return _top_pairs(rows)
    head = "<th>row shares with →</th>" + "".join(
        "<th class=num>%s</th>" % _e(n) for n in names)
    body = []
    for a in names:
        tds = []
        for b in names:
            if a == b:
                tds.append("<td class=num>–</td>")
                continue
            shared, share = cells.get((a, b), (None, None))
            if shared is None:
                tds.append("<td class=num>?</td>")
            elif shared == 0:
                tds.append("<td class='num zero'>0</td>")
            else:
                tds.append("<td class=num>%s <span class=small>(%s)</span>"
                           "</td>" % (_e(_users(shared)), _e(
                               "?" if share is None else
                               _percent(100 * share))))
        body.append("<tr><th class=num>%s</th>%s</tr>" % (_e(a),
                                                          "".join(tds)))
    text = ("<p class=small>Users each row's audience shares with each "
            "column's (in brackets: the share of the row's audience).</p>")
    if all(cells[k][0] == 0 for k in cells):
        text += "<p>No two audiences share a user.</p>"
    if note:
        text += "<p class=small>%s</p>" % _e(note)
    return text + ("<table class=overlap><thead><tr>%s</tr></thead><tbody>"
                   "%s</tbody></table>" % (head, "".join(body)))


def _value(value):
    """A provenance or setting value as text: a record or a list as
    compact JSON."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, float) and math.isfinite(value):
        return _number(value)
    return str(value)


def _definitions(record):
    items = []
    for key, value in record.items():
        if value is None:   # not given (no --exclude, form 1's --users)
            continue
        if isinstance(value, dict) and len(value) > 6:
            shown = "<details><summary>%d entries</summary>%s</details>" % (
                len(value), _definitions(value))
        elif isinstance(value, dict) and value and all(
                not isinstance(v, (dict, list)) for v in value.values()):
            shown = "; ".join("%s: %s" % (_e(k), _e(_value(v)))
                              for k, v in value.items())
        else:
            shown = _e(_value(value))
        items.append("<dt>%s</dt><dd>%s</dd>" % (_e(key), shown))
    return "<dl>%s</dl>" % "".join(items)


def _settings(run):
    """The run's settings, the audience's size said in words."""
    shown = dict(run.settings)
    audience = _audience_phrase(run)
    for key in summary_view.TOP_KEYS:
        if key in shown and audience and not run.given_tiers:
            shown[key] = "%s (%s)" % (_value(shown[key]), audience)
    for key in ("tiers", "tier_percents", "tier_fractions"):
        if run.given_tiers and key in shown:
            shown[key] = "%s (%s)" % (_value(shown[key]), ", ".join(
                _percent(t) for t in run.tiers))
    return shown


def _provenance(run):
    parts = []
    if run.provenance:
        parts.append(_definitions(run.provenance))
    if run.settings:
        parts.append("<h3 class=small>settings</h3>" +
                     _definitions(_settings(run)))
    return "".join(parts) or "<p>Not recorded.</p>"


def _picture(picture, why_not=None):
    if picture:
        return ('<img class=reach alt="lift by audience size per campaign" '
                'src="data:image/png;base64,%s">' %
                base64.b64encode(picture).decode("ascii"))
    return "<p class=small>No picture: %s.</p>" % _e(why_not or "not drawn")


def report_html(summary, picture=None, overlap=None, picture_missing=None,
                title="Audience expansion report"):
    """The report of the summary document ``summary`` (a dict, as
    summary.json holds it); ``picture``: the reach PNG's bytes, inline
    (None: ``picture_missing`` says why there is none); ``overlap``: the
    overlap rows of the run (``audience.overlap.overlap_rows``), None when
    the run did not measure it."""
    run = summary_view.read(summary)
    sections = [
        "<h1>%s</h1>" % _e(title),
        "<p class=lead>%s</p>" % _lead(run),
        "<h2>Campaigns</h2>", _how_to_read(), _campaigns_table(run),
        "<h2>Reach</h2>", _picture(picture, picture_missing),
        "<h2>Skipped campaigns</h2>", _skipped(run)]
    if overlap is not None:
        note = summary.get("overlap_note")
        sections += ["<h2>Overlap of the audiences</h2>",
                     _overlap(overlap, note if isinstance(note, str)
                              else None)]
    sections += ["<h2>What produced it</h2>", _provenance(run)]
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width'>"
            "<title>%s</title><style>%s</style></head><body>\n%s\n"
            "</body></html>\n" % (_e(title), STYLE, "\n".join(sections)))
