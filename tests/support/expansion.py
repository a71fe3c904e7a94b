"""Expansion and export on the small network: campaigns, stage files and a
user table to expand, the tools run in this process or in a subprocess,
the output folders they leave, and the exported program served."""
import json
import os

import numpy as np

from dataio import schema
from dataio.campaign import Campaign
from dataio.frames import arrays_to_frame
from helpers import (CONFIG as CONFIG_FILE, SMALL_MAX_IDXS, random_inputs,
                     randomize_parameters, run_tool, small_config, yaml_list)

# the small network of small_config(), as a tool's -o overrides
OVERRIDES = ["hyper_parameters.max_idxs=%s" % yaml_list(SMALL_MAX_IDXS),
             "hyper_parameters.embed_dim=4", "hyper_parameters.mlp_dims=[8,8]",
             "hyper_parameters.num_expert=3", "hyper_parameters.num_output=2",
             "hyper_parameters.batch_size=16"]
SMALL_CONFIG = small_config("hyper_parameters.batch_size=16")


def small_model(config=SMALL_CONFIG, seed=0):
    """(model class, a small network of random weights, a copy of its
    weights): what tools/expand.py loads from a checkpoint."""
    from dygraph_model import DygraphModel
    model_class = DygraphModel()
    model = model_class.create_model(config)
    randomize_parameters(model, np.random.default_rng(seed), scale=0.3)
    return model_class, model, {k: v.clone()
                                for k, v in model.state_dict().items()}


def save_small_checkpoint(folder):
    """small_model's network saved as epoch 0 of ``folder``; its path."""
    from runkit.checkpoint import save_checkpoint
    _, model, _ = small_model(small_config())
    return save_checkpoint(model, None, str(folder), 0)


# -------------------------------------------------------------- campaigns
def make_campaign(aid=5, seeds=30, candidates=60, seed_y="mixed", seed=0):
    """A campaign of random rows: seeds labelled half and half ("mixed"),
    all positive ("positive") or unlabelled (None); every third candidate
    labelled positive."""
    rng = np.random.default_rng(seed)
    seed_x, cand_x = random_inputs(rng, seeds), random_inputs(rng, candidates)
    seed_uid = np.arange(1000, 1000 + seeds)
    cand_uid = np.arange(2000, 2000 + candidates)
    y = None if seed_y is None else (
        np.ones(seeds, np.float32) if seed_y == "positive" else
        (np.arange(seeds) % 2).astype(np.float32))
    cand_y = (np.arange(candidates) % 3 == 0).astype(np.float32)
    return Campaign(aid, seed_x, seed_uid, y, cand_x, cand_uid, cand_y)


def unlabelled_pool_campaign(aid=5, seed_y="negative", seeds=30,
                             candidates=60, seed=0):
    """make_campaign's rows, but a candidate pool without labels, and seeds
    all negative by default (also "positive", "mixed" or None)."""
    rng = np.random.default_rng(seed)
    y = {"negative": np.zeros(seeds, np.float32),
         "positive": np.ones(seeds, np.float32),
         "mixed": (np.arange(seeds) % 2).astype(np.float32),
         None: None}[seed_y]
    return Campaign(aid, random_inputs(rng, seeds),
                    np.arange(1000, 1000 + seeds), y,
                    random_inputs(rng, candidates),
                    np.arange(2000, 2000 + candidates))


def expand_one(campaign, config=SMALL_CONFIG, **kwargs):
    """The expansion of one campaign by small_model; it is not skipped."""
    from audience.expansion import expand
    (result, ), skipped = expand(config, [campaign], 0.1, *small_model(config),
                                 **kwargs)
    assert not skipped
    return result


# ------------------------------------------------------------ input files
def stage_files(tmp_path, seed_aids=(9, ), cand_aids=(9, ), labels="mixed"):
    """Seed and candidate stage files (seeds.pkl, cands.pkl): 30 seeds and
    50 candidates a campaign, uids 100.. and 500.."""
    rng = np.random.default_rng(3)
    seeds, cands = tmp_path / "seeds.pkl", tmp_path / "cands.pkl"
    n_s = 30 * len(seed_aids)
    y = {"mixed": np.arange(n_s) % 2, "negative": np.zeros(n_s),
         "positive": np.ones(n_s)}[labels]
    frame_s = arrays_to_frame(y, np.repeat(seed_aids, 30),
                              *random_inputs(rng, n_s))
    frame_s.insert(0, "uid", np.arange(100, 100 + n_s))
    frame_s.to_pickle(seeds)
    n_c = 50 * len(cand_aids)
    frame_c = arrays_to_frame(np.arange(n_c) % 2, np.repeat(cand_aids, 50),
                              *random_inputs(rng, n_c))
    frame_c.insert(0, "uid", np.arange(500, 500 + n_c))
    frame_c.to_pickle(cands)
    return seeds, cands


def overlapping_stage_files(tmp_path, aids=(9, 8)):
    """Two campaigns ranking the same 80 candidate uids (so their
    audiences can overlap), labelled seeds and candidates."""
    rng = np.random.default_rng(3)
    n_s = 30 * len(aids)
    seeds = arrays_to_frame(np.arange(n_s) % 2, np.repeat(aids, 30),
                            *random_inputs(rng, n_s))
    seeds.insert(0, "uid", np.arange(100, 100 + n_s))
    n_c = 80 * len(aids)
    cands = arrays_to_frame((np.arange(n_c) % 4 == 0).astype(int),
                            np.repeat(aids, 80), *random_inputs(rng, n_c))
    cands.insert(0, "uid", np.tile(np.arange(500, 580), len(aids)))
    paths = tmp_path / "seeds.pkl", tmp_path / "cands.pkl"
    seeds.to_pickle(paths[0])
    cands.to_pickle(paths[1])
    return paths


def write_small_user_table(folder):
    """A user table of 200 users (uids 0, 5, 10, ...) and an ads.csv of
    campaigns 3 and 4 in ``folder``; (folder, the UserTable)."""
    from dataio.user_table import UserTable, write_user_table
    rng = np.random.default_rng(11)
    static, dynamic, lengths, _ = random_inputs(rng, 200)
    write_user_table(str(folder / "users"), np.arange(200) * 5,
                     np.concatenate([static, dynamic, lengths], axis=1))
    ad_max = SMALL_MAX_IDXS[2]
    lines = ["aid," + ",".join(schema.AD_FIELDS)]
    for aid in (3, 4):
        lines.append("%d,%s" % (aid, ",".join(str(min(aid, m))
                                                for m in ad_max)))
    (folder / "ads.csv").write_text("\n".join(lines) + "\n")
    table = UserTable(str(folder / "users"),
                      schema.IdMaxima.from_config(SMALL_MAX_IDXS))
    return folder, table


# ------------------------------------------------------------- the tools
def tool(name, checkpoint, *args):
    """tools/<name>.py's main in this process, on the small network saved
    at ``checkpoint``; its exit status."""
    import importlib
    main = importlib.import_module("tools.%s" % name).main
    return main(["-m", str(CONFIG_FILE)] + [str(a) for a in args] +
                ["-o"] + OVERRIDES + ["expand.checkpoint=%s" % checkpoint])


def expand_process(checkpoint, *args):
    """tools/expand.py in a subprocess, on the small network saved at
    ``checkpoint``; the finished process."""
    return run_tool("expand.py", OVERRIDES + [
        "expand.checkpoint=%s" % checkpoint], extra=list(args))


def predict(folder, x):
    """The scores of the exported program in ``folder`` for inputs ``x``,
    through Paddle's predictor, as a service loads it."""
    import paddle
    from audience import serving
    config = paddle.inference.Config(str(folder / "model.json"),
                                     str(folder / "model.pdiparams"))
    config.disable_glog_info()
    predictor = paddle.inference.create_predictor(config)
    for name, array in zip(serving.INPUT_NAMES, x):
        handle = predictor.get_input_handle(name)
        handle.reshape(array.shape)
        handle.copy_from_cpu(array)
    predictor.run()
    return predictor.get_output_handle(
        predictor.get_output_names()[0]).copy_to_cpu()


# ---------------------------------------------------------- output folders
def finished(folder, tag, summary="summary.json"):
    """A complete output folder: a campaign's files, the summary last."""
    os.makedirs(os.path.join(folder, "9"))
    with open(os.path.join(folder, "9", "audience.csv"), "w") as f:
        f.write("uid,score,rank,top_percent\n%s,0.5,1,100.0\n" % tag)
    with open(os.path.join(folder, summary), "w") as f:
        json.dump({"tool": "export" if summary == "export.json" else
                   "expand", "tag": tag}, f)
    return folder


def tag(folder, summary="summary.json"):
    """The tag of the output finished() wrote in ``folder``."""
    with open(os.path.join(folder, summary)) as f:
        return json.load(f)["tag"]


def hidden(parent):
    """The hidden entries (temporary outputs) left in ``parent``."""
    return sorted(n for n in os.listdir(parent) if n.startswith("."))
