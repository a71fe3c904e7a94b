"""Command-line parsing shared by the tools: ``-m config.yaml -o k=v ...``.

Only the standard library (and runkit.near_names, which imports no more)
is imported at the top, so that a tool started
by a Python without the project's requirements (``python3 tools/...``
instead of ``.venv/bin/python``) can say so in one line
(``runtime.missing_requirement``) rather than with a traceback."""
import argparse
import errno
import os
import sys

from runkit.near_names import did_you_mean, near


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose error for an option it does not know names
    the nearest one it does (``--tops 5``: did you mean --top?). argparse
    itself only completes abbreviations; every tool builds its parser from
    this class (``tests/test_near_names.py`` checks that)."""

    def parse_known_args(self, args=None, namespace=None):
        # kept for error(): a missing required option is reported before
        # the unknown ones, whose near names then explain it
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message):
        hints = self.near_options()
        if hints and not message.startswith("unrecognized arguments"):
            # e.g. "required: --seeds" because --sedes was typed
            message += "; unknown option%s %s" % (
                "s" if len(hints) > 1 else "", ", ".join(hints))
        if len(hints) == 1 and len(self.unknown_options()) == 1:
            (name, near_ones), = hints.items()
            message += did_you_mean(near_ones)
        elif hints:
            message += " (did you mean %s?)" % ", ".join(
                "%s for %s" % (" or ".join(near_ones), name)
                for name, near_ones in hints.items())
        super().error(message)

    def known_options(self):
        """The long option names this parser accepts."""
        return [name for action in self._actions
                for name in action.option_strings if name.startswith("--")]

    def unknown_options(self):
        """The long options given that are neither known nor abbreviations
        of known ones (argparse completes those)."""
        known = self.known_options()
        unknown = []
        for token in getattr(self, "_given", ()):
            if token == "--":
                break
            name = token.split("=", 1)[0]
            if name.startswith("--") and len(name) > 2 and not any(
                    option.startswith(name) for option in known):
                unknown.append(name)   # not a value, not a known option
        return unknown

    # the config keys a parser of ``-o key=value`` sets (cli.parse): an
    # option named like one (--epochs) is answered with its -o form
    config_keys = ()

    def near_options(self):
        """{unknown long option given: the known options nearest it, else
        the ``-o`` of the config keys nearest it}, for those with one."""
        bare = {option[2:]: option for option in self.known_options()}
        leaves = {}
        for key in self.config_keys:
            leaves.setdefault(key.split(".")[-1], []).append(key)
        found = {}
        for name in self.unknown_options():
            near_ones = [bare[word] for word in near(name[2:], bare)] or [
                "-o %s=..." % key
                for leaf in near(name[2:].replace("-", "_"), leaves)
                for key in leaves[leaf]]
            if near_ones:
                found[name] = near_ones
        return found


def parse(description, argv=None, add_arguments=None, options=None):
    """The config of ``-m config.yaml -o k=v ...``; with ``add_arguments``
    (a function given the parser) the tool's own arguments too, returned
    as ``(config, args)``. ``options``, a function of the parsed arguments,
    gives the config keys the tool's own options set ({key: value}): they
    are merged over ``-o``, so the config holds them from the start."""
    from runkit.config import ConfigError, load_config
    from runkit.config_schema import KEYS
    parser = ArgumentParser(description=description)
    parser.config_keys = tuple(key.name for key in KEYS)
    parser.add_argument("-m", "--config_yaml", required=True,
                        help="config file (config.yaml, config_big.yaml)")
    parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[],
                        help="overrides key=value, values parsed as YAML; "
                             "may be repeated")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config_yaml, args.opt,
                             options(args) if options else None)
    except ConfigError as exc:
        parser.exit(2, "error: %s\n" % exc)
    return (config, args) if add_arguments else config


class Refused(Exception):
    """The tool will not do this (e.g. overwrite a finished output):
    exit status 2, nothing touched."""


def guarded(job, *args):
    """Run ``job(*args)``; a bad input (a ValueError or a missing file,
    which the project's errors are) becomes one clear log line and exit
    status 1, a refusal exit status 2, an interruption 130 (Ctrl-C) or
    143 (SIGTERM), instead of a traceback. Signals held since the tool
    started (``runtime.hold_signals``) are let in here."""
    from runkit import runtime
    runtime.STATUS.clear()
    try:
        runtime.STATUS["on_interrupt"] = "nothing was written"
        runtime.release_signals()   # a Ctrl-C during start-up stops here
        del runtime.STATUS["on_interrupt"]
        job(*args)
    except BaseException as exc:   # noqa: B902 - each kind gets its line
        status = _stopped(exc)
        if status is None:
            raise
        return status
    return 0


def _stopped(exc):
    """Log the one line of a job stopped by ``exc``; its exit status, or
    None for an exception that is a bug (its traceback is wanted)."""
    from runkit import runtime
    from runkit.distributed import PeerLost
    log = runtime.logger
    signal = runtime.STATUS.get("signal") or (
        "SIGTERM" if isinstance(exc, runtime.Terminated) else
        "Ctrl-C" if isinstance(exc, KeyboardInterrupt) else None)
    if signal:   # whatever the signal caused on its way out
        left = _left_after_interrupt()
        log.error("interrupted by %s%s; partial files removed%s", signal,
                  _why_terminated(signal), "; " + left if left else "")
        return 143 if signal == "SIGTERM" else 130
    if isinstance(exc, Refused):
        log.error("%s", exc)
        return 2
    missing = runtime.missing_requirement(exc)
    if missing:
        log.error("%s", missing)
        return 1
    if isinstance(exc, (ValueError, FileNotFoundError)):
        log.error("%s", exc)
        return 1
    last = runtime.STATUS.get("last_checkpoint")
    if isinstance(exc, PeerLost):
        log.error("%s%s", exc, "; last complete checkpoint: %s "
                  "(continue with -o runner.resume=True)" % last
                  if last else "")
        return 1
    if isinstance(exc, OSError):   # a full disk, an I/O error during the work
        log.error("%s", _os_error_line(exc, last))
        return 1
    return None


def _why_terminated(signal):
    """In a collective run, the launcher ends the survivors with SIGTERM
    once one process has died, often before gloo has told them: the line
    must point at that process, not read as a stop someone asked for."""
    from runkit import runtime
    group = runtime.STATUS.get("collective")
    if signal != "SIGTERM" or not group:
        return ""
    rank, size = group
    return (" (rank %d of %d: in a collective run the launcher sends it "
            "when another process of the run has stopped; the launcher's "
            "--log_dir (workerlog.<rank>) says why it stopped)" % (rank, size))


def _left_after_interrupt():
    """What an interrupted job leaves: its own words (``on_interrupt``, a
    text or a function giving one), else its output's state, if known."""
    from runkit import runtime
    note = runtime.STATUS.get("on_interrupt")
    if note:
        return note() if callable(note) else note
    if "output" in runtime.STATUS:
        return _output_state()
    return None


def _output_state():
    """What became of the tool's output (``runtime.writes_output``)."""
    from runkit import runtime
    path, _ = runtime.STATUS["output"]
    if runtime.STATUS.get("output_done"):
        return "the output is complete: %s" % path
    return "no output was written; %s %s" % (
        path, "left as it was" if os.path.lexists(path) else "not made")


def _os_error_line(exc, last):
    """An OSError of the work, with what it hit and how to go on: a full
    disk names the output and where to free space or write instead."""
    from runkit import runtime
    full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    if "output" in runtime.STATUS:
        path, option = runtime.STATUS["output"]
        if full:
            return ("no space left on device writing %s (%s): free space on "
                    "its disk, or choose another %s; %s" % (
                        path, option, option, _output_state()))
        return "%s; %s" % (exc, _output_state())
    if last:
        return ("%s; earlier checkpoints are intact (last: %s): continue "
                "with -o runner.resume=True" % (exc, last))
    return str(exc)


def run(description, job, argv=None, add_arguments=None, options=None):
    """Parse ``-m config.yaml -o k=v`` (and the tool's own arguments and
    the config keys they set, see :func:`parse`), find ``max_idxs: auto``
    beside the data, and run ``job(config)`` (or ``job(config, args)``)
    through :func:`guarded`. The job is given the resolved config, which
    is read-only (``runkit.config.Config``)."""
    from runkit import runtime
    # held until guarded lets them in: a Ctrl-C while numpy, pandas or
    # paddle are imported then stops with one line too
    runtime.hold_signals()
    try:
        runtime.setup_logging()
        absent = runtime.absent_requirements()
        if absent:   # before any work, every one of them named
            runtime.release_signals()
            runtime.logger.error("%s", runtime.requirements_line(absent))
            return 1
        from runkit.config import resolve_max_idxs
        # what resolve_max_idxs imports: a missing requirement is told here
        import dataio.vocabulary  # noqa: F401
        parsed = parse(description, argv, add_arguments, options)
    except BaseException as exc:   # --help, a bad option: no job to guard
        runtime.release_signals()
        missing = runtime.missing_requirement(exc)
        if missing is None:
            raise
        runtime.logger.error("%s", missing)
        return 1
    config, args = parsed if add_arguments else (parsed, None)

    def job_with_maxima():
        # until the job says what it writes (runtime.writes_output)
        runtime.STATUS["on_interrupt"] = "nothing was written"
        resolved, source = resolve_max_idxs(config)
        runtime.logger.info("max_idxs from %s: %s", source,
                            resolved.get("hyper_parameters.max_idxs"))
        job(*((resolved, args) if add_arguments else (resolved, )))
    return guarded(job_with_maxima)
