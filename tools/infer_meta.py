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
The scores belong to their result file, which their summary.json names:
an existing result file or scores folder is refused before any work
unless ``runner.overwrite``, which replaces them only once the new ones are
complete (and removes the replaced result's scores when this run saves
none); scores of another result file of the same stem are never replaced
or removed. The result and its scores go in place as one
(:func:`put_in_place`): a run stopped between the two is completed or
rolled back by the next start. A result path that is a folder is refused.

A test folder whose files hold no campaign is skipped with a warning (an
error when every set is).

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

try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

if __name__ == "__main__":   # Ctrl-C from here on: one line (runtime)
    runtime.hold_signals()
from runkit import cli  # noqa: E402


def run_test_set(name, dataset, model_class, model, init_state, config,
                 scores_out=None, group=None, scores_folder=""):
    """Meta-test every campaign of ``dataset`` (the test reader's, see
    :func:`read_test_sets`)."""
    from adaptation import campaign_model
    from dygraph_model import campaign_rng
    from runkit.distributed import ALONE
    from runkit.evaluation import evaluate
    from runkit.metrics import fmt
    from runkit.progress import Progress
    log = runtime.logger
    group = group or ALONE
    start = time.time()
    done = []
    # a collective run splits the campaigns across its ranks; each campaign
    # has its own seeded stream, so its scores do not depend on which rank
    # fine-tunes it or on what ran before
    mine = group.share(len(dataset))
    progress = Progress(len(mine), "[%s] meta-test%s" % (
        name, " (this process's share)" if group.active else ""))
    for position in mine:
        campaign = dataset.campaign(position)
        pred, tuned = campaign_model.campaign_scores(
            model_class, model, init_state, campaign, config,
            campaign_rng(config, campaign.aid))
        done.append((position, campaign.aid, campaign.seeds,
                     campaign.seed_positives, tuned.trained,
                     tuned.passes_kept, campaign.cand_y, pred,
                     campaign.cand_uid))
        progress.step()
    done = sorted(sum(group.gather(done), []), key=lambda item: item[0])
    evaluation = evaluate(
        (aid, y_qry, pred, dict(
            {"seeds": seeds, "seed_positives": positives,
             "finetuned": finetuned},
            # runner.infer_holdout: the passes it kept
            **({} if kept is None else {"passes_kept": kept})))
        for _, aid, seeds, positives, finetuned, kept, y_qry, pred, _ in done)
    for (_, aid, _, positives, finetuned, kept, y_qry, pred, uid), row in zip(
            done, evaluation["campaigns"]):
        if not finetuned and config.get("runner.infer_train_epoch"):
            log.info("[%s] aid %d: %d positive seed(s), fewer than "
                     "runner.infer_min_positives (%d): scored by the "
                     "meta-trained weights, not fine-tuned", name, aid,
                     positives, config.get("runner.infer_min_positives"))
        if scores_out is not None and group.leader:
            from audience.output import scores_csv
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
    summary = evaluation["summary"]
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
    return evaluation


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


def check_checkpoints(config):
    """Every checkpoint the meta-test loads is there, before any work;
    a folder no training wrote to is named as such, with what to run."""
    load_dir = config.get("runner.infer_load_path")
    first, end = (config.get("runner.infer_start_epoch"),
                  config.get("runner.infer_end_epoch"))
    missing = [os.path.join(load_dir, str(epoch), "rec.pdparams")
               for epoch in range(first, end)
               if not os.path.isfile(os.path.join(load_dir, str(epoch),
                                                  "rec.pdparams"))]
    if not missing:
        return
    held = sorted(int(n) for n in (os.listdir(load_dir)
                                   if os.path.isdir(load_dir) else ())
                  if n.isdigit() and os.path.isfile(
                      os.path.join(load_dir, n, "rec.pdparams")))
    if not held:
        raise FileNotFoundError(
            "no checkpoint %s: no model was trained there (runner."
            "infer_load_path %s %s): train one first with tools/trainer.py "
            "and the same config (it saves to runner.model_save_path, now "
            "%s), or point runner.infer_load_path at the folder a training "
            "saved to (-o runner.infer_load_path=DIR)" % (
                missing[0], load_dir,
                "holds no <epoch>/rec.pdparams" if os.path.isdir(load_dir)
                else "does not exist", config.get("runner.model_save_path")))
    raise FileNotFoundError(
        "no checkpoint %s: runner.infer_load_path %s holds epoch(s) %s, and "
        "the meta-test loads epochs runner.infer_start_epoch %d .. "
        "runner.infer_end_epoch - 1 (%d): choose them among those" % (
            missing[0], load_dir, ", ".join(map(str, held)), first, end - 1))


def result_path(config):
    return config.get("runner.infer_result_path") or os.path.join(
        config.get("runner.infer_load_path"), "infer_result.json")


def scores_owner(scores):
    """The name of the result file a scores folder belongs to, as its
    summary.json records it; None when there is no such folder, "" for a
    folder that names none (not a meta-test's)."""
    if not os.path.isdir(scores):
        return None
    try:
        with open(os.path.join(scores, "summary.json")) as f:
            owner = json.load(f)["result"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return owner if isinstance(owner, str) else ""


def refuse_foreign_scores(out, scores):
    """The scores folder is named by the result's stem, which two result
    files can share (``a.json``, ``a.txt``): one that belongs to another
    result file, or to none, is not this run's to replace, overwrite or
    not."""
    owner = scores_owner(scores)
    if owner is None or owner == os.path.basename(out):
        return
    if owner:
        raise cli.Refused(
            "%s holds the candidates' scores of %s (its summary.json says "
            "so), not of %s: the two result files share the stem %r; choose "
            "a runner.infer_result_path with another stem, or move %s away"
            % (scores, os.path.join(os.path.dirname(scores), owner), out,
               os.path.splitext(os.path.basename(out))[0], scores))
    raise cli.Refused(
        "%s is a folder but not the scores of a meta-test (it has no "
        "summary.json naming its result file), where the scores of %s go "
        "(runner.save_scores): move it away, or choose a "
        "runner.infer_result_path with another stem" % (scores, out))


def refuse_earlier_outputs(out, scores):
    """The result file and its scores folder are one output: either one
    there is refused unless runner.overwrite."""
    result_taken = out is not None and os.path.exists(out)
    scores_taken = scores is not None and os.path.exists(scores)
    taken = ["%s holds an earlier meta-test's results" % out] \
        if result_taken else []
    if scores_taken:
        owner = scores_owner(scores)
        taken.append("%s holds the candidates' scores of an earlier "
                     "meta-test%s" % (scores, " (of %s)" % owner if owner
                                      else ""))
    if taken:
        raise cli.Refused(
            "%s: choose another runner.infer_result_path, or replace %s "
            "with -o runner.overwrite=True" % (
                " and ".join(taken), "them" if scores_taken else "it"))


def check_outputs(out, scores, config):
    """Before any work (exit 2, nothing touched): the result path is a
    file's, the scores folder is this result's, and neither is an earlier
    meta-test's unless runner.overwrite."""
    if os.path.isdir(out):
        raise cli.Refused(
            "runner.infer_result_path %s is a folder, not a result file: "
            "name a file in it, e.g. -o runner.infer_result_path=%s" % (
                out, os.path.join(out, "infer_result.json")))
    ours = scores_owner(scores) == os.path.basename(out)
    if config.get("runner.save_scores"):
        check_scores_folder(scores)
        refuse_foreign_scores(out, scores)
    if not config.get("runner.overwrite"):
        # scores of another result file are not this run's concern
        # unless it saves scores (refused above)
        refuse_earlier_outputs(out, scores if ours else None)
    elif ours and not config.get("runner.save_scores"):
        refuse_added_files(scores)


def refuse_added_files(scores):
    """An overwrite that saves no scores removes the replaced result's
    scores folder: never with files a user put in it."""
    from audience.output import TOOLS, foreign_entries
    added = foreign_entries(scores, TOOLS["infer_meta"])
    if added:
        raise cli.Refused(
            "%s, the scores of the result runner.overwrite replaces, also "
            "holds %s, which the meta-test did not write: move them away "
            "first (runner.overwrite removes only what it wrote)" % (
                scores, ", ".join(added)))


def check_scores_folder(scores):
    """runner.overwrite replaces an earlier scores folder, never a file."""
    if os.path.lexists(scores) and not os.path.isdir(scores):
        raise cli.Refused("%s is a file, where the scores of "
                          "runner.infer_result_path go (runner.save_scores): "
                          "move it away or choose another "
                          "runner.infer_result_path" % scores)


def open_scores(out, scores, config):
    from audience.output import OutputDir
    try:
        folder = OutputDir(scores, overwrite=config.get("runner.overwrite"),
                           option="runner.infer_result_path's scores folder",
                           tool="infer_meta")
    except cli.Refused:
        if not config.get("runner.overwrite"):
            # put back by OutputDir from an interrupted replacement: said
            # in this tool's terms
            refuse_earlier_outputs(None, scores)
        raise
    try:   # what OutputDir put back from an interrupted run counts too
        refuse_foreign_scores(out, scores)
    except cli.Refused:
        folder.abandon()
        raise
    return folder


def drop_replaced_scores(out, scores, log):
    """After an overwrite that saved no scores: scores of the replaced
    result beside the new one would pass for its own. Only that result's:
    another result file of the same stem keeps its own."""
    import shutil
    from audience.output import TOOLS, foreign_entries
    if scores_owner(scores) == os.path.basename(out):
        added = foreign_entries(scores, TOOLS["infer_meta"])
        if added:   # put there during the run: checked empty at the start
            log.warning("kept %s, the scores of the replaced result: it "
                        "holds %s, which the meta-test did not write; move "
                        "them, then remove it", scores, ", ".join(added))
            return
        shutil.rmtree(scores)
        log.info("removed %s: the candidates' scores of the replaced result "
                 "(this run saved none; runner.save_scores)", scores)


def read_test_sets(test_sets, config):
    """Each test set's campaigns, read once before the first campaign. A
    set whose folder holds no campaign (tools/preprocess.py writes 0-row
    files when no test campaign is hot) is skipped with a warning naming
    the file; returns ([(name, dataset)], {name: why skipped})."""
    reader = runtime.load_module(config, "runner.infer_reader_path")
    read, skipped = [], {}
    for name, key, data_dir in test_sets:
        dataset = reader.RecDataset([data_dir], config)
        if len(dataset):
            read.append((name, dataset))
            continue
        skipped[name] = "%s %s" % (key, why_empty(dataset, data_dir))
        runtime.logger.warning("[%s] %s: the %s meta-test is skipped", name,
                               skipped[name], name)
    if not read:
        raise ValueError(
            "nothing to meta-test: %s; point %s at folders with campaigns" % (
                "; ".join(skipped.values()),
                " and/or ".join(key for _, key, _ in test_sets)))
    return read, skipped


def why_empty(dataset, data_dir):
    """Why a test folder gave no campaign, naming the file."""
    from dataio.stage_files import files_matching
    for attribute, suffix in (("seeds", "_stage1.pkl"),
                              ("candidates", "_stage2.pkl")):
        rows = getattr(dataset, attribute, None)
        if rows is not None and len(rows) == 0:
            return "%s: %s holds no campaigns (0 rows)" % (
                data_dir, ", ".join(files_matching([data_dir], suffix)))
    return "%s: no campaign has both seeds and candidates there" % data_dir


def results_size(datasets, epochs, save_scores):
    """About how many bytes the results (and the scores) take on disk: a
    result row per campaign, and per scored campaign a file of a line per
    candidate (at least a block)."""
    campaigns = sum(len(d) for _, d in datasets)
    size = 64 * 1024 + 1024 * campaigns * epochs
    if save_scores:
        candidates = sum(len(getattr(d, "candidates", ()))
                         for _, d in datasets)
        size += (4096 * campaigns + 32 * candidates) * epochs
    return size


def infer(config):
    out = result_path(config)
    scores = scores_path(out)
    from runkit.distributed import environment
    if environment()[0] == 0:
        settle_pending(out, scores, runtime.logger)
    check_outputs(out, scores, config)   # before paddle is loaded
    runtime.writes_output(out, "runner.infer_result_path")
    threads = runtime.prepare(config)
    import paddle
    from dygraph_model import DygraphModel
    from runkit import checkpoint, distributed
    from runkit import runs
    from tuning import choice
    from dataio.atomic import check_room, check_writable
    log = runtime.logger
    group = distributed.start(config, "meta-test")
    if not group.leader:  # rank 0 reports for the run
        log.setLevel("WARNING")
    log.info("device %s, %d CPU thread(s)", paddle.get_device(), threads)
    from runkit.evaluation import TEST_SETS
    test_sets = [(name, key, config.get(key)) for name, key in TEST_SETS
                 if config.get(key)]
    if not test_sets:
        raise ValueError("set runner.test_data_dir and/or "
                         "runner.test_cold_data_dir")
    load_dir = config.get("runner.infer_load_path")
    results = {"config": None, "epochs": {}}   # the config once resolved
    epochs = range(config.get("runner.infer_start_epoch"),
                   config.get("runner.infer_end_epoch"))
    # everything this run needs is there, before the first campaign
    check_test_folders(test_sets, runtime.load_module(
        config, "runner.infer_reader_path"))
    check_checkpoints(config)
    for epoch in epochs:
        manifest = runs.verify_checkpoint(os.path.join(load_dir, str(epoch)))
    # the meta-test settings: the config's, else the run's meta-validated;
    # the config is complete from here on, and only then is a model made
    config, results["meta_test_settings"] = choice.resolved(config, manifest)
    results["config"] = {k: v for k, v in config.items()}
    model_class = DygraphModel()
    model = model_class.create_model(config)
    # the first checkpoint is read before the data: a hostile or
    # mismatched one fails first
    first = os.path.join(load_dir, str(epochs[0]))
    checkpoint.load_checkpoint(model, first, config)
    loaded = epochs[0]
    datasets, skipped = read_test_sets(test_sets, config)
    save_scores = config.get("runner.save_scores")
    if group.leader:
        folder = os.path.dirname(os.path.abspath(out))
        check_writable(folder, "the folder of runner.infer_result_path",
                       "runner.infer_result_path")
        check_room(folder, results_size(datasets, len(epochs), save_scores),
                   "the folder of runner.infer_result_path",
                   "the meta-test's results%s" % (
                       " and the candidates' scores" if save_scores else ""),
                   "runner.infer_result_path")
    if skipped:
        results["skipped_sets"] = skipped
    scores_out = None
    if save_scores and group.leader:
        # filled under a temporary name, put in place once every epoch is
        # scored: an overwrite keeps the earlier scores until then
        scores_out = open_scores(out, scores, config)
    try:
        for epoch in epochs:
            path = os.path.join(load_dir, str(epoch))
            if epoch != loaded:
                checkpoint.load_checkpoint(model, path, config)
            init_state = {k: v.clone() for k, v in model.state_dict().items()}
            log.info("meta-test from checkpoint %s", path)
            results["epochs"][str(epoch)] = {
                name: run_test_set(name, dataset, model_class, model,
                                   init_state, config, scores_out, group,
                                   scores_folder=str(epoch))
                for name, dataset in datasets
            }
    except BaseException:
        if scores_out is not None:
            scores_out.abandon()   # no half-written scores folder
        raise
    if not group.leader:
        return results
    results["run_id"] = os.urandom(8).hex()
    results["scores"] = scores if scores_out is not None else None
    put_in_place(out, scores, results, scores_out, {
        "result": os.path.basename(out), "run_id": results["run_id"],
        "epochs": list(epochs), "sets": [name for name, _ in datasets]},
        config.get("runner.overwrite"), log)
    return results


def pending_path(out):
    """Where a finished result waits while its scores go in place: a
    hidden name beside the result, which the next start looks for."""
    folder, name = os.path.split(os.path.abspath(out))
    return os.path.join(folder, ".%s.pending" % name)


def replaced_path(out):
    """Where the earlier result waits meanwhile (hidden, beside it)."""
    folder, name = os.path.split(os.path.abspath(out))
    return os.path.join(folder, ".%s.replaced" % name)


def put_in_place(out, scores, results, scores_out, summary, overwrite, log):
    """The result file and its scores folder, in place as one output: the
    result is written whole under its pending name, the earlier result is
    moved aside, the scores go in place (or, with ``overwrite`` and none
    saved, the replaced result's scores go), then the result is renamed
    into place and the earlier one removed. At no moment does a result
    stand beside another run's scores; a run stopped half-way leaves the
    pending result, which the next start completes or rolls back
    (:func:`settle_pending`)."""
    from dataio.atomic import write_text
    pending, replaced = pending_path(out), replaced_path(out)
    write_text(pending, json.dumps(results, indent=1, default=str))

    def stopped():
        if not os.path.exists(pending):
            return "the output is complete: %s" % out
        return ("the finished result waits in %s: the next start of "
                "tools/infer_meta.py with this runner.infer_result_path puts "
                "it in place if its scores are, else puts the earlier result "
                "back beside its scores" % pending)
    runtime.STATUS["on_interrupt"] = stopped
    if os.path.exists(out):
        os.replace(out, replaced)
    if scores_out is not None:
        log.info("wrote the candidates' scores to %s",
                 scores_out.commit(summary))
    elif overwrite:
        drop_replaced_scores(out, scores, log)
    os.replace(pending, out)
    runtime.STATUS["output_done"] = True
    if os.path.exists(replaced):
        os.remove(replaced)
    log.info("wrote %s", out)


def scores_run(scores):
    """The run id a scores folder's summary.json records, or None."""
    try:
        with open(os.path.join(scores, "summary.json")) as f:
            return json.load(f).get("run_id")
    except (OSError, ValueError, AttributeError):
        return None


def settle_pending(out, scores, log):
    """Before anything else, what a run stopped while putting its output
    in place (:func:`put_in_place`) left: its pending result is put in
    place when its scores got there (or it saved none), else removed and
    the earlier result put back beside its scores; a leftover earlier
    result is removed once the new one is in place."""
    pending, replaced = pending_path(out), replaced_path(out)
    if os.path.exists(pending + ".tmp"):   # stopped while writing it
        os.remove(pending + ".tmp")
    if os.path.isfile(pending):
        _settle(out, scores, pending, replaced, log)
    if os.path.exists(replaced):
        if os.path.exists(out):
            os.remove(replaced)
        else:
            os.replace(replaced, out)
            log.warning("put back %s, the result a meta-test stopped while "
                        "replacing it had moved to %s", out, replaced)


def _settle(out, scores, pending, replaced, log):
    try:
        with open(pending) as f:
            doc = json.load(f)
        run_id, saved = doc["run_id"], doc.get("scores")
        overwrite = doc["config"].get("runner.overwrite")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        os.remove(pending)
        log.warning("removed %s: an unreadable pending result of an "
                    "interrupted meta-test", pending)
        return
    if saved and os.path.isdir(os.path.dirname(scores)):
        from audience.output import recover
        recover(scores)   # a scores swap stopped half-way is finished first
    if saved and scores_run(scores) != run_id:
        os.remove(pending)
        log.warning("removed %s, the result of a meta-test stopped before "
                    "its scores were in place: %s and %s are as the earlier "
                    "meta-test left them", pending, out, scores)
        return
    if not saved and overwrite:
        drop_replaced_scores(out, scores, log)
    os.replace(pending, out)
    log.warning("put %s in place from %s: the meta-test that wrote it was "
                "stopped while putting its output in place%s", out, pending,
                ", after its scores (%s)" % scores if saved else "")


def main(argv=None):
    return cli.run("MetaHeac meta-test", infer, argv)


if __name__ == "__main__":
    sys.exit(main())
