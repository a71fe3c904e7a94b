"""Links between the project's markdown files: every relative link in the
readme, the changelog and docs/ names a file that exists and, with an
anchor, a heading of that file (GitHub's anchor rule). Docs are moved and
split; a link left pointing at a section that moved must fail here."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([ROOT / "readme.md", ROOT / "CHANGELOG.md"]
               + list((ROOT / "docs").rglob("*.md")))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(path):
    """The file's lines outside fenced code blocks."""
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield line


def slug(heading):
    """GitHub's anchor of a heading: lower case, markup and punctuation
    other than '-' and '_' dropped, spaces as '-'."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen, found = {}, set()
    for line in prose_lines(path):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else "%s-%d" % (base, count))
    return found


def links(path):
    for number, line in enumerate(prose_lines(path), 1):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):     # http:, https:, mailto:
                continue
            yield number, target


def test_the_slug_follows_githubs_rule():
    assert slug("The sample data (`make demo`)") == "the-sample-data-make-demo"
    assert slug("The data-size axis (`SPARSE_LARGE`)") == \
        "the-data-size-axis-sparse_large"
    assert slug("Quality: results, defaults and limits") == \
        "quality-results-defaults-and-limits"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    broken = []
    for number, target in links(path):
        name, _, anchor = target.partition("#")
        dest = (path.parent / name).resolve() if name else path
        if not dest.exists():
            broken.append("%s: no such file" % target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append("%s: no heading with that anchor" % target)
    assert not broken, "%s: %s" % (path.relative_to(ROOT), "; ".join(broken))
