"""Meta-train MetaHeac: ``python tools/trainer.py -m config.yaml [-o k=v]``."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runkit import cli  # noqa: E402
from runkit import runtime  # noqa: E402


def train_step(model_class, model, optimizer, batch, config, metric_list=()):
    """One meta step: meta-loss, backward, Adam. Returns the loss value."""
    loss, _, _ = model_class.train_forward(model, list(metric_list), batch,
                                           config)
    optimizer.clear_grad()
    loss.backward()
    optimizer.step()
    return float(loss)


def metric_text(names, metrics):
    return "".join(", %s: %.6f" % (name, m.accumulate())
                   for name, m in zip(names, metrics))


def train(config):
    threads = runtime.prepare(config)
    import paddle  # noqa: F401  (after the thread set-up)
    from dygraph_model import DygraphModel
    import numpy as np
    from dataio.stage_files import files_matching
    from runkit import checkpoint
    from runkit.atomic import check_room, check_writable
    log = runtime.logger

    log.info("config %s", {k: v for k, v in config.items()
                           if not k.startswith("hyper_parameters.max_idxs")})
    log.info("device %s, %d CPU thread(s)", paddle.get_device(), threads)
    save_dir = config.get("runner.model_save_path")
    check_writable(save_dir, "runner.model_save_path")
    checkpoint.remove_leftovers(save_dir)
    # the model (and a warm start) first: a bad checkpoint fails before the
    # data are read
    model_class = DygraphModel()
    model = model_class.create_model(config)
    init = config.get("runner.model_init_path")
    if init:
        checkpoint.load_into(model, checkpoint.load_state(init), init)
        log.info("initialised from %s", init)
    reader = runtime.load_module(config, "runner.train_reader_path")
    files = files_matching([config.get("runner.train_data_dir")], ".pkl")
    if not files:
        raise FileNotFoundError("no .pkl file in runner.train_data_dir %s" %
                                config.get("runner.train_data_dir"))
    start = time.time()
    dataset = reader.RecDataset(files, config)
    log.info("read %d rows, %d campaigns from %s in %.2f s", len(dataset.stage),
             len(dataset.index.aids), ", ".join(files), time.time() - start)

    # parameters, and Adam's two moments per parameter
    check_room(save_dir, 3 * 4 * sum(int(np.prod(p.shape))
                                     for p in model.parameters()),
               "runner.model_save_path")
    optimizer = model_class.create_optimizer(model, config)
    metric_list, metric_names = model_class.create_metrics()
    if not config.get("runner.use_auc"):
        metric_list, metric_names = [], []
    interval = config.get("runner.print_interval")
    rows_per_batch = 2 * config.get("hyper_parameters.task_count") * \
        config.get("hyper_parameters.batch_size")
    saved = []
    for epoch in range(config.get("runner.epochs")):
        model.train()
        for metric in metric_list:
            metric.reset()
        epoch_start = reader_start = interval_start = time.time()
        reader_cost = batch_cost = 0.0
        losses = []
        # the "scratch" baseline is not trained: its checkpoints hold the
        # seeded initial weights that meta-testing fine-tunes from
        batches = [] if config.get("hyper_parameters.method") == "scratch" \
            else dataset
        for batch_id, batch in enumerate(batches):
            reader_cost += time.time() - reader_start
            step_start = time.time()
            losses.append(train_step(model_class, model, optimizer, batch,
                                     config, metric_list))
            batch_cost += time.time() - step_start
            if (batch_id + 1) % interval == 0:
                n = interval
                auc = metric_text(metric_names, metric_list)
                log.info(
                    "epoch: %d, batch_id: %d, loss: %.6f%s, avg_reader_cost: "
                    "%.5f sec, avg_batch_cost: %.5f sec, ips: %.2f ins/s",
                    epoch, batch_id, sum(losses[-n:]) / n, auc, reader_cost / n,
                    (reader_cost + batch_cost) / n,
                    n * rows_per_batch / (time.time() - interval_start))
                reader_cost = batch_cost = 0.0
                interval_start = time.time()
            reader_start = time.time()
        auc = metric_text(metric_names, metric_list)
        if not losses:
            log.info("epoch: %d: method scratch, no training step", epoch)
        else:
            log.info("epoch: %d done, mean loss: %.6f%s, epoch time: %.2f s",
                     epoch, sum(losses) / len(losses), auc,
                     time.time() - epoch_start)
        # no step taken (scratch): no optimiser state worth saving
        path = checkpoint.save_checkpoint(model, optimizer if losses else None,
                                          save_dir, epoch)
        log.info("saved %s", path)
        runtime.STATUS["last_checkpoint"] = path
        saved.append(path)
    return saved


def main(argv=None):
    return cli.run("MetaHeac meta-training", train, argv)


if __name__ == "__main__":
    sys.exit(main())
