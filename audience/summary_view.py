"""The figures a reader is shown (report.html, reach.png), read from an
expansion's summary document (summary.json, ``audience.output``): the one
place that knows the summary's key names, so the report and the picture
draw on one reading of it and a renamed key is changed here only.

Percentages are percent here whatever the summary stores (a key named
``..._percent`` or ``..._pct`` holds percent, any other share a fraction);
a figure the summary does not hold is None, never a guess.
"""
import math
from dataclasses import dataclass, field
from typing import Optional

from audience.ranking import audience_size

# the tiers shown when the run named none: the seed diagnostics' own
SHOWN_TIERS = (1, 2, 5, 10)
REFERENCE_TIER = 5   # the tier a verdict quotes (the meta-test's P@5 %)


@dataclass
class Tier:
    percent: float
    users: Optional[int]
    measured_precision: Optional[float] = None   # candidates' labels
    measured_lift: Optional[float] = None
    expected_precision: Optional[float] = None   # seed diagnostics
    expected_lift: Optional[float] = None
    expected_lift_interval: Optional[tuple] = None
    # False: the expected figure's interval holds the base rate (it says
    # nothing the base rate does not); None: the summary does not say
    expected_informative: Optional[bool] = None


@dataclass
class Campaign:
    aid: object
    seeds: Optional[int]
    seed_positives: Optional[int]
    negatives_drawn: Optional[int]
    value_sum: Optional[float]
    value_mean: Optional[float]
    candidates: Optional[int]
    audience: Optional[int]
    excluded: Optional[int]
    measured_auc: Optional[float]
    measured_base_rate: Optional[float]
    # the diagnostics: None when they did not run
    diagnosed: bool
    distinctive: Optional[bool]
    expected_auc: Optional[float]
    expected_auc_interval: Optional[tuple]
    positives: Optional[int]          # the diagnostics' training set
    negatives: Optional[int]
    tiers: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def labelled(self):
        return self.measured_base_rate is not None


@dataclass
class Run:
    campaigns: list
    skipped: list          # [(aid, reason)]
    tiers: tuple           # percents shown per campaign
    top: object            # the --top of the run: a fraction, a count
    given_tiers: bool      # the run set --tiers
    settings: dict         # what else the summary says of the run
    provenance: dict


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _count(value):
    number = _number(value)
    return None if number is None else int(number)


def _first(record, *names):
    for name in names:
        if name in record and record[name] is not None:
            return record[name]
    return None


def _fraction(record, stem):
    """``stem`` of ``record`` as a fraction: stored as a fraction (under
    ``stem``, ``stem_fraction``, ``stem_share``) or as percent
    (``stem_percent``, ``stem_pct``)."""
    value = _number(_first(record, stem, stem + "_fraction", stem + "_share"))
    if value is not None:
        return value
    value = _number(_first(record, stem + "_percent", stem + "_pct"))
    return None if value is None else value / 100.0


def _percent_of_entry(entry):
    """The audience share of a reach entry, in percent."""
    value = _number(_first(entry, "percent", "top_percent", "top_pct"))
    if value is not None:
        return value
    value = _number(_first(entry, "top", "top_fraction", "share"))
    return None if value is None else 100.0 * value


def tier_key(percent):
    """How the summary names a tier in its per-tier dicts: 1, 2.5."""
    return "%g" % percent


def _per_tier(mapping, percent):
    if not isinstance(mapping, dict):
        return None
    return mapping.get(tier_key(percent))


def _value_and_interval(entry):
    """A per-tier figure: a number, or a record holding one and its
    interval (``value``/``mean`` and ``interval`` or ``low``/``high``),
    or a [value, low, high] list."""
    if isinstance(entry, dict):
        value = _number(_first(entry, "value", "mean", "lift", "precision"))
        interval = entry.get("interval")
        if interval is None and "low" in entry:
            interval = (entry.get("low"), entry.get("high"))
        return value, _interval(interval)
    if isinstance(entry, (list, tuple)) and len(entry) == 3:
        return _number(entry[0]), _interval(entry[1:])
    return _number(entry), None


def _interval(pair):
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return None
    low, high = _number(pair[0]), _number(pair[1])
    return None if low is None or high is None else (low, high)


def _informative(diagnostics, percent):
    said = _per_tier(diagnostics.get("informative"), percent)
    return said if isinstance(said, bool) else None


def _expected(diagnostics, percent):
    """(precision, lift, lift interval) the seed diagnostics expect of a
    tier."""
    precision, precision_interval = _value_and_interval(
        _per_tier(diagnostics.get("precision_at"), percent))
    lift, interval = _value_and_interval(
        _per_tier(diagnostics.get("lift_at"), percent))
    for name in ("lift_interval", "lift_interval_at", "lift_at_interval",
                 "lift_intervals"):
        interval = interval or _interval(_per_tier(diagnostics.get(name),
                                                   percent))
    base = _fraction(diagnostics, "base_rate")
    if lift is None and precision is not None and base:
        lift = precision / base
    if interval is None and base:
        for name in ("precision_interval", "precision_interval_at",
                     "precision_at_interval", "precision_intervals"):
            pair = precision_interval or _interval(
                _per_tier(diagnostics.get(name), percent))
            if pair:
                interval = (pair[0] / base, pair[1] / base)
                break
    return precision, lift, interval


def _measured(record):
    """{percent: (users, precision)} the candidates' labels give: the
    reach curve and, with --tiers, each tier."""
    found = {}
    for entry in record.get("reach") or ():
        if not isinstance(entry, dict):
            continue
        percent = _percent_of_entry(entry)
        if percent is not None:
            found[round(percent, 6)] = (_count(entry.get("size")),
                                        _fraction(entry, "precision"))
    for entry in record.get("tiers") or ():
        percent = _percent_of_entry(entry) if isinstance(entry, dict) \
            else None
        if percent:
            found[round(percent, 6)] = (
                _count(_first(entry, "size", "users")),
                _fraction(entry, "precision"))
    return found


def _seed_value(record):
    value = record.get("seed_value")
    if isinstance(value, dict):
        return _number(value.get("sum")), _number(value.get("mean"))
    return (_number(record.get("seed_value_sum")),
            _number(record.get("seed_value_mean")))


def _notes(record, diagnostics):
    notes = []
    for text in (diagnostics.get("warning"), diagnostics.get("note"),
                 record.get("warning"), record.get("note"),
                 record.get("not_fine_tuned_because")):
        if isinstance(text, str) and text and text not in notes:
            notes.append(text)
    return notes


def campaign(record, tiers):
    """The :class:`Campaign` of one summary record, its figures at the
    percents ``tiers``."""
    diagnostics = record.get("diagnostics")
    diagnosed = isinstance(diagnostics, dict)
    diagnostics = diagnostics if diagnosed else {}
    candidates = _count(record.get("candidates"))
    base = _fraction(record, "base_rate")
    measured = _measured(record)
    rows = []
    for percent in tiers:
        users, precision = measured.get(round(float(percent), 6),
                                        (None, None))
        if users is None and candidates:
            users = audience_size(percent / 100.0, candidates)
        expected_precision, expected_lift, interval = _expected(
            diagnostics, percent)
        rows.append(Tier(
            percent=percent, users=users, measured_precision=precision,
            measured_lift=precision / base if precision is not None and base
            else None,
            expected_precision=expected_precision,
            expected_lift=expected_lift, expected_lift_interval=interval,
            expected_informative=_informative(diagnostics, percent)))
    distinctive = diagnostics.get("distinctive")
    value_sum, value_mean = _seed_value(record)
    return Campaign(
        aid=record.get("aid"), seeds=_count(record.get("seeds")),
        seed_positives=_count(record.get("seed_positives")),
        negatives_drawn=_count(record.get("negatives_drawn")),
        value_sum=value_sum, value_mean=value_mean,
        candidates=candidates, audience=_count(record.get("audience")),
        excluded=_count(record.get("excluded")),
        measured_auc=_number(record.get("auc")), measured_base_rate=base,
        diagnosed=diagnosed,
        distinctive=distinctive if isinstance(distinctive, bool) else None,
        expected_auc=_number(diagnostics.get("auc")),
        expected_auc_interval=_interval(diagnostics.get("auc_interval")),
        positives=_count(diagnostics.get("positives")),
        negatives=_count(diagnostics.get("negatives")),
        tiers=rows, notes=_notes(record, diagnostics))


# what the run section does not show as a setting: shown elsewhere
NOT_SETTINGS = ("tool", "campaigns", "skipped", "provenance", "report",
                "overlap_note")
TOP_KEYS = ("top", "top_fraction", "top_users")


def _top(summary):
    """The run's audience size: a fraction of the candidates (float) or a
    count of users (int), whichever key holds it."""
    count = _count(summary.get("top_users"))
    if count is not None:
        return count
    return _first(summary, "top", "top_fraction")


def _clean(percent):
    """5.000000000000001 (0.05 * 100) -> 5, 2.5 -> 2.5."""
    percent = float("%.9g" % percent)
    return int(percent) if percent.is_integer() else percent


def _given_tiers(summary):
    """The run's --tiers in percent (stored as percents, ``tiers``, or as
    fractions, ``tier_fractions``), or ()."""
    for name, scale in (("tiers", 1), ("tier_percents", 1),
                        ("tier_fractions", 100)):
        given = summary.get(name)
        if isinstance(given, list) and given:
            return tuple(_clean(scale * t) for t in given if _number(t))
    return ()


def read(summary):
    """The :class:`Run` of a summary document."""
    given = _given_tiers(summary)
    given_tiers = bool(given)
    tiers = given or SHOWN_TIERS
    skipped = [(s.get("aid"), s.get("reason"))
               for s in summary.get("skipped") or () if isinstance(s, dict)]
    provenance = summary.get("provenance")
    return Run(
        campaigns=[campaign(r, tiers) for r in summary.get("campaigns") or ()
                   if isinstance(r, dict)],
        skipped=skipped, tiers=tiers,
        top=_top(summary), given_tiers=given_tiers,
        settings={k: v for k, v in summary.items() if k not in NOT_SETTINGS},
        provenance=provenance if isinstance(provenance, dict) else {})


def reference(campaign, measured):
    """The tier a verdict quotes: 5 %, else the one nearest it, among
    those with a ``measured`` (else expected) lift; None when none has."""
    rows = [t for t in campaign.tiers
            if (t.measured_lift if measured else t.expected_lift) is not None]
    if not rows:
        return None
    return min(rows, key=lambda t: (abs(t.percent - REFERENCE_TIER),
                                    t.percent))
