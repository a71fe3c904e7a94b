"""Command-line parsing shared by the tools: ``-m config.yaml -o k=v ...``."""
import argparse

from runkit.config import ConfigError, load_config


def parse(description, argv=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-m", "--config_yaml", required=True,
                        help="config file (config.yaml, config_big.yaml)")
    parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[],
                        help="overrides key=value, values parsed as YAML; "
                             "may be repeated")
    args = parser.parse_args(argv)
    try:
        return load_config(args.config_yaml, args.opt)
    except ConfigError as exc:
        parser.exit(2, "error: %s\n" % exc)


def run(description, job, argv=None):
    """Parse the command line, run ``job(config)``; a bad input (a
    ValueError or a missing file, which our errors are) becomes one clear
    log line and exit status 1 instead of a traceback."""
    from runkit import runtime
    runtime.setup_logging()
    config = parse(description, argv)
    try:
        job(config)
    except (ValueError, FileNotFoundError) as exc:
        runtime.logger.error("%s", exc)
        return 1
    return 0
