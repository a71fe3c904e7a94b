"""How many candidates an audience takes: one rule for the expansion, its
tiers and the seed diagnostics; and how the command line says it.

A share of the candidates is a float (0 < top < 1); a count of users is an
int. On the command line a share is ``--top 5%`` or ``--top 0.05`` (the
same audience) and a count is said apart, ``--top-users 1000``: ``--top 5``
is refused rather than read as 5 users (``--tiers 5`` means 5 %)."""
from decimal import Decimal, InvalidOperation

from runkit.metrics import top_count

TOP_RULE = ("--top takes a share of the candidates, above 0 and below 100 "
            "%%: a percentage (5%%) or a fraction (0.05); got %r")
TOP_PERCENT = ("--top %s is not a fraction of the candidates (below 1): say "
               "--top %s%% for %s %% of them")
TOP_COUNT = ("--top %s is not a share of the candidates: say --top %s%% for "
             "%s %% of them, or --top-users %s for %s users")
TOP_LARGE_COUNT = ("--top %s is not a share of the candidates (5%% or 0.05): "
                   "for %s users say --top-users %s")
TOP_USERS_RULE = "--top-users takes a whole number of users >= 1; got %r"


def audience_size(top, candidates):
    """``top`` is a fraction of the candidates (0 < top < 1: rounded down,
    at least one, as the meta-test's P@5 %, ``runkit.metrics.top_count``)
    or a count."""
    if isinstance(top, float):
        if not 0 < top < 1:
            raise ValueError(TOP_RULE % (top, ))
        return top_count(top, candidates)
    if top < 1:
        raise ValueError(TOP_USERS_RULE % (top, ))
    return min(top, candidates)


def _decimal(text):
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_top(text):
    """The --top argument, a share of the candidates as a float fraction:
    ``"5%"`` and ``"0.05"`` are both 0.05 (the percentage is divided as
    the decimal it is written as, so ``"0.3%"`` is 0.003, not
    0.0030000000000000005). A whole number (``"5"``) is refused, naming
    ``--top 5%`` and ``--top-users 5``; anything else outside
    (0, 100 %) is refused naming the rule."""
    given = text.strip()
    percent = given.endswith("%")
    value = _decimal(given[:-1].strip() if percent else given)
    if value is None:
        raise ValueError(TOP_RULE % (text, ))
    if percent:
        value = value / 100
    elif value >= 1 and value == value.to_integral_value():
        whole = "%d" % value
        raise ValueError(TOP_COUNT % (given, whole, whole, whole, whole)
                         if value < 100 else
                         TOP_LARGE_COUNT % (given, whole, whole))
    elif 1 <= value < 100:   # 5.5: a percentage without its sign
        raise ValueError(TOP_PERCENT % (given, given, given))
    if not 0 < value < 1:
        raise ValueError(TOP_RULE % (text, ))
    return float(value)


def parse_top_users(text):
    """The --top-users argument: a whole count of users, >= 1."""
    value = _decimal(text.strip())
    if value is None or value < 1 or value != value.to_integral_value():
        raise ValueError(TOP_USERS_RULE % (text, ))
    return int(value)


def percent_label(fraction):
    """A share of the candidates as a percentage, as tiers are named:
    0.05 -> "5", 0.025 -> "2.5"."""
    return "%g" % float(Decimal(repr(float(fraction))) * 100)


def top_label(top):
    """What an audience of ``top`` is called where a person reads it
    (audiences.csv's tier column): "5%" or "1000 users"."""
    if isinstance(top, float):
        return percent_label(top) + "%"
    return "%d users" % top


def top_record(top):
    """How the summary states the size: ``{"top_fraction": 0.05}`` or
    ``{"top_users": 1000}``."""
    if isinstance(top, float):
        return {"top_fraction": top}
    return {"top_users": int(top)}
