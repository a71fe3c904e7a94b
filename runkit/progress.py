"""How far a long stage has come and when it should end.

A stage that loops over campaigns, folds or table blocks makes a
:class:`Progress` and calls :meth:`Progress.step` after each item. Nothing
is logged for a stage that ends within ``EVERY`` seconds; a longer one logs
``label: done/total unit (p %), elapsed, ETA`` at most every ``EVERY``
seconds, so a run of minutes says how far it is without drowning the log.
The ETA is the mean pace so far times what is left: with items of even
cost it only falls. The trainer's per-interval line uses the same words
(:func:`position`, :func:`eta_text`) on its own schedule.
"""
import logging
import time

logger = logging.getLogger("metaheac")

# seconds between two progress lines (and before the first)
EVERY = 10.0


def duration(seconds):
    """``45 s``, ``3 min 05 s``, ``2 h 07 min``: a time a reader takes in
    at a glance."""
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return "%d s" % seconds
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return "%d min %02d s" % (minutes, seconds)
    hours, minutes = divmod(minutes, 60)
    return "%d h %02d min" % (hours, minutes)


def remaining(elapsed, done, total):
    """Seconds left at the mean pace of the ``done`` items so far, or None
    (nothing done yet, or no total)."""
    if not done or total is None:
        return None
    return elapsed / done * max(total - done, 0)


def eta_text(elapsed, done, total):
    """``ETA 3 min 05 s``, or ``ETA unknown`` before the first item."""
    left = remaining(elapsed, done, total)
    return "ETA unknown" if left is None else "ETA %s" % duration(left)


def position(done, total, unit=""):
    """``120/147 campaigns (82 %)``; ``120 campaigns`` without a total."""
    unit = " " + unit if unit else ""
    if total is None:
        return "%d%s" % (done, unit)
    share = 100.0 * done / total if total else 100.0
    return "%d/%d%s (%d %%)" % (done, total, unit, share)


class Progress:
    """``total`` items of a stage named ``label`` (``None``: unknown, no
    ETA); ``unit`` names them in the line; a line at most every ``every``
    seconds (default ``EVERY``). ``clock`` (seconds, monotonic) and
    ``log`` are there for the tests."""

    def __init__(self, total, label, unit="campaigns", every=None,
                 clock=time.monotonic, log=None):
        self.total, self.label, self.unit = total, label, unit
        self.every = EVERY if every is None else every
        self.clock = clock
        self.log = log or logger
        self.done = 0
        self.start = self.last = clock()

    def elapsed(self, now=None):
        return (self.clock() if now is None else now) - self.start

    def line(self, now=None):
        """The progress line as it stands."""
        elapsed = self.elapsed(now)
        text = "%s: %s, %s elapsed" % (self.label, position(
            self.done, self.total, self.unit), duration(elapsed))
        if self.total is not None:
            text += ", " + eta_text(elapsed, self.done, self.total)
        return text

    def step(self, count=1):
        """``count`` more items done; logs the line when ``every`` seconds
        have passed since the last one (or the start), unless the stage is
        complete (its own closing line says so). Returns whether it
        logged."""
        self.done += count
        now = self.clock()
        if now - self.last < self.every or (
                self.total is not None and self.done >= self.total):
            return False
        self.last = now
        self.log.info("%s", self.line(now))
        return True


def counted(items):
    """``len(items)`` when it has one, else None (a generator)."""
    try:
        return len(items)
    except TypeError:
        return None
