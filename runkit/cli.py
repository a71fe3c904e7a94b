"""Command-line parsing shared by the tools: ``-m config.yaml -o k=v ...``."""
import argparse

from runkit.config import ConfigError, load_config


def parse(description, argv=None, add_arguments=None):
    """The config of ``-m config.yaml -o k=v ...``; with ``add_arguments``
    (a function given the parser) the tool's own arguments too, returned
    as ``(config, args)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-m", "--config_yaml", required=True,
                        help="config file (config.yaml, config_big.yaml)")
    parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[],
                        help="overrides key=value, values parsed as YAML; "
                             "may be repeated")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config_yaml, args.opt)
    except ConfigError as exc:
        parser.exit(2, "error: %s\n" % exc)
    return (config, args) if add_arguments else config


class Refused(Exception):
    """The tool will not do this (e.g. overwrite a finished output):
    exit status 2, nothing touched."""


def guarded(job, *args):
    """Run ``job(*args)``; a bad input (a ValueError or a missing file,
    which the project's errors are) becomes one clear log line and exit
    status 1, a refusal exit status 2, instead of a traceback."""
    from runkit import runtime
    from runkit.distributed import PeerLost
    try:
        job(*args)
    except (KeyboardInterrupt, runtime.Terminated) as exc:
        signal = "SIGTERM" if isinstance(exc, runtime.Terminated) else "Ctrl-C"
        last = runtime.STATUS.get("last_checkpoint")
        runtime.logger.error(
            "interrupted by %s; partial files removed; %s", signal,
            "last complete checkpoint: %s" % last if last else
            "no checkpoint of this run was complete")
        return 143 if signal == "SIGTERM" else 130
    except Refused as exc:
        runtime.logger.error("%s", exc)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        runtime.logger.error("%s", exc)
        return 1
    except PeerLost as exc:
        last = runtime.STATUS.get("last_checkpoint")
        runtime.logger.error("%s%s", exc, "; last complete checkpoint: %s "
                             "(continue with -o runner.resume=True)" % last
                             if last else "")
        return 1
    except OSError as exc:   # a full disk, an I/O error during the work
        last = runtime.STATUS.get("last_checkpoint")
        runtime.logger.error(
            "%s%s", exc, "; earlier checkpoints are intact (last: %s): "
            "continue with -o runner.resume=True" % last if last else "")
        return 1
    return 0


def run(description, job, argv=None, add_arguments=None):
    """Parse ``-m config.yaml -o k=v`` (and the tool's own arguments, see
    :func:`parse`), find ``max_idxs: auto`` beside the data, and run
    ``job(config)`` (or ``job(config, args)``) through :func:`guarded`."""
    from dataio.vocabulary import resolve_max_idxs
    from runkit import runtime
    runtime.setup_logging()
    parsed = parse(description, argv, add_arguments)
    config = parsed[0] if add_arguments else parsed

    def job_with_maxima():
        source = resolve_max_idxs(config)
        runtime.logger.info("max_idxs from %s: %s", source,
                            config.get("hyper_parameters.max_idxs"))
        job(*(parsed if add_arguments else (config, )))
    return guarded(job_with_maxima)
