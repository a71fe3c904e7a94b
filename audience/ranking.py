"""How many candidates an audience takes: one rule for the expansion, its
tiers and the seed diagnostics."""
from runkit.metrics import top_count

TOP_RULE = ("--top must be a fraction of the candidates (0 < x < 1) or a "
            "whole count >= 1, got %r")


def audience_size(top, candidates):
    """``top`` is a fraction of the candidates (0 < top < 1: rounded down,
    at least one, as the meta-test's P@5 %, ``runkit.metrics.top_count``)
    or a count."""
    if isinstance(top, float):
        if not 0 < top < 1:
            raise ValueError(TOP_RULE % (top, ))
        return top_count(top, candidates)
    if top < 1:
        raise ValueError(TOP_RULE % (top, ))
    return min(top, candidates)

