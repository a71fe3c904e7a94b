"""The readme's table of config keys, generated from their declaration
(runkit/config_schema.py) and the paper's profile (config_big.yaml).

``tools/key_table.py`` writes it into readme.md between :data:`START` and
:data:`END`; tests/test_config_schema.py fails when the readme's table is
not the one generated, so a key added, a default changed or a help line
edited in the declaration reaches the readme or the suite says so.
"""
from runkit.config import paper_marked, paper_profile
from runkit.config_schema import EVERY_TOOL, KEYS, NUMBER, bounds

START = ("<!-- generated from runkit/config_schema.py by tools/key_table.py: "
         "edit the declaration, then run it -->")
END = "<!-- end of the generated table -->"
HEADER = ("| key | default | values | read by | meaning |\n"
          "| --- | --- | --- | --- | --- |")


def _value(value):
    """A value as the readme shows it: `text`, 0.3, [64, 64], True."""
    if isinstance(value, str):
        return "`%s`" % value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[%s]" % ", ".join(_value(v) for v in value)
    return str(value)


def default_cell(key, paper):
    """The default, then the paper's value when the profile marks the key
    as one where the paper departs from it (``paper``: {key: value})."""
    if key.shown:
        text = key.shown
    elif key.required:
        text = "(required)"
    elif key.default is None:
        text = "none"
    else:
        text = _value(key.default)
    if key.name in paper and paper[key.name] != key.default:
        text += " (paper %s)" % _value(paper[key.name]).strip("`")
    return text


def _kind(types):
    names = []
    for t in types:
        if t is type(None):
            names.append("null")
        elif t in NUMBER and set(NUMBER) <= set(types):
            if "number" not in names:
                names.append("number")
        else:
            names.append({str: "text", list: "list"}.get(t, t.__name__))
    return " or ".join(names)


def values_cell(key):
    """What a value may be: its choices, or its kind and bounds; `auto`
    when something resolves it."""
    if key.choices:
        text = ", ".join("`%s`" % c for c in key.choices)
    elif key.grid_of:
        text = "list of `%s` values" % key.grid_of.split(".")[-1]
    elif key.each:
        text = "list of %s %s" % (_kind(key.each), bounds(key))
    elif key.expects:
        text = key.expects
    elif key.path:
        text = "path" + (" or null" if type(None) in key.types else "")
    else:
        text = " ".join(filter(None, (_kind(key.types), bounds(key))))
    return text + (" or `auto`" if key.accepts_auto() else "")


def tools_cell(key):
    if set(key.tools) == set(EVERY_TOOL):
        return "every tool"
    return ", ".join(key.tools)


def table(keys=KEYS, profile=None, marked=None):
    """The Markdown table, a row per declared key."""
    profile = paper_profile() if profile is None else profile
    marked = paper_marked() if marked is None else marked
    paper = {name: profile[name] for name in marked}
    rows = [HEADER]
    for key in keys:
        cells = ("`%s`" % key.name, default_cell(key, paper),
                 values_cell(key), tools_cell(key), key.help)
        rows.append("| %s |" % " | ".join(
            c.replace("|", "\\|") for c in cells))
    return "\n".join(rows)


def with_table(text, generated=None):
    """``text`` (the readme) with the part between the markers replaced by
    the generated table; a ValueError when a marker is missing."""
    if START not in text or END not in text:
        raise ValueError("readme.md has no generated key table: put the "
                         "lines %s and %s where it goes" % (START, END))
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return "%s%s\n%s\n%s%s" % (head, START, table() if generated is None
                               else generated, END, tail)


def readme_table(text):
    """The table the readme holds between the markers."""
    if START not in text or END not in text:
        raise ValueError("readme.md has no generated key table (%s)" % START)
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")
