"""The names a mistyped name was probably meant to be, for the one-line
errors of unknown config keys and unknown command-line options."""
import difflib

# a typo changes a letter or two: below this similarity (difflib's ratio,
# 2 * matching characters / total characters) a name is another word
CUTOFF = 0.8
# names within this of the best are as likely (embed_dims: embed_dim, not
# also mlp_dims), so they are all named; the rest would only mislead
MARGIN = 0.03


def near(word, names, cutoff=CUTOFF):
    """The names of ``names`` nearest ``word`` by edit distance, best first:
    the best and those within ``MARGIN`` of it, at most three; [] when none
    is at least ``cutoff`` similar."""
    scored = []
    for name in dict.fromkeys(names):
        matcher = difflib.SequenceMatcher(None, word, name)
        if matcher.real_quick_ratio() >= cutoff and \
                matcher.quick_ratio() >= cutoff:
            ratio = matcher.ratio()
            if ratio >= cutoff:
                scored.append((ratio, name))
    if not scored:
        return []
    scored.sort(key=lambda item: -item[0])   # stable: ties keep names' order
    best = scored[0][0]
    return [name for ratio, name in scored if ratio >= best - MARGIN][:3]


def did_you_mean(names):
    """`` (did you mean a or b?)`` for ``names``, "" for none."""
    return " (did you mean %s?)" % " or ".join(names) if names else ""
