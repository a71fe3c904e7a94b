"""Screenshot an expansion's report.html in a real browser (headless
Chromium), to look at it as a reader would: the whole page, as a PNG.

    python tools/screenshot_report.py DIR/report.html --out report.png
        [--width 1400] [--chromium /usr/bin/chromium]

Chromium (Debian's package ``chromium``) draws the page in a window of
``--width`` by a tall height; the blank rows below the page are then cut
off. The page is opened from disk, with the network off (no request
leaves the machine: the report needs none).
"""
import os
import shutil
import subprocess
import sys
import tempfile

try:
    from runkit import runtime  # noqa: F401
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise
from runkit import cli  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TALL = 8000   # the window's height: the page is cut to its content after


def browser(given=None):
    """The Chromium to run: ``given``, else the first of :data:`BROWSERS`
    on the PATH; None when there is none."""
    if given:
        return given if os.path.isfile(given) else shutil.which(given)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _flags(profile):
    # no first-run pages, no background connections (refused here), no
    # sandbox (root), a fresh profile
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--user-data-dir=%s" % profile]


def cut_blank_bottom(path, margin=16, colors=None):
    """Cut the rows below the page's last non-background row (the
    background: the colour of the bottom-left pixel), keeping
    ``margin`` rows; ``colors``: that many colours at most (a smaller
    file)."""
    import numpy as np
    from PIL import Image
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    background = pixels[-1, 0]
    used = np.flatnonzero((pixels != background).any(axis=(1, 2)))
    height = pixels.shape[0] if not len(used) else min(
        pixels.shape[0], int(used[-1]) + 1 + margin)
    image = Image.fromarray(pixels[:height])
    if colors:
        image = image.quantize(colors)
    image.save(path, optimize=True)
    return pixels.shape[1], height


def screenshot(page, out, width=1400, chromium=None, timeout=120,
               colors=None):
    """Draw the HTML file ``page`` to the PNG ``out`` (``colors``: at
    most that many); (width, height)."""
    binary = browser(chromium)
    if binary is None:
        raise FileNotFoundError("no Chromium found (%s): apt-get install "
                                "chromium" % ", ".join(BROWSERS))
    page, out = os.path.abspath(page), os.path.abspath(out)
    if not os.path.isfile(page):
        raise FileNotFoundError("%s is not a file" % page)
    with tempfile.TemporaryDirectory(prefix="report-shot-") as profile:
        shot = os.path.join(profile, "page.png")
        done = subprocess.run(
            [binary] + _flags(profile) + [
                "--screenshot=%s" % shot, "--window-size=%d,%d" % (width,
                                                                  TALL),
                "file://" + page],
            capture_output=True, text=True, timeout=timeout)
        if not os.path.isfile(shot):
            raise RuntimeError("%s wrote no screenshot (exit %d): %s" % (
                binary, done.returncode, done.stderr.strip()[-500:]))
        size = cut_blank_bottom(shot, colors=colors)
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        shutil.move(shot, out)
    return size


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", help="the report.html to draw")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400,
                        help="the window's width in pixels (default 1400)")
    parser.add_argument("--colors", type=int,
                        help="at most this many colours (a smaller file, "
                        "e.g. 64 for docs/)")
    parser.add_argument("--chromium", help="the browser to run (default: "
                        "the first of %s found)" % ", ".join(BROWSERS))
    args = parser.parse_args(argv)
    try:
        width, height = screenshot(args.page, args.out, args.width,
                                   args.chromium, colors=args.colors)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print("screenshot_report: %s" % exc, file=sys.stderr)
        return 1
    print("wrote %s (%d x %d)" % (args.out, width, height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
