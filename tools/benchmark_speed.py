"""Speed and memory of meta-training, sampling and meta-testing.

    python tools/benchmark_speed.py [--rows 445000] [--big-rows 4400000]
                                    [--out bench_data] [--smoke]

Generates (or reuses) data of the released format with the full data's
vocabularies (kw1: 263k ids), then prints a table: seconds per meta-batch at
batch 32 and 1024, first and second order (median and 10-90 % spread over
``--steps`` meta-batches after warm-up), reader milliseconds per meta-batch,
meta-test seconds per hot campaign (localised fine-tuning, and the plain
dense computation it must equal), first and cached load times and peak RSS.
It runs the project's own code paths: the reader, ``DygraphModel``, the
trainer's ``train_step`` and ``DygraphModel.fine_tune_and_score``.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    from runkit import runtime
except ImportError:   # a Python without the project: one line, exit 1
    import without_project  # noqa: F401  (tools/without_project.py)
    raise

from runkit import cli  # noqa: E402

from runkit.config import load_config  # noqa: E402


def full_max_idxs():
    """The full data's vocabularies, as config_big.yaml states them."""
    return load_config(os.path.join(ROOT, "config_big.yaml"))[
        "hyper_parameters.max_idxs"]


def make_data(folder, rows, campaigns, hot, smoke):
    """The benchmark's data (synthetic.datasets), with the full data's
    vocabularies; their spec."""
    from synthetic import datasets
    return datasets.make_sized_data(folder, rows, campaigns, hot,
                                    full_max_idxs(), smoke)


def quantiles(values):
    import numpy as np
    v = np.asarray(values)
    return float(np.median(v)), float(np.quantile(v, 0.1)), float(np.quantile(v, 0.9))


def forward_flops_per_row(config):
    """Matmul FLOPs of one row's forward pass (multiply-add = 2 FLOPs).

    The matmuls are nearly all the arithmetic; gathers, sums and
    elementwise ops are memory traffic, counted in the time, not here.
    """
    from dataio.schema import AD_FIELDS, DYNAMIC_FIELDS, STATIC_FIELDS
    dim = config.get("hyper_parameters.embed_dim")
    dims = config.get("hyper_parameters.mlp_dims")
    experts = config.get("hyper_parameters.num_expert")
    critics = config.get("hyper_parameters.num_output")
    user = (len(STATIC_FIELDS) + len(DYNAMIC_FIELDS)) * dim
    campaign = (len(AD_FIELDS) + 1) * dim
    macs = experts * sum(a * b for a, b in zip([user] + dims[:-1], dims))
    for outputs in (experts, critics):  # the two gates
        macs += campaign * dims[-1] + dims[-1] * outputs
    macs += dims[-1] * critics
    return 2 * macs


def meta_step_flops(config):
    """Matmul FLOPs of one meta-step. With F one forward pass over the
    T*B rows of a support or a query set, and a matmul's backward twice
    its forward (input and weight gradients): first order 6F (forward and
    backward of support and query); second order 12F: support forward F,
    inner gradient with graph 2F, query forward F, query backward 2F, and
    the backward through the inner gradient graph (4F, every backward
    matmul has two of its own) and through the support forward (2F)."""
    rows = config.get("hyper_parameters.task_count") * config.get(
        "hyper_parameters.batch_size")
    forward = forward_flops_per_row(config) * rows
    return (12 if config.get("hyper_parameters.meta_order") == 2 else 6) * forward


def matmul_gflops(config, repeats=30, warmup=10):
    """Paddle's measured CPU matmul throughput here, on the shape of the
    experts' first layer (the step's largest matmul), batch 1024; after a
    warm-up, as the first calls of a process run well below speed."""
    import numpy as np
    import paddle
    from dataio.schema import DYNAMIC_FIELDS, STATIC_FIELDS
    dim = config.get("hyper_parameters.embed_dim")
    user = (len(STATIC_FIELDS) + len(DYNAMIC_FIELDS)) * dim
    tasks = config.get("hyper_parameters.task_count")
    out = config.get("hyper_parameters.num_expert") * \
        config.get("hyper_parameters.mlp_dims")[0]
    a = paddle.randn([tasks, 1024, user])
    b = paddle.randn([tasks, user, out])
    times = []
    for i in range(repeats + warmup):
        start = time.perf_counter()
        paddle.matmul(b, a, transpose_x=True, transpose_y=True).numpy()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 2 * tasks * 1024 * user * out / float(np.median(times)) / 1e9


def bench_meta_batches(config, dataset, steps, warmup):
    from dygraph_model import DygraphModel
    from tools.trainer import train_step
    model_class = DygraphModel()
    model = model_class.create_model(config)
    optimizer = model_class.create_optimizer(model, config)
    dataset.batch_size = config.get("hyper_parameters.batch_size")
    times = []
    for i in range(warmup + steps):
        batch = dataset.meta_batch()
        start = time.perf_counter()
        train_step(model_class, model, optimizer, batch, config)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return quantiles(times)


def bench_reader(dataset, draws):
    times = []
    for _ in range(draws):
        start = time.perf_counter()
        dataset.meta_batch()
        times.append(time.perf_counter() - start)
    return quantiles([t * 1000 for t in times])


def bench_rare_ids(config, dataset, draws=30, min_count=2):
    """What ``hyper_parameters.min_id_count`` costs: counting the training
    rows (once per run) and ``localize`` of one meta-batch without and
    with the mapping (every meta-step and fine-tuning pays that lookup)."""
    from dataio import rare_ids
    from dataio.schema import IdMaxima
    from dygraph_model import localize
    start = time.perf_counter()
    counts = rare_ids.count_ids(dataset.stage, IdMaxima.from_config(
        config.get("hyper_parameters.max_idxs")))
    count_s = time.perf_counter() - start
    id_map = rare_ids.IdMap.from_counts(counts, min_count)
    times = {"off": [], "on": []}
    for _ in range(draws):
        x_spt, y_spt, x_qry, _ = dataset.meta_batch()
        for key, mapping in (("off", None), ("on", id_map)):
            start = time.perf_counter()
            localize(x_spt, x_qry, len(y_spt), mapping)
            times[key].append((time.perf_counter() - start) * 1000)
    return {"count_s": count_s, "min_count": min_count,
            "shared_ids": sum(id_map.shared()),
            "localize_off_ms": quantiles(times["off"]),
            "localize_on_ms": quantiles(times["on"])}


def bench_meta_test(config, folder, campaigns, plain_campaigns):
    import numpy as np
    import reader_test
    from dygraph_model import DygraphModel
    model_class = DygraphModel()
    model = model_class.create_model(config)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    data = list(reader_test.RecDataset([os.path.join(folder, "test_hot")], config))
    data = data[:campaigns]
    local_t, plain_t, diffs, sizes, flops = [], [], [], [], []
    per_row = forward_flops_per_row(config)
    passes = config.get("runner.infer_train_epoch")
    for i, campaign in enumerate(data):
        start = time.perf_counter()
        fast, _ = model_class.fine_tune_and_score(model, init, campaign,
                                                  config,
                                                  np.random.default_rng(i))
        local_t.append(time.perf_counter() - start)
        sizes.append((campaign.seeds, campaign.candidate_count()))
        # fine-tuning: forward and backward (3F) per seed and pass; scoring F
        flops.append(per_row * (3 * passes * campaign.seeds +
                                campaign.candidate_count()))
        if i < plain_campaigns:
            start = time.perf_counter()
            plain, _ = model_class.fine_tune_and_score(
                model, init, campaign, config, np.random.default_rng(i),
                localized=False)
            plain_t.append(time.perf_counter() - start)
            diffs.append(float(np.abs(fast - plain).max()))
    return {"localized_s": quantiles(local_t),
            "gflop_per_campaign": float(np.median(flops)) / 1e9,
            "achieved_gflops": float(np.median(
                [f / t for f, t in zip(flops, local_t)])) / 1e9,
            "plain_s": quantiles(plain_t) if plain_t else None,
            "max_abs_diff": max(diffs) if diffs else None,
            "campaigns": len(data), "seeds_candidates": sizes}


def model_and_first_hot_campaign(config, folder):
    """A fresh model, its initial weights and the first hot test campaign
    of ``folder``: what the expansion figures start from."""
    import reader_test
    from dygraph_model import DygraphModel
    model_class = DygraphModel()
    model = model_class.create_model(config)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    test = next(iter(reader_test.RecDataset(
        [os.path.join(folder, "test_hot")], config)))
    return model_class, model, init, test


def bench_expand(config, dataset, folder, seeds=400, candidates=100000,
                 repeats=3, table_users=1000000):
    """One cold campaign (``seeds`` labelled seeds of a hot test campaign)
    expanded against ``candidates`` users drawn from the training rows,
    through ``audience.expansion.expand``; and the scoring rate alone
    (candidates per second, the campaign's fine-tuned weights)."""
    import numpy as np
    from audience.expansion import expand
    from dataio.campaign import Campaign
    model_class, model, init, test = model_and_first_hot_campaign(config,
                                                                  folder)
    aid, x_spt, y_spt = test.aid, test.seed_x, test.seed_y
    rng = np.random.default_rng(0)
    pick = rng.choice(len(y_spt), size=min(seeds, len(y_spt)), replace=False)
    rows = rng.choice(len(dataset.stage), size=candidates, replace=True)
    campaign = Campaign(aid, [a[pick] for a in x_spt], np.arange(len(pick)),
                        y_spt[pick], dataset.stage.inputs(rows),
                        np.arange(10**6, 10**6 + candidates))
    expand_t, score_t = [], []
    for i in range(repeats):
        start = time.perf_counter()
        expand(config, [campaign], 0.05, model_class, model, init)
        expand_t.append(time.perf_counter() - start)
        tuned = model_class.fine_tune(
            model, init, campaign.seed_x, campaign.seed_y, campaign.cand_x,
            config, np.random.default_rng(i))
        start = time.perf_counter()
        model_class.score(model, tuned.cand_x, config, tuned.packed)
        score_t.append(time.perf_counter() - start)
    result = {"expand_s": quantiles(expand_t), "seeds": int(len(pick)),
              "candidates": candidates,
              "score_per_s": candidates / float(np.median(score_t))}
    result.update(bench_user_table(config, dataset, folder, model_class, model,
                                   init, campaign, users=table_users))
    return result


def bench_user_table(config, dataset, folder, model_class, model, init,
                     campaign, users, campaign_counts=(1, 10)):
    """Form 2: ``expand`` (tools/expand.py --users) against a user table of
    ``users`` users (training rows' user fields), for 1 and for 10
    campaigns (the campaign's seeds at other rows of the table, other
    ads): candidates per second, fine-tuning included and the scoring
    passes alone, and the time of 11M users (the scoring scaled to 11M,
    the fine-tuning as measured: it does not grow with the table)."""
    import numpy as np
    from audience import batch_scoring
    from audience.expansion import expand
    from audience.sources import TableCampaign
    from dataio import schema
    from dataio.user_table import UserTable, write_user_table
    path = os.path.join(folder, "users_%d" % users)
    if not os.path.isdir(path):
        rows = np.random.default_rng(1).choice(len(dataset.stage), users)
        x = dataset.stage.inputs(rows)
        write_user_table(path, np.arange(users) * 7 + 3,
                         np.concatenate(x[:3], axis=1))
    table = UserTable(path, schema.IdMaxima.from_config(
        config.get("hyper_parameters.max_idxs")))
    ad = campaign.cand_x[3][0]
    # other campaigns: other ad ids, within the vocabularies
    ad_rows = 1 + np.asarray(config.get("hyper_parameters.max_idxs")[2])
    out = {"table_users": users}
    for count in campaign_counts:
        campaigns = [TableCampaign(
            campaign.aid + k, np.arange(len(campaign.seed_uid)) * 11 + k,
            campaign.seed_y, (ad + k) % ad_rows) for k in range(count)]
        passes = []
        cpu = cpu_seconds()
        start = time.perf_counter()
        with timed(batch_scoring, "score_jobs", passes):
            results, _ = expand(config, campaigns, 100000, model_class,
                                model, init, table=table)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu
        scored = sum(r.summary["candidates"] for r in results)
        scoring = sum(passes)
        out["table_%d" % count] = {
            "campaigns": count, "seconds": seconds, "per_s": scored / seconds,
            # on a shared machine: the process's own CPU seconds (threads
            # summed), to read the wall time against
            "cpu_s": cpu,
            "scoring_s": scoring, "scoring_per_s": scored / scoring,
            "extrapolated_11m_min": (seconds - scoring +
                                     scoring * 11e6 / users) / 60}
    one = out["table_%d" % campaign_counts[0]]
    out["table_expand_s"], out["table_per_s"] = one["seconds"], one["per_s"]
    return out


def load_child():
    """The child process of :func:`load_in_child`: load (and train on) the
    stage file its argument names; prints its figures as one JSON line."""
    job = json.loads(sys.argv[1])
    from tuning import choice
    # as main's config: a batch the overrides leave auto is the fallback's
    config, _ = choice.resolved(load_config(job["config"], job["overrides"]),
                                None, announce=False)
    runtime.prepare(config)  # threads and CPU fast path, as a training run
    import reader_train
    from dataio import stage_cache
    from dygraph_model import DygraphModel
    from tools.trainer import train_step
    hit = stage_cache.load(config["runner.cache_dir"], job["file"]) is not None
    start = time.time()
    ds = reader_train.RecDataset([job["file"]], config)
    load_s = time.time() - start
    times = []
    for _ in range(50):
        t = time.perf_counter()
        ds.meta_batch()
        times.append(time.perf_counter() - t)
    steps_s = None
    if job["train_steps"]:
        mc = DygraphModel()
        model = mc.create_model(config)
        opt = mc.create_optimizer(model, config)
        t = time.time()
        for _ in range(job["train_steps"]):
            train_step(mc, model, opt, ds.meta_batch(), config)
        steps_s = time.time() - t
    times.sort()
    print(json.dumps({"rows": len(ds.stage), "load_s": load_s,
                      "cache_hit": hit,
                      "sample_ms_median": 1000 * times[len(times) // 2],
                      "train_steps_s": steps_s,
                      "peak_rss_gib": peak_rss_gib()}))


def peak_rss_gib():
    """This process's peak RSS. ``ru_maxrss`` of a child process also counts
    the process it was forked from; ``VmHWM`` is this program's own."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def load_in_child(file, overrides, train_steps=0):
    """Load (and optionally train on) a stage file in a fresh process, so
    its peak RSS is that run's alone."""
    job = json.dumps({"config": os.path.join(ROOT, "config.yaml"),
                      "overrides": overrides, "file": file,
                      "train_steps": train_steps})
    out = subprocess.run(
        [sys.executable, "-c", "from tools.benchmark_speed import load_child; "
         "load_child()", job], capture_output=True, text=True,
        env=dict(os.environ), cwd=ROOT)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# the command line: flag, type (bool: a switch), default, help
OPTIONS = [
    ("--rows", int, 445000, None),
    ("--campaigns", int, 86, None),
    ("--hot", int, 10, None),
    ("--big-rows", int, 0, "also time loading/sampling/training memory on "
     "a file of this many rows (e.g. 4400000)"),
    ("--steps", int, 10, None),
    ("--warmup", int, 3, None),
    ("--out", str, lambda: os.path.join(ROOT, "bench_data"), None),
    ("--smoke", bool, False, "tiny data and vocabularies, batch 64 instead "
     "of 1024, 2 steps: checks that the benchmark runs, measures nothing"),
    ("--load-only", bool, False, "only the --big-rows loading, sampling and "
     "memory figures"),
    ("--rare-ids-only", bool, False, "only the cost of "
     "hyper_parameters.min_id_count (counting, and localize with the "
     "mapping)"),
    ("--table-only", bool, False, "only the form-2 expansion (user table of "
     "--table-users users, 1 and 10 campaigns)"),
    ("--table-users", int, 1000000, None),
    ("--seed-blend", float, 0.0, "runner.infer_seed_blend of the timed "
     "meta-test and expansion (default 0: the paper's, as earlier rounds "
     "timed; 0.5: the shipped blend, its regression scored too)"),
    ("--json", str, None, "write the figures here"),
]


def main(argv=None):
    parser = cli.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, kind, default, text in OPTIONS:
        if kind is bool:
            parser.add_argument(flag, action="store_true", help=text)
        else:
            parser.add_argument(flag, type=kind, help=text,
                                default=default() if callable(default)
                                else default)
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.campaigns, args.hot = 3000, 12, 2
        args.steps, args.warmup = 2, 1
        args.table_users = min(args.table_users, 5000)

    if args.load_only:
        results = {"big": bench_big(args)}
        print_big(results["big"])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return results
    folder = os.path.join(args.out, "smoke" if args.smoke else "r%d" % args.rows)
    spec = make_data(folder, args.rows, args.campaigns, args.hot, args.smoke)
    overrides = ["hyper_parameters.max_idxs=%s" % json.dumps(spec.max_idxs()),
                 "runner.train_data_dir=%s" % os.path.join(folder, "train"),
                 "hyper_parameters.embed_dim=64", "hyper_parameters.mlp_dims=[64,64]",
                 "hyper_parameters.num_expert=8", "hyper_parameters.num_output=5",
                 "hyper_parameters.task_count=5", "tuning.share=0",
                 "expand.diagnose=False",
                 "runner.infer_seed_blend=%g" % args.seed_blend]
    config = load_config(os.path.join(ROOT, "config.yaml"), overrides)
    # timed as the speed table's figures are: the paper's meta-test (Adam
    # 0.001 x 2 passes, no seed blend), every training campaign trained on,
    # and expansion without the seed diagnostics (their cost is measured
    # apart: tools/measure_diagnostics.py --cost)
    from tuning import choice
    config, _ = choice.resolved(config, None, announce=False)
    threads = runtime.prepare(config)
    import paddle
    import reader_train
    if args.rare_ids_only:
        train_file = os.path.join(folder, "train", "train_stage1.pkl")
        dataset = reader_train.RecDataset([train_file], config)
        dataset.batch_size = 64 if args.smoke else 1024
        results = {"cpu": runtime.cpu_model(), "threads": threads,
                   "rows": len(dataset.stage),
                   "rare_ids": bench_rare_ids(config, dataset)}
        print(json.dumps(results, indent=1))
        return results
    if args.table_only:
        results = {"cpu": runtime.cpu_model(), "threads": threads,
                   "load_average": os.getloadavg(),
                   "expand": bench_table_only(config, folder, args)}
        print("%s, %d thread(s), load average %.2f %.2f %.2f" % (
            results["cpu"], threads, *results["load_average"]))
        print_table_rows(results["expand"])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return results
    results = {"device": paddle.get_device(), "threads": threads,
               "cpu": runtime.cpu_model(), "rows": None, "meta_batch": {},
               "meta_batch_gflop": {},
               "matmul_gflops": matmul_gflops(config)}

    train_file = os.path.join(folder, "train", "train_stage1.pkl")
    # a fresh cache folder, so that the first load really converts
    fresh = ["runner.cache_dir=%s" % tempfile.mkdtemp(prefix="cache-", dir=args.out)]
    results["load_first"] = load_in_child(train_file, overrides + fresh)
    results["load_cached"] = load_in_child(train_file, overrides + fresh)
    dataset = reader_train.RecDataset([train_file], config)
    results["rows"] = len(dataset.stage)
    big_batch = 64 if args.smoke else 1024
    base = config

    def timed_as(batch_size, order, lazy):
        return base.with_overrides({
            "hyper_parameters.batch_size": batch_size,
            "hyper_parameters.meta_order": order,
            "hyper_parameters.optimizer.lazy_mode": lazy})
    for batch_size, order, lazy in ((32, 1, False), (32, 2, False),
                                    (32, 2, True), (big_batch, 1, False),
                                    (big_batch, 2, False), (big_batch, 2, True)):
        config = timed_as(batch_size, order, lazy)
        key = "b%d_o%d%s" % (batch_size, order, "_lazy" if lazy else "")
        results["meta_batch"][key] = bench_meta_batches(
            config, dataset, args.steps, args.warmup)
        results["meta_batch_gflop"][key] = meta_step_flops(config) / 1e9
        print("meta-batch %s: %.3f s" % (key, results["meta_batch"][key][0]),
              flush=True)
    config = timed_as(big_batch, 2, False)
    dataset.batch_size = big_batch
    results["reader_ms"] = bench_reader(dataset, 50)
    results["rare_ids"] = bench_rare_ids(config, dataset)
    results["meta_test"] = bench_meta_test(config, folder, args.hot,
                                           1 if args.smoke else 2)
    results["expand"] = bench_expand(
        config, dataset, folder, candidates=2000 if args.smoke else 100000,
        repeats=1 if args.smoke else 3,
        table_users=5000 if args.smoke else 1000000)
    results["peak_rss_gib"] = peak_rss_gib()
    if args.big_rows:
        results["big"] = bench_big(args)
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class timed:
    """Collects the seconds of every call of ``module.name`` meanwhile."""

    def __init__(self, module, name, seconds):
        self.module, self.name, self.seconds = module, name, seconds

    def __enter__(self):
        self.original = getattr(self.module, self.name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds.append(time.perf_counter() - start)
        setattr(self.module, self.name, wrapper)

    def __exit__(self, *exc):
        setattr(self.module, self.name, self.original)


def bench_table_only(config, folder, args):
    """The form-2 figures alone, on the first hot campaign's seeds (as
    ``bench_expand``)."""
    import numpy as np
    import reader_train
    from dataio.campaign import Campaign
    dataset = reader_train.RecDataset(
        [os.path.join(folder, "train", "train_stage1.pkl")], config)
    model_class, model, init, test = model_and_first_hot_campaign(config,
                                                                  folder)
    aid, x_spt, y_spt = test.aid, test.seed_x, test.seed_y
    pick = np.random.default_rng(0).choice(len(y_spt), min(400, len(y_spt)),
                                           replace=False)
    campaign = Campaign(aid, [a[pick] for a in x_spt], np.arange(len(pick)),
                        y_spt[pick], [a[:1] for a in x_spt], np.arange(1))
    return bench_user_table(config, dataset, folder, model_class, model,
                            init, campaign, users=args.table_users)


def bench_big(args):
    """First and cached load of a --big-rows file, sampling, and the peak
    RSS of a process that loads it (cached) and takes 5 meta-steps."""
    big = os.path.join(args.out, "r%d" % args.big_rows)
    spec = make_data(big, args.big_rows, args.campaigns, 1, args.smoke)
    overrides = ["hyper_parameters.max_idxs=%s" % json.dumps(spec.max_idxs()),
                 "runner.train_data_dir=%s" % os.path.join(big, "train"),
                 "hyper_parameters.batch_size=1024"]
    big_file = os.path.join(big, "train", "train_stage1.pkl")
    for old in os.listdir(big):
        if old.startswith("cache-"):
            shutil.rmtree(os.path.join(big, old))
    fresh = ["runner.cache_dir=%s" % tempfile.mkdtemp(prefix="cache-", dir=big)]
    return {"file_gib": os.path.getsize(big_file) / 2**30,
            "first": load_in_child(big_file, overrides + fresh),
            "cached": load_in_child(big_file, overrides + fresh, train_steps=5)}


def print_big(b):
    rows = b["cached"]["rows"]
    print("| %d rows (%.2f GiB pickle): first load, pickle → checked arrays, cache written | %.1f s, peak RSS %.2f GiB |" %
          (rows, b["file_gib"], b["first"]["load_s"], b["first"]["peak_rss_gib"]))
    print("| %d rows: cached load | %.2f s |" % (rows, b["cached"]["load_s"]))
    print("| %d rows: reader, one meta-batch (5 × 2 × 1024 rows) | %.2f ms |" %
          (rows, b["cached"]["sample_ms_median"]))
    print("| %d rows: peak RSS, cached load + 5 meta-steps at batch 1024 | %.2f GiB |" %
          (rows, b["cached"]["peak_rss_gib"]))


def print_table_rows(ex):
    for key in sorted(k for k in ex if k.startswith("table_") and
                      isinstance(ex[k], dict)):
        t = ex[key]
        print("| expand %d campaign(s) against a user table of %d users "
              "(form 2, one pass) | %.1f s, %.0f candidates/s; scoring "
              "alone %.1f s, %.0f candidates/s; 11M users: %.1f min; "
              "%.0f CPU s | |" % (
                  t["campaigns"], ex["table_users"], t["seconds"],
                  t["per_s"], t["scoring_s"], t["scoring_per_s"],
                  t["extrapolated_11m_min"], t.get("cpu_s", float("nan"))))


def print_table(r):
    def spread(q, scale=1.0, digits=3):
        return "%.*f (%.*f–%.*f)" % (digits, q[0] * scale, digits, q[1] * scale,
                                      digits, q[2] * scale)
    peak = r["matmul_gflops"]

    def share(gflop, seconds):
        return "%.1f GFLOP, %.0f GFLOP/s, %.0f %%" % (
            gflop, gflop / seconds, 100 * gflop / seconds / peak)
    print("\n%s, %s, %d thread(s), %d train rows, default architecture "
          "(embed 64, experts 8, critics 5, task_count 5); Paddle matmul "
          "measured at %.1f GFLOP/s\n" %
          (r["cpu"], r["device"], r["threads"], r["rows"], peak))
    print("| measure | median (10–90 %) | matmul work, rate, share of the "
          "measured matmul rate |\n| --- | --- | --- |")
    for key, q in r["meta_batch"].items():
        parts = key.split("_")
        print("| meta-batch, batch_size %s, order %s%s | %s s | %s |" % (
            parts[0][1:], parts[1][1:],
            ", Adam lazy_mode (approximate)" if "lazy" in parts else "",
            spread(q), share(r["meta_batch_gflop"][key], q[0])))
    print("| reader, one meta-batch (5 × 2 × 1024 rows) | %s ms | |" %
          spread(r["reader_ms"], digits=2))
    ri = r["rare_ids"]
    print("| localize one meta-batch (5 × 2 × 1024 rows), every id its own "
          "row | %s ms | |" % spread(ri["localize_off_ms"], digits=2))
    print("| same, rare ids mapped (min_id_count %d: %d ids share OOV rows) "
          "| %s ms | |" % (ri["min_count"], ri["shared_ids"],
                           spread(ri["localize_on_ms"], digits=2)))
    print("| counting the ids of the %d training rows (once per run) | %.2f "
          "s | |" % (r["rows"], ri["count_s"]))
    mt = r["meta_test"]
    print("| meta-test per hot campaign, localised | %s s | %.1f GFLOP, "
          "%.0f GFLOP/s, %.0f %% |" % (
              spread(mt["localized_s"]), mt["gflop_per_campaign"],
              mt["achieved_gflops"], 100 * mt["achieved_gflops"] / peak))
    if mt["plain_s"]:
        print("| meta-test per hot campaign, plain dense | %s s | |" %
              spread(mt["plain_s"]))
        print("| localised vs plain scores, max abs difference | %.2g | |" %
              mt["max_abs_diff"])
    ex = r["expand"]
    print("| expand one campaign (%d seeds) against %d candidates | %s s | |"
          % (ex["seeds"], ex["candidates"], spread(ex["expand_s"])))
    print("| scoring rate, fine-tuned campaign model | %.0f candidates/s | |"
          % ex["score_per_s"])
    print_table_rows(ex)
    print("| first load (pickle → arrays, cache written) | %.1f s, peak RSS "
          "%.2f GiB | |" % (r["load_first"]["load_s"],
                            r["load_first"]["peak_rss_gib"]))
    print("| cached load | %.2f s, peak RSS %.2f GiB | |" %
          (r["load_cached"]["load_s"], r["load_cached"]["peak_rss_gib"]))
    print("| peak RSS of this benchmark process | %.2f GiB | |" %
          r["peak_rss_gib"])
    if "big" in r:
        print_big(r["big"])
    print("\nmeta-test campaign sizes (seeds, candidates): %s" %
          mt["seeds_candidates"][:10])


if __name__ == "__main__":
    runtime.setup_logging()
    main()
