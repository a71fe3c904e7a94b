"""The id maxima (``hyper_parameters.max_idxs``): given in the config, or
found beside the data, so that nobody copies them by hand.

``max_idxs: auto`` (the default) takes them from ``max_idxs.yaml`` in the
training data folder or its parent (``tools/preprocess.py`` and
``tools/make_sample_data.py`` write it), or else from the id ranges the
columnar cache recorded for every configured data file; it says which.
"""
import logging
import os

import yaml

from dataio import schema, stage_cache
from dataio.stage_files import files_matching

logger = logging.getLogger("metaheac")

MAX_IDXS_FILE = "max_idxs.yaml"
KEY = "hyper_parameters.max_idxs"


def yaml_text(max_idxs):
    """The file's text: a config fragment, so it can also be pasted."""
    return yaml.safe_dump({"hyper_parameters": {"max_idxs": max_idxs}},
                          default_flow_style=None, sort_keys=False)


def read_max_idxs_file(path):
    with open(path) as f:
        try:
            tree = yaml.safe_load(f)
        except yaml.YAMLError as exc:
            raise ValueError("%s is not valid YAML: %s" % (path, exc))
    try:
        value = tree["hyper_parameters"]["max_idxs"]
    except (TypeError, KeyError):
        raise ValueError("%s lacks hyper_parameters.max_idxs" % path)
    schema.IdMaxima.from_config(value)  # checked here, named with the file
    return value


def _data_files(config):
    files = files_matching([config.get("runner.train_data_dir")], ".pkl")
    for key in ("runner.test_data_dir", "runner.test_cold_data_dir"):
        if config.get(key):
            files += files_matching([config.get(key)], ".pkl")
    return files


def _from_cache(config):
    """Per-table maxima over the cached id ranges of every data file, or
    None if a file has no cache entry."""
    files = _data_files(config)
    if not files or not config.get("runner.use_cache", True):
        return None
    top = [0] * len(schema.TABLES)
    for path in files:
        hit = stage_cache.load(config.get("runner.cache_dir") or
                               stage_cache.default_cache_dir(path), path)
        if hit is None:
            return None
        top = [max(t, hi) for t, (_, hi) in zip(top, hit[1]["id_ranges"])]
    groups = ("static", "dynamic", "ad")
    return [[m for m, t in zip(top, schema.TABLES) if t.group == g]
            for g in groups], len(files)


# A fresh clone has only the sample data: the missing-folder error says
# where the full data come from.
GET_THE_DATA = (
    "To get the full data (config_big.yaml), see the readme's section "
    "\"Full data\": the released processed files in datasets/Lookalike, or "
    "the raw competition files turned into them by "
    "tools/preprocess.py --raw RAW_DIR --out datasets/Lookalike")


def check_train_data(config, for_maxima=False):
    """A missing or empty ``runner.train_data_dir`` is named as such, with
    the fix (``for_maxima``: when ``max_idxs: auto`` looked there, which is
    not the cause)."""
    train_dir = config.get("runner.train_data_dir")
    if files_matching([train_dir], ".pkl"):
        return
    problem = "does not exist" if not os.path.exists(train_dir) else \
        "holds no .pkl stage file"
    # a ValueError, as every max_idxs problem is
    raise ValueError(
        "runner.train_data_dir %s %s%s: point runner.train_data_dir at the "
        "folder of the training stage files (tools/preprocess.py writes "
        "them; the sample data is data/train)%s. %s" % (
            train_dir, problem,
            ", and hyper_parameters.max_idxs: auto reads the id maxima from "
            "there (its %s, or the cached id ranges of its files)" %
            MAX_IDXS_FILE if for_maxima else "",
            ", or give hyper_parameters.max_idxs as [[7 static], "
            "[7 multi-id], [6 ad]] inclusive id maxima" if for_maxima else "",
            GET_THE_DATA))


def find_max_idxs(config):
    """The id maxima ``config`` stands for: its ``max_idxs``, or for
    ``auto`` the maxima found beside the data; returns ``(max_idxs, where
    they came from)`` (for the log). ``config`` is only read
    (``runkit.config.resolve_max_idxs`` makes the resolved config)."""
    if config.get(KEY) != "auto":
        return config.get(KEY), "the config"
    train_dir = config.get("runner.train_data_dir")
    for folder in (train_dir, os.path.dirname(train_dir.rstrip(os.sep))):
        path = os.path.join(folder, MAX_IDXS_FILE)
        if os.path.isfile(path):
            return read_max_idxs_file(path), path
    check_train_data(config, for_maxima=True)
    cached = _from_cache(config)
    if cached is not None:
        return cached[0], ("the id ranges the cache recorded for %d data "
                           "file(s)" % cached[1])
    raise ValueError(
        "hyper_parameters.max_idxs is auto, but there is no %s in %s or its "
        "parent (tools/preprocess.py writes one) and the data files have no "
        "cache entries yet: give max_idxs as [[7 static], [7 multi-id], "
        "[6 ad]] inclusive id maxima" % (MAX_IDXS_FILE, train_dir))
