"""Meta-test: ``python tools/infer_meta.py -m config.yaml [-o k=v]``.

For each test set (hot: runner.test_data_dir, cold: runner.test_cold_data_dir)
and each checkpoint epoch in infer_start_epoch..infer_end_epoch-1: every
campaign starts from the meta-trained weights, is fine-tuned with Adam on its
seed set (``infer_train_epoch`` passes in ``batch_size`` chunks), and its
candidates are scored (each campaign with its own random stream, seeded by
runner.seed and its aid). Prints a line per campaign and a summary per test set,
and writes everything to a JSON file. With ``-o runner.save_scores=True``
every candidate's score also goes to
``<result folder>/<result stem>.scores/<epoch>/<hot|cold>/<aid>/scores.csv``
(``infer_result.json`` -> ``infer_result.scores/``; uid = the candidate's
row in the stage-2 file, score, label), as tools/expand.py writes them.
The scores belong to their result file: an existing result file or scores
folder is refused before any work unless ``runner.overwrite``, which
replaces them only once the new ones are complete (and removes the replaced
result's scores when this run saves none).

Every test folder is checked for the stage files its reader needs before
the first campaign.

Under ``python -m paddle.distributed.launch --nproc_per_node N`` with
``-o runner.use_fleet=True`` the campaigns are split across the processes
and rank 0 prints and writes the same summary one process would.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runkit import cli  # noqa: E402
from runkit import runtime  # noqa: E402


def run_test_set(name, data_dir, model_class, model, init_state, config,
                 scores_out=None, group=None, scores_folder=""):
    from audience import seed_blend
    from dygraph_model import campaign_rng
    from runkit.distributed import ALONE
    from runkit.metrics import campaign_metrics, fmt, summarize
    log = runtime.logger
    group = group or ALONE
    reader = runtime.load_module(config, "runner.infer_reader_path")
    dataset = reader.RecDataset([data_dir], config)
    start = time.time()
    done = []
    # a collective run splits the campaigns across its ranks; each campaign
    # has its own seeded stream, so its scores do not depend on which rank
    # fine-tunes it or on what ran before
    for position in group.share(len(dataset)):
        campaign = dataset.campaign(position)
        aid, _, y_spt, _, y_qry = campaign
        rng = campaign_rng(config, aid)
        model_class.kept_passes = None
        pred = seed_blend.campaign_scores(model_class, model, init_state,
                                          campaign, config, rng)
        done.append((position, int(aid), int(len(y_spt)), int(y_spt.sum()),
                     model_class.finetunes(y_spt, config),
                     model_class.kept_passes, y_qry, pred))
    done = sorted(sum(group.gather(done), []), key=lambda item: item[0])
    rows, labels, scores = [], [], []
    for _, aid, seeds, positives, finetuned, kept, y_qry, pred in done:
        row = {"aid": aid, "seeds": seeds, "seed_positives": positives,
               "finetuned": finetuned}
        if kept is not None:   # runner.infer_holdout: the passes it kept
            row["passes_kept"] = kept
        if not finetuned and config.get("runner.infer_train_epoch"):
            log.info("[%s] aid %d: %d positive seed(s), fewer than "
                     "runner.infer_min_positives (%d): scored by the "
                     "meta-trained weights, not fine-tuned", name, aid,
                     positives, config.get("runner.infer_min_positives"))
        row.update(campaign_metrics(y_qry, pred))
        rows.append(row)
        labels.append(y_qry)
        scores.append(pred)
        if scores_out is not None and group.leader:
            from audience.output import scores_csv
            uid = dataset.cand_index.rows(dataset.cand_index.position(aid))
            scores_out.write(os.path.join(scores_folder, name, str(aid),
                                          "scores.csv"),
                             scores_csv(uid, pred, y_qry))
        if row["auc"] is None:
            log.warning("[%s] aid %d: %s; left out of AUC/GAUC/P/R", name, aid,
                        row["note"])
        else:
            log.info("[%s] aid %d: seeds %d, candidates %d, AUC %s, "
                     "P@5%% %s, R@5%% %s%s", name, aid, row["seeds"],
                     row["candidates"], fmt(row["auc"]), fmt(row["precision"]),
                     fmt(row["recall"]), "" if kept is None else
                     ", fine-tuning passes kept %d" % kept)
    summary = summarize(rows, labels, scores)
    summary["seconds"] = round(time.time() - start, 3)
    if summary["evaluated_campaigns"] == 0:
        log.warning("[%s] no campaign has both classes among its candidates: "
                    "AUC, GAUC, precision and recall are undefined", name)
    log.info("[%s] summary: campaigns %d (evaluated %d), AUC %s, GAUC %s, "
             "weighted GAUC %s, P@5%% %s, R@5%% %s, %.1f s", name,
             summary["campaigns"], summary["evaluated_campaigns"],
             fmt(summary["auc"]), fmt(summary["gauc"]),
             fmt(summary["weighted_gauc"]), fmt(summary["precision_at_5pct"]),
             fmt(summary["recall_at_5pct"]), summary["seconds"])
    return {"summary": summary, "campaigns": rows}


TEST_SETS = (("hot", "runner.test_data_dir"),
             ("cold", "runner.test_cold_data_dir"))


def scores_path(result):
    """The scores folder of a result file: ``r.json`` -> ``r.scores``."""
    folder, name = os.path.split(os.path.abspath(result))
    stem, extension = os.path.splitext(name)
    if extension == ".scores":
        raise ValueError("runner.infer_result_path %s ends in .scores, the "
                         "name of its scores folder: name it .json" % result)
    return os.path.join(folder, stem + ".scores")


def check_test_folders(test_sets, reader):
    """Each folder exists and holds what the reader needs: an empty cold
    folder must not surface only after the hot meta-test."""
    for name, key, data_dir in test_sets:
        if not os.path.isdir(data_dir):
            problem = "does not exist"
        else:
            # a reader of another layout (runner.infer_reader_path) may
            # not say what it needs; it then fails when it reads
            lacking = getattr(reader, "lacking", lambda folder: None)
            problem = lacking(data_dir)
        if problem:
            raise FileNotFoundError(
                "%s: the %s test folder %s %s: point %s at a folder with "
                "the test stage files, or set it to null to skip the %s "
                "meta-test" % (key, name, data_dir, problem, key, name))


def refuse_earlier_outputs(out, scores):
    """The result file and its scores folder are one output: either one
    there is refused unless runner.overwrite."""
    result_taken = out is not None and os.path.exists(out)
    scores_taken = os.path.exists(scores)
    taken = ["%s holds an earlier meta-test's results" % out] \
        if result_taken else []
    if scores_taken:
        taken.append("%s holds the candidates' scores of an earlier "
                     "meta-test" % scores)
    if taken:
        raise cli.Refused(
            "%s: choose another runner.infer_result_path, or replace %s "
            "with -o runner.overwrite=True" % (
                " and ".join(taken), "them" if scores_taken else "it"))


def check_scores_folder(scores):
    """runner.overwrite replaces an earlier scores folder, never a file."""
    if os.path.lexists(scores) and not os.path.isdir(scores):
        raise cli.Refused("%s is a file, where the scores of "
                          "runner.infer_result_path go (runner.save_scores): "
                          "move it away or choose another "
                          "runner.infer_result_path" % scores)


def open_scores(scores, config):
    from audience.output import OutputDir
    try:
        return OutputDir(scores, overwrite=config.get("runner.overwrite"))
    except cli.Refused:
        if not config.get("runner.overwrite"):
            # put back by OutputDir from an interrupted replacement: said
            # in this tool's terms
            refuse_earlier_outputs(None, scores)
        raise


def drop_replaced_scores(scores, log):
    """After an overwrite that saved no scores: scores of the replaced
    result beside the new one would pass for its own."""
    import shutil
    if os.path.isdir(scores):
        shutil.rmtree(scores)
        log.info("removed %s: the candidates' scores of the replaced result "
                 "(this run saved none; runner.save_scores)", scores)


def infer(config):
    threads = runtime.prepare(config)
    import paddle
    from dygraph_model import DygraphModel
    from runkit import checkpoint, distributed
    from runkit import runs
    from tuning import choice
    from runkit.atomic import check_writable, write_text
    log = runtime.logger
    group = distributed.start(config, "meta-test")
    if not group.leader:  # rank 0 reports for the run
        log.setLevel("WARNING")
    log.info("device %s, %d CPU thread(s)", paddle.get_device(), threads)
    test_sets = [(name, key, config.get(key)) for name, key in TEST_SETS
                 if config.get(key)]
    if not test_sets:
        raise ValueError("set runner.test_data_dir and/or "
                         "runner.test_cold_data_dir")
    model_class = DygraphModel()
    model = model_class.create_model(config)
    load_dir = config.get("runner.infer_load_path")
    results = {"config": {k: v for k, v in config.items()}, "epochs": {}}
    out = config.get("runner.infer_result_path") or os.path.join(
        load_dir, "infer_result.json")
    scores = scores_path(out)
    # everything this run needs is there, before the first campaign
    check_test_folders(test_sets, runtime.load_module(
        config, "runner.infer_reader_path"))
    for epoch in range(config.get("runner.infer_start_epoch"),
                       config.get("runner.infer_end_epoch")):
        path = os.path.join(load_dir, str(epoch), "rec.pdparams")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                "no checkpoint %s (runner.infer_load_path, epochs "
                "runner.infer_start_epoch .. runner.infer_end_epoch - 1)" % path)
        manifest = runs.verify_checkpoint(os.path.dirname(path))
    # the meta-test settings: the config's, else the run's meta-validated
    results["meta_test_settings"] = choice.resolve(config, manifest)
    results["config"] = {k: v for k, v in config.items()}
    if group.leader:
        check_writable(os.path.dirname(os.path.abspath(out)),
                       "the folder of runner.infer_result_path")
    if config.get("runner.save_scores"):
        check_scores_folder(scores)
    if not config.get("runner.overwrite"):
        refuse_earlier_outputs(out, scores)
    scores_out = None
    if config.get("runner.save_scores") and group.leader:
        # filled under a temporary name, put in place once every epoch is
        # scored: an overwrite keeps the earlier scores until then
        scores_out = open_scores(scores, config)
    epochs = range(config.get("runner.infer_start_epoch"),
                   config.get("runner.infer_end_epoch"))
    try:
        for epoch in epochs:
            path = os.path.join(load_dir, str(epoch))
            checkpoint.load_checkpoint(model, path, config)
            init_state = {k: v.clone() for k, v in model.state_dict().items()}
            log.info("meta-test from checkpoint %s", path)
            results["epochs"][str(epoch)] = {
                name: run_test_set(name, data_dir, model_class, model,
                                   init_state, config, scores_out, group,
                                   scores_folder=str(epoch))
                for name, _, data_dir in test_sets
            }
    except BaseException:
        if scores_out is not None:
            scores_out.abandon()   # no half-written scores folder
        raise
    if not group.leader:
        return results
    if scores_out is not None:
        log.info("wrote the candidates' scores to %s", scores_out.commit(
            {"result": os.path.basename(out), "epochs": list(epochs),
             "sets": [name for name, _, _ in test_sets]}))
    # written completely, then renamed over an earlier result
    write_text(out, json.dumps(results, indent=1, default=str))
    log.info("wrote %s", out)
    if scores_out is None and config.get("runner.overwrite"):
        drop_replaced_scores(scores, log)
    return results


def main(argv=None):
    return cli.run("MetaHeac meta-test", infer, argv)


if __name__ == "__main__":
    sys.exit(main())
