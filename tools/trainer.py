"""Meta-train MetaHeac: ``python tools/trainer.py -m config.yaml [-o k=v]``.

Checkpoints go to ``<runner.model_save_path>/<epoch>/`` with the run's
manifest (runkit/runs.py); a folder holding another run is refused unless
``-o runner.resume=True`` (continue it exactly) or
``-o runner.overwrite=True`` (replace it: only that run's epoch folders, their
``.prev`` copies and its run.json are removed). A loss that turns NaN or
inf stops the run before the step, naming the learning rates to lower; an
epoch that diverged without one (:func:`looks_diverged`) is saved with a
warning, also in its run.json record.

Several processes (``python -m paddle.distributed.launch --nproc_per_node N
tools/trainer.py -m config.yaml -o runner.use_fleet=True``): each draws its
share of a meta-batch of N * task_count campaigns, the gradients are
averaged across processes before every Adam step, and only rank 0 logs and
writes checkpoints (runkit/distributed.py, reader_train.py)."""
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


class NonFinite(ValueError):
    """The loss (or the predictions it comes from) became NaN or inf."""


class _Watch:
    """What one step's predictions show, seen as the AUC metric would see
    them: whether they are all finite (a diverged model's NaN would
    otherwise stop Paddle's AUC with "cannot convert float NaN to integer"
    before the loss can be checked), and how many sit at 0 or 1. The
    training AUC (``metric``, when runner.use_auc) is fed the finite ones."""

    def __init__(self, metric=None):
        self.metric, self.finite = metric, True
        self.predictions = self.saturated = 0

    def update(self, preds, labels):
        import numpy as np
        if not np.isfinite(preds).all():
            self.finite = False
            return
        p = preds[:, 1]
        self.predictions += len(p)
        self.saturated += int(np.count_nonzero(
            (p < SATURATED) | (p > 1.0 - SATURATED)))
        if self.metric is not None:
            self.metric.update(preds=preds, labels=labels)


# A saved epoch is called diverged (a warning, and "warning" in its
# run.json record) when its mean loss is above ln 2, what scoring every
# user 0.5 gives, and at least half its predictions are within SATURATED
# of 0 or 1: confidently wrong, as global_learning_rate 1000 trains
# (loss 3.9, every prediction at 0 or 1, AUC 0.50). A healthy run cannot
# meet it: its loss stays below ln 2 (the demo's first epoch: 0.42).
SATURATED = 1e-3
SATURATED_SHARE = 0.5


def train_step(model_class, model, optimizer, batch, config, metric_list=(),
               group=None, watch=None):
    """One meta step: meta-loss, backward, (the mean gradient of a
    collective run's ranks,) Adam. Returns this process's loss value; a
    non-finite loss raises :class:`NonFinite` before the step. ``watch``
    (a :class:`_Watch`) counts the step's predictions at 0 or 1."""
    import math
    if watch is None and metric_list:
        watch = _Watch()
    if watch is not None:
        watch.metric = metric_list[0] if metric_list else None
        watch.finite = True
    # no watch and no metric (the speed benchmark): the predictions stay
    # in Paddle, as a bare step has them
    loss, _, _ = model_class.train_forward(
        model, [watch] if watch is not None else [], batch, config)
    value = float(loss)
    if not math.isfinite(value) or (watch is not None and not watch.finite):
        raise NonFinite(value)
    optimizer.clear_grad()
    loss.backward()
    if group is not None:
        group.average_gradients(model.parameters())
    optimizer.step()
    return value


def diverged(config, epoch, batch_id, value, last):
    """The one line of a training that diverged."""
    import math
    what = ("the loss is NaN" if math.isnan(value) else "the loss is %s" %
            value if not math.isfinite(value) else
            "the predictions are NaN (loss %g)" % value)
    keys = ("hyper_parameters.optimizer.global_learning_rate",
            "hyper_parameters.local_lr")
    return ("training diverged: %s at epoch %d, meta-batch %d: lower %s; no "
            "checkpoint of this epoch was written%s" % (
                what, epoch, batch_id, " and/or ".join(
                    "%s (now %g)" % (k, config.get(k)) for k in keys),
                "; the last checkpoint saved before it is %s" % last
                if last else ""))


def looks_diverged(config, epoch, mean_loss, saturated_share, auc_text=""):
    """The warning of an epoch that trained to confidently wrong scores
    (see SATURATED), or None."""
    import math
    if not (mean_loss > math.log(2) and saturated_share >= SATURATED_SHARE):
        return None
    keys = ("hyper_parameters.optimizer.global_learning_rate",
            "hyper_parameters.local_lr")
    return ("training looks diverged at epoch %d: mean loss %.3f, above ln 2 "
            "= 0.693 (what scoring every user 0.5 gives), with %.0f %% of "
            "its predictions within %g of 0 or 1%s: the checkpoint is saved, "
            "but it likely ranks no better than chance; lower %s" % (
                epoch, mean_loss, 100.0 * saturated_share, SATURATED,
                auc_text, " and/or ".join("%s (now %g)" % (k, config.get(k))
                                          for k in keys)))


def metric_text(names, metrics):
    return "".join(", %s: %.6f" % (name, m.accumulate())
                   for name, m in zip(names, metrics))


def checkpoint_state():
    """What an interrupted training leaves."""
    last = runtime.STATUS.get("last_checkpoint")
    return "last complete checkpoint: %s (continue with -o " \
        "runner.resume=True)" % last if last else \
        "no checkpoint of this run was complete"


class Pace:
    """Where the training is and when it should end, for the per-interval
    line: ``epoch e/E, batch b/B (p %), ETA t``, epochs counted from 1 (the
    checkpoint folders and PaddleRec's ``epoch:`` field from 0), the ETA
    that of this process's remaining meta-batches (every epoch left, not
    the meta-validation after them) at its pace so far. ``per_epoch``:
    meta-batches per epoch (the reader's length; None when a reader has
    none: no total, no ETA)."""

    def __init__(self, epochs, first_epoch, per_epoch, clock=time.time):
        self.epochs, self.first = epochs, first_epoch
        self.per_epoch = per_epoch
        self.clock = clock
        self.start = None
        self.done = 0

    def started(self):
        """The first meta-batch is about to be drawn."""
        if self.start is None:
            self.start = self.clock()

    def step(self):
        self.done += 1

    def total(self):
        if self.per_epoch is None:
            return None
        return (self.epochs - self.first) * self.per_epoch

    def eta(self):
        from runkit import progress
        return progress.eta_text(self.clock() - self.start, self.done,
                                 self.total())

    def text(self, epoch, batch_id):
        """``epoch 1/2, batch 120/147 (82 %), ETA 35 s`` after meta-batch
        ``batch_id`` (from 0) of ``epoch`` (from 0)."""
        from runkit import progress
        where = "epoch %d/%d, batch %s" % (
            epoch + 1, self.epochs,
            progress.position(batch_id + 1, self.per_epoch))
        return where if self.total() is None else "%s, %s" % (
            where, self.eta())

    def global_step(self, epoch, batch_id):
        """Meta-batches since the run's start (resumes included): the
        step of the VisualDL curves."""
        if self.per_epoch is None:
            return self.done
        return epoch * self.per_epoch + batch_id + 1

    def last_step(self):
        """The step of the training's end."""
        return self.done if self.per_epoch is None else \
            self.epochs * self.per_epoch


def batches_per_epoch(dataset):
    """The reader's meta-batches per epoch, or None when it does not say."""
    from runkit.progress import counted
    return counted(dataset)


def train(config):
    """Meta-train as ``config`` says; the paths of the checkpoints saved.
    The steps, in order: set-up (:func:`start_model`: the model, its resume
    or warm start), the save folder (:func:`prepare_save_folder`: leftovers,
    room), the data (:func:`read_training_data`), the optimiser
    (:func:`start_optimizer`), one :func:`train_epoch` and
    :func:`save_epoch` per epoch, and :func:`meta_validate`."""
    from runkit import curves
    curves.require(config)   # runner.use_visual without VisualDL: one line
    threads = runtime.prepare(config)
    from runkit import distributed
    from dataio.atomic import folders_to_make, remove_if_empty
    runtime.STATUS.pop("last_checkpoint", None)   # this run's, once it has one
    runtime.STATUS["on_interrupt"] = checkpoint_state
    group = distributed.start(config)
    # a run that fails leaves no empty save folder it made itself
    made = folders_to_make(config.get("runner.model_save_path")) \
        if group.leader else []
    try:
        return _train(config, group, threads)
    except BaseException:
        remove_if_empty(made)
        raise


def _train(config, group, threads):
    import paddle  # noqa: F401  (after the thread set-up)
    log = runtime.logger
    if not group.leader:  # rank 0 speaks for the run; warnings still show
        log.setLevel("WARNING")
    log.info("device %s, %d CPU thread(s)", paddle.get_device(), threads)
    config = resumed_meta_training(config)
    # the model (and a warm start) first: a bad checkpoint fails before the
    # data are read
    model_class, model, run = start_model(config, group)
    from runkit import runs
    # the resolved config (a line of 2,000+ characters) is in run.json
    log.info("config: resolved and recorded in %s", os.path.join(
        config.get("runner.model_save_path"), runs.MANIFEST))
    prepare_save_folder(config, group, model)
    config, dataset = read_training_data(config, group, model, run)
    # every rank from the same weights (a warm start or resume included)
    group.same_weights(model)
    optimizer = start_optimizer(model_class, model, config, run, dataset)
    metrics = Metrics(model_class, config)
    saved = []
    if group.leader:
        run.start()
    epochs = config.get("runner.epochs")
    if run.start_epoch >= epochs:
        log.info("%s already holds epochs 0..%d of this run: nothing to do "
                 "(raise runner.epochs to train further)",
                 config.get("runner.model_save_path"), run.start_epoch - 1)
    from runkit.curves import Curves
    pace = Pace(epochs, run.start_epoch, batches_per_epoch(dataset))
    curves = Curves(config, write=group.leader)
    if curves.path:
        log.info("VisualDL curves: %s (visualdl --logdir %s)", curves.path,
                 os.path.dirname(curves.path))
        run.manifest["visual_log"] = curves.path
    try:
        for epoch in range(run.start_epoch, epochs):
            run.trained_now = True
            losses, warning, record = train_epoch(
                model_class, model, optimizer, dataset, config, group,
                metrics, epoch, pace, curves)
            if group.leader:
                saved.append(save_epoch(model, optimizer, dataset, run, epoch,
                                        stepped=bool(losses), warning=warning,
                                        metrics=record))
        if group.leader:
            meta_validate(model_class, model, dataset, run, config, curves,
                          pace.last_step())
    finally:
        curves.close()
    return saved


def resumed_meta_training(config):
    """A resumed run goes on with the batch and inner step it started with:
    its ``auto`` meta-training settings are the ones its run.json records
    (no data read; a new run chooses them in :func:`read_training_data`)."""
    from tuning import meta_settings
    from runkit import runs
    if not (config.get("runner.resume") and meta_settings.pending(config)):
        return config
    values, _ = meta_settings.from_run(config, runs.read_manifest(
        config.get("runner.model_save_path")))
    return config.with_overrides(values)


def settle_meta_training(config, group, files):
    """``config`` with its ``auto`` meta-training settings chosen from the
    rows of the training ``files`` (tuning/meta_settings.py), and the
    choice's record for run.json (None when nothing was auto). The rows are
    read through the stage cache, so the reader's own read that follows is
    a cache hit."""
    from tuning import meta_settings
    if not meta_settings.pending(config):
        return config, None
    from dataio.stage_files import read_stages
    config, record = meta_settings.resolve(config,
                                           len(read_stages(files, config)))
    if group.leader:
        runtime.logger.info("%s", meta_settings.announce(record))
    return config, record


def start_model(config, group):
    """The model and the run it belongs to (runkit/runs.py: a folder of
    another run is refused here), with a resumed run's weights and
    mapping or a warm start's weights."""
    from dygraph_model import DygraphModel
    from runkit import checkpoint, runs
    from dataio.atomic import check_writable
    save_dir = config.get("runner.model_save_path")
    if group.leader:
        check_writable(save_dir, "runner.model_save_path")
    model_class = DygraphModel()
    model = model_class.create_model(config)
    param_names = [p.name for p in model.parameters()]
    run = runs.Run(save_dir, config, param_names, processes=group.size,
                   writer=group.leader)
    init = config.get("runner.model_init_path")
    if run.resume_from:
        # the mapping too: the run goes on with the one it started with
        checkpoint.load_checkpoint(model, run.resume_from)
        runtime.STATUS["last_checkpoint"] = run.resume_from
    elif init:
        runs.verify_checkpoint(init)
        # weights only: the rare-id mapping is made from this run's rows
        checkpoint.load_into(model, checkpoint.load_state(init), init)
        runtime.logger.info(
            "warm start from %s (runner.model_init_path: its weights, a fresh "
            "optimiser; runner.resume continues a run)", init)
    return model_class, model, run


def prepare_save_folder(config, group, model):
    """Rank 0, once the run is not refused (a refusal touches nothing):
    remove an interrupted save's leftovers, and check there is room for a
    checkpoint before the data are read."""
    import numpy as np
    from runkit import checkpoint
    from dataio.atomic import check_room
    if not group.leader:
        return
    save_dir = config.get("runner.model_save_path")
    checkpoint.remove_leftovers(save_dir)
    # parameters, and Adam's two moments per parameter
    check_room(save_dir, 3 * 4 * sum(int(np.prod(p.shape))
                                     for p in model.parameters()),
               "runner.model_save_path")


def read_training_data(config, group, model, run):
    """The config with its meta-training settings chosen from the rows
    (:func:`settle_meta_training`, recorded in the run), and the training
    reader's dataset (this rank's share of a collective run); in a new run,
    also the rare-id mapping of its rows."""
    from dataio import rare_ids
    from dataio.stage_files import files_matching
    from dataio.vocabulary import check_train_data
    log = runtime.logger
    reader = runtime.load_module(config, "runner.train_reader_path")
    check_train_data(config)
    files = files_matching([config.get("runner.train_data_dir")], ".pkl")
    config, chosen = settle_meta_training(config, group, files)
    if chosen:
        run.settle(config, chosen)
    start = time.time()
    dataset = reader.RecDataset(files, config, share=(group.rank, group.size)) \
        if group.active else reader.RecDataset(files, config)
    log.info("read %d rows, %d campaigns from %s in %.2f s", len(dataset.stage),
             len(dataset.index.aids), ", ".join(files), time.time() - start)
    held = getattr(dataset, "validation", ())
    if len(held):
        log.info("meta-validation: %d campaign(s) held out of meta-training "
                 "(tuning.share %g): aid %s", len(held),
                 config.get("tuning.share"),
                 ", ".join(str(a) for a in dataset.index.aids[held]))
    if not run.resume_from:
        start = time.time()
        model.id_map = rare_ids.for_training(config, dataset.stage)
        if model.id_map is not None:
            log.info("rare ids (%s %d, counted over the training rows in "
                     "%.2f s): %s", rare_ids.KEY, model.id_map.min_count,
                     time.time() - start, model.id_map.describe())
    return config, dataset


def start_optimizer(model_class, model, config, run, dataset):
    """The meta-training optimiser; a resumed run's Adam moments and the
    reader's random state where it stopped."""
    from runkit import checkpoint
    optimizer = model_class.create_optimizer(model, config)
    if run.resume_from:
        opt_file = os.path.join(run.resume_from, "rec.pdopt")
        if os.path.isfile(opt_file):
            optimizer.set_state_dict(run.optimizer_state(
                checkpoint.read_pickle_data(opt_file),
                [p.name for p in model.parameters()]))
    if run.reader_state:
        dataset.rng.bit_generator.state = run.reader_state
    return optimizer


class Metrics:
    """The training AUC (``runner.use_auc``) and the text of a log line."""

    def __init__(self, model_class, config):
        self.metrics, self.names = model_class.create_metrics()
        if not config.get("runner.use_auc"):
            self.metrics, self.names = [], []

    def reset(self):
        for metric in self.metrics:
            metric.reset()

    def text(self):
        return metric_text(self.names, self.metrics)

    def values(self):
        """``[(name, value)]`` of the metrics so far (the AUC)."""
        return [(name, float(m.accumulate()))
                for name, m in zip(self.names, self.metrics)]


def train_epoch(model_class, model, optimizer, dataset, config, group,
                metrics, epoch, pace=None, curves=None):
    """One epoch of meta-steps, logged every ``runner.print_interval``
    meta-batches (PaddleRec's line, then where the training is and its
    ETA: :class:`Pace`) and at its end; this process's losses (none when
    the method takes no training step), the warning of an epoch that
    looks diverged (:func:`looks_diverged`; else None), and the epoch's
    record for run.json (mean loss, AUC, seconds, meta-batches; None
    without a step). ``curves`` (runkit/curves.py) gets the interval's
    loss and AUC."""
    from runkit.curves import Curves
    log = runtime.logger
    if pace is None:
        pace = Pace(epoch + 1, epoch, batches_per_epoch(dataset))
    curves = curves or Curves(config, write=False)
    interval = config.get("runner.print_interval")
    rows_per_batch = 2 * config.get("hyper_parameters.task_count") * \
        config.get("hyper_parameters.batch_size") * group.size
    model.train()
    metrics.reset()
    epoch_start = reader_start = interval_start = time.time()
    reader_cost = batch_cost = 0.0
    losses = []
    watch = _Watch()
    batches = dataset if model_class.takes_steps(config) else []
    pace.started()
    for batch_id, batch in enumerate(batches):
        reader_cost += time.time() - reader_start
        step_start = time.time()
        try:
            losses.append(train_step(model_class, model, optimizer, batch,
                                     config, metrics.metrics,
                                     group if group.active else None, watch))
        except NonFinite as exc:
            raise NonFinite(diverged(
                config, epoch, batch_id, exc.args[0],
                runtime.STATUS.get("last_checkpoint"))) from None
        batch_cost += time.time() - step_start
        pace.step()
        if (batch_id + 1) % interval == 0:
            n = interval
            # the loss over every rank's tasks; the AUC is rank 0's
            mean_loss = group.mean(sum(losses[-n:]) / n)
            log.info(
                "epoch: %d, batch_id: %d, loss: %.6f%s, avg_reader_cost: "
                "%.5f sec, avg_batch_cost: %.5f sec, ips: %.2f ins/s; %s",
                epoch, batch_id, mean_loss, metrics.text(), reader_cost / n,
                (reader_cost + batch_cost) / n,
                n * rows_per_batch / (time.time() - interval_start),
                pace.text(epoch, batch_id))
            step = pace.global_step(epoch, batch_id)
            curves.add("train/loss", step, mean_loss)
            for name, value in metrics.values():
                curves.add("train/" + name, step, value)
            reader_cost = batch_cost = 0.0
            interval_start = time.time()
        reader_start = time.time()
    auc = metrics.text()
    if not losses:
        log.info("epoch: %d: method %s, no training step", epoch,
                 config.get("hyper_parameters.method"))
        return losses, None, None
    mean_loss = group.mean(sum(losses) / len(losses))
    seconds = time.time() - epoch_start
    left = pace.epochs - epoch - 1
    log.info("epoch: %d done, mean loss: %.6f%s, epoch time: %.2f s; "
             "epoch %d/%d%s", epoch, mean_loss, auc, seconds, epoch + 1,
             pace.epochs, ", %s" % pace.eta() if left and pace.total()
             else "")
    record = {"mean_loss": round(mean_loss, 6), "seconds": round(seconds, 2),
              "meta_batches": len(losses)}
    record.update((name.lower(), round(value, 6))
                  for name, value in metrics.values())
    curves.add("epoch/loss", epoch, mean_loss)
    for name, value in metrics.values():
        curves.add("epoch/" + name, epoch, value)
    warning = looks_diverged(
        config, epoch, mean_loss,
        group.mean(watch.saturated / max(watch.predictions, 1)),
        " (training%s)" % auc.replace(",", "", 1) if auc else "")
    if warning:
        log.warning("%s", warning)
    return losses, warning, record


def save_epoch(model, optimizer, dataset, run, epoch, stepped, warning=None,
               metrics=None):
    """Rank 0: the epoch's checkpoint, with the reader's random state (a
    resume draws on from there), ``warning`` (a diverged epoch's) and
    ``metrics`` (its mean loss, AUC and time) in its run.json record; its
    path."""
    from runkit import checkpoint
    # no step taken (scratch): no optimiser state worth saving
    kept = optimizer if stepped else None
    path = run.save_epoch(
        epoch, lambda folder: checkpoint.write_checkpoint(model, kept, folder),
        dataset.rng.bit_generator.state, warning, metrics)
    runtime.logger.info("saved %s", path)
    runtime.STATUS["last_checkpoint"] = path
    return path


def meta_validate(model_class, model, dataset, run, config, curves=None,
                  step=0):
    """Choose the meta-test settings on the held-out training campaigns
    with the last epoch's weights, and record the choice in run.json
    (tuning/search.py) and, with ``curves``, VisualDL (at the training's
    last ``step``); once per run: a resume that trains nothing more
    validates only if the run has no choice yet."""
    from tuning import search
    log = runtime.logger
    held = getattr(dataset, "validation", ())
    if not len(held):
        if config.get("tuning.share") > 0:
            log.warning("meta-validation: no training campaign has %d rows "
                        "of each class to hold out%s; the meta-test settings "
                        "are the config's (or the paper's)",
                        search.holdout.MIN_PER_CLASS,
                        "" if hasattr(dataset, "validation") else
                        " (the reader %s holds none out)" %
                        config.get("runner.train_reader_path"))
        return
    if "meta_validation" in run.manifest and not run.trained_now:
        return
    model.eval()
    doc = search.validate(model_class, model, dataset.stage, dataset.index,
                          held, config)
    run.record_validation(doc)
    if curves is not None:
        curves.validation(doc, step)


def main(argv=None):
    return cli.run("MetaHeac meta-training", train, argv)


if __name__ == "__main__":
    sys.exit(main())
