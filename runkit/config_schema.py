"""Every config key, declared once: its type, default, allowed values, what
resolves ``auto``, the tools that read it and one line of help.

``runkit.config`` derives from this declaration everything it checks (the
types, the ranges, the choices, the near names of a typo, the keys
PaddleRec has and this project refuses) and the defaults it fills; the
readme's table of keys is generated from it (``tools/key_table.py``) and
the suite fails when the two disagree. The paper's values are not here:
they are a profile, ``config_big.yaml`` (``runkit.config.paper_profile``).

Only the standard library is imported: the command line reads the names
before the project's requirements are known to be there (runkit/cli.py).
"""
from dataclasses import dataclass

# the tools that read keys (tools/<name>.py)
TRAINER, META_TEST, EXPAND, EXPORT = "trainer", "infer_meta", "expand", \
    "export"
EVERY_TOOL = (TRAINER, META_TEST, EXPAND, EXPORT)
# the tools that load a checkpoint and fine-tune it on a campaign's seeds
LOADERS = (META_TEST, EXPAND, EXPORT)
NUMBER = (int, float)


@dataclass(frozen=True)
class Key:
    """One config key.

    ``types``: what a value set in a file or by ``-o`` may be (besides
    ``auto``, when ``auto`` says what resolves it). ``default``: the value
    of a config that leaves the key out (None: none). ``low`` / ``high``:
    the bounds of a number, each inclusive or not; ``choices``: the only
    values. A list key with ``each`` holds values of those types within
    the bounds; with ``grid_of`` it lists values of that key, checked by
    its declaration. ``path``: resolved against the config file's folder.
    ``shown``: the readme's default when the value alone does not say it.
    ``expects``: how an error names a set value that is not ``auto``.
    """
    name: str
    types: tuple
    default: object
    tools: tuple
    help: str
    low: object = None
    low_inclusive: bool = True
    high: object = None
    high_inclusive: bool = False
    choices: tuple = ()
    auto: str = ""
    each: tuple = ()
    grid_of: str = ""
    required: bool = False
    path: bool = False
    shown: str = ""
    expects: str = ""

    @property
    def section(self):
        return self.name.split(".")[0]

    @property
    def leaf(self):
        return self.name.split(".")[-1]

    def accepts_auto(self):
        return bool(self.auto)

    def expected(self):
        """What a value other than ``auto`` must be, in words."""
        if self.expects:
            return self.expects
        if set(self.types) == set(NUMBER):
            return "a number"
        return {int: "an integer", list: "a list", str: "a text",
                bool: "True or False"}.get(self.types[0], type_name(self))


def _key(name, types, default, tools, help, **rest):
    types = types if isinstance(types, tuple) else (types, )
    tools = tools if isinstance(tools, tuple) else (tools, )
    return Key(name, types, default, tools, help, **rest)


_META_VALIDATED = ("the run's meta-validated choice (tuning.choice.resolved), "
                   "else the paper's value (config_big.yaml)")

_BY_ROWS = ("the training rows, by the rule of tuning/meta_settings.py (the "
            "trainer); the checkpoint's run (the tools that load one)")

KEYS = tuple(_key(*spec[:5], **spec[5]) for spec in (
    ("runner.train_data_dir", str, None, EVERY_TOOL,
     "folder of training stage files (`*.pkl`); every tool reads it for "
     "`max_idxs: auto`",
     dict(required=True, path=True)),
    ("runner.train_reader_path", str, "reader_train", TRAINER,
     "the training reader module, importlib format", {}),
    ("runner.infer_reader_path", str, "reader_test", META_TEST,
     "the test reader module, importlib format", {}),
    ("runner.test_data_dir", (str, type(None)), None, META_TEST,
     "the hot test campaigns' folder", dict(path=True)),
    ("runner.test_cold_data_dir", (str, type(None)), None, META_TEST,
     "the cold test campaigns' folder", dict(path=True)),
    ("runner.use_gpu", bool, False, EVERY_TOOL,
     "run on a GPU; falls back to CPU with a warning when Paddle has no "
     "CUDA", {}),
    ("runner.use_auc", bool, True, TRAINER,
     "track the query-set AUC while training", {}),
    ("runner.epochs", int, 1, TRAINER,
     "meta-training epochs; an epoch is ceil(rows / batch_size) "
     "meta-batches", dict(low=1)),
    ("runner.print_interval", int, 10, TRAINER,
     "log every N meta-batches (PaddleRec's line: loss, AUC, reader and "
     "batch cost, ins/s; then `epoch e/E, batch b/B (p %)`, counted from 1, "
     "and the ETA of the remaining meta-training at its pace so far)",
     dict(low=1)),
    ("runner.model_save_path", str, "output_model", TRAINER,
     "checkpoints go to `<path>/<epoch>/rec.pdparams` and `rec.pdopt`",
     dict(path=True)),
    ("runner.model_init_path", (str, type(None)), None, TRAINER,
     "warm start: meta-training starts from this checkpoint's weights, with "
     "a fresh optimiser, at epoch 0 (to continue a run, `runner.resume`)",
     dict(path=True)),
    ("runner.infer_load_path", str, "output_model", LOADERS,
     "where meta-testing finds the checkpoints", dict(path=True)),
    ("runner.infer_start_epoch", int, 0, META_TEST,
     "the first checkpoint meta-tested: epochs `infer_start_epoch` .. "
     "`infer_end_epoch`−1", dict(low=0)),
    ("runner.infer_end_epoch", int, 1, LOADERS,
     "one past the last checkpoint meta-tested; `expand.checkpoint` "
     "defaults to that last one", dict(low=1)),
    ("runner.infer_train_epoch", int, "auto", LOADERS,
     "fine-tuning passes over a test campaign's seed set; `auto`: the run's "
     "meta-validated choice ([docs/method.md](docs/method.md#meta-validation)"
     "), else the paper's",
     dict(low=0, auto=_META_VALIDATED)),
    ("runner.infer_holdout", NUMBER, 0.0, EVERY_TOOL,
     "share of a campaign's seeds (each class) held out to keep the pass "
     "count, 0 included, with the lowest held-out loss (reported per "
     "campaign as `passes_kept`); 0 = off. Measured not to help "
     "([docs/quality.md](docs/quality.md#the-defaults-and-the-measurement-"
     "behind-each))", dict(low=0, high=1)),
    ("runner.infer_min_positives", int, 1, EVERY_TOOL,
     "a campaign with fewer positive seeds is scored by the meta-trained "
     "weights, not fine-tuned (logged per campaign)", dict(low=0)),
    ("runner.infer_seed_blend", NUMBER, "auto", LOADERS,
     "weight of a logistic regression on the campaign's own seeds in a blend "
     "of standardised logits with the fine-tuned network "
     "(`adaptation/blend.py`: constants from the campaign's training set, so "
     "each user is scored alone and the exported model blends too); 0 = the "
     "network alone; `auto`: meta-validated, else the paper's. The blended "
     "score orders users; it is not a probability",
     dict(low=0, high=1, high_inclusive=True, auto=_META_VALIDATED)),
    ("runner.infer_seed_c", NUMBER, 0.01, EVERY_TOOL,
     "that regression's inverse regularisation (scikit-learn's `C`)",
     dict(low=0, low_inclusive=False)),
    ("runner.infer_result_path", (str, type(None)), None, META_TEST,
     "the meta-test results file",
     dict(path=True, shown="`<infer_load_path>/infer_result.json`")),
    ("runner.seed", int, 2021, EVERY_TOOL,
     "seeds numpy, paddle, the task and row sampling, and the fine-tuning "
     "shuffles", dict(low=0, high=2 ** 32)),   # numpy's, Paddle's: 32 bits
    ("runner.num_threads", int, 0, EVERY_TOOL,
     "CPU threads; 0 = every core the process may use (or `OMP_NUM_THREADS` "
     "when set); figures depend on it (float sums): set it to reproduce one "
     "elsewhere", dict(low=0)),
    ("runner.cache_dir", (str, type(None)), None, EVERY_TOOL,
     "where the columnar cache is kept",
     dict(path=True, shown="`.cache/` beside each data file")),
    ("runner.use_cache", bool, True, EVERY_TOOL,
     "read stage files through the columnar cache", {}),
    ("runner.save_scores", bool, False, META_TEST,
     "`infer_meta.py` also writes every candidate's score (`<result "
     "stem>.scores/<epoch>/<set>/<aid>/scores.csv` beside the result file, "
     "e.g. `infer_result.scores/`; its `summary.json` names the result file "
     "it belongs to)", {}),
    ("runner.resume", bool, False, TRAINER,
     "continue the run in `model_save_path` from its last complete epoch, "
     "exactly (see [docs/runs.md](docs/runs.md))", {}),
    ("runner.overwrite", bool, False, (TRAINER, META_TEST),
     "replace the run in `model_save_path`: only the epoch folders, `.prev` "
     "copies and `run.json` its `run.json` lists are removed, once the new "
     "first epoch is saved ([docs/runs.md](docs/runs.md)); for "
     "`infer_meta.py`, replace its result file and that file's scores "
     "folder", {}),
    ("runner.use_fleet", bool, False, (TRAINER, META_TEST, EXPAND),
     "run as one process of a collective run started by `python -m "
     "paddle.distributed.launch` (see *Scaling out*); a launch without it is "
     "refused", {}),
    ("runner.use_visual", bool, False, TRAINER,
     "write VisualDL training curves, as PaddleRec does: `train/loss` and "
     "`train/AUC` every `print_interval` meta-batches, `epoch/loss` and "
     "`epoch/AUC`, the meta-validation's grid and choice "
     "(`meta_validation/*`); needs `pip install visualdl` (optional, not in "
     "`requirements.txt`; without it the trainer stops in one line saying "
     "so); view with `visualdl --logdir visualDL_log`", {}),
    ("runner.visual_log_path", str, "visualDL_log", TRAINER,
     "their folder (PaddleRec's); the trainer writes `<path>/train`",
     dict(path=True)),
    ("hyper_parameters.max_idxs", list, "auto", EVERY_TOOL,
     "inclusive id maxima, `[[7 static], [7 multi-id], [6 ad]]`, or `auto` "
     "(see *Data format*)",
     dict(auto="max_idxs.yaml beside the training data, else the id ranges "
               "the cache recorded (dataio.vocabulary.find_max_idxs)",
          expects="a list of three lists")),
    ("hyper_parameters.embed_dim", int, 64, EVERY_TOOL,
     "embedding size", dict(low=1)),
    ("hyper_parameters.mlp_dims", list, [64, 64], EVERY_TOOL,
     "layers of each expert", dict(each=(int, ), low=1)),
    ("hyper_parameters.num_expert", int, 8, EVERY_TOOL,
     "experts", dict(low=1)),
    ("hyper_parameters.num_output", int, 5, EVERY_TOOL,
     "critics", dict(low=1)),
    ("hyper_parameters.init", str, "torch", EVERY_TOOL,
     "the weights' start: `torch`, the paper's PyTorch code (embeddings "
     "N(0, 1), linear weights and biases U(±1/√fan_in)); `xavier`, Paddle's "
     "defaults (Xavier-uniform, zero biases)",
     dict(choices=("torch", "xavier"))),
    ("hyper_parameters.field_interaction", str, "none", EVERY_TOOL,
     "`none`: the paper's experts; `bi`: NFM's bi-interaction of the 14 "
     "user field embeddings (the sum of their pairwise products) as E more "
     "inputs of every expert ([docs/method.md](docs/method.md#field-"
     "interactions)); a checkpoint loads only with the value it was "
     "trained with", dict(choices=("none", "bi"))),
    ("hyper_parameters.min_id_count", int, 0, TRAINER,
     "ids seen fewer times in the training rows (and ids never seen) share "
     "one learned out-of-vocabulary row per field, in meta-training, "
     "meta-test, expansion and export; 0 or 1: off, every id its own row "
     "([docs/method.md](docs/method.md#rare-ids))", dict(low=0)),
    ("hyper_parameters.task_count", int, 5, TRAINER,
     "campaigns per meta-batch (distinct, unless there are fewer campaigns)",
     dict(low=1)),
    ("hyper_parameters.batch_size", int, "auto", EVERY_TOOL,
     "rows of each support and query set; fine-tuning and scoring chunk "
     "size; `auto`: 64 below 300 000 training rows, the paper's from there "
     "([docs/quality.md](docs/quality.md#meta-training-settings-by-data-size)"
     "), recorded in run.json and taken from it by the tools that load the "
     "checkpoint", dict(low=1, auto=_BY_ROWS)),
    ("hyper_parameters.disjoint_query", bool, False, TRAINER,
     "True: a task's support and query sets share no row (a campaign of "
     "fewer than 2 × `batch_size` rows is split in halves, each set drawn "
     "from its half with replacement); False: drawn independently, as the "
     "paper's code", {}),
    ("hyper_parameters.local_lr", NUMBER, "auto", EVERY_TOOL,
     "inner-loop SGD step; `auto`: 0.3 below 300 000 training rows, the "
     "paper's from there, as `batch_size`", dict(low=0, auto=_BY_ROWS)),
    ("hyper_parameters.inner_steps", int, 1, EVERY_TOOL,
     "inner-loop steps; 0: no inner loop", dict(low=0)),
    ("hyper_parameters.meta_order", int, 2, TRAINER,
     "2: second-order MAML (the paper's code); 1: first order",
     dict(choices=(1, 2))),
    ("hyper_parameters.sample_method", str, "normal", TRAINER,
     "campaign draw: `normal` ∝ rows, `sqrt` ∝ √rows, `unit` uniform",
     dict(choices=("normal", "sqrt", "unit"))),
    ("hyper_parameters.method", str, "metaheac", TRAINER,
     "`metaheac`; or a baseline: `pooled` (plain supervised training on the "
     "same sampled rows, same steps), `scratch` (no training: meta-testing "
     "fine-tunes from random weights)",
     dict(choices=("metaheac", "pooled", "scratch"))),
    ("hyper_parameters.optimizer.class", str, "adam", TRAINER,
     "the meta-training (outer) optimizer, the only choice "
     "(case-insensitive: `Adam` as PaddleRec writes it). PaddleRec's "
     "`runner.use_inference` and `optimizer.strategy` are refused with their "
     "reason", dict(choices=("adam", ))),
    ("hyper_parameters.optimizer.global_learning_rate", NUMBER, 0.001,
     TRAINER, "meta-training Adam", dict(low=0, low_inclusive=False)),
    ("hyper_parameters.optimizer.local_test_learning_rate", NUMBER, "auto",
     LOADERS,
     "meta-test fine-tuning step; `auto`: meta-validated, else the paper's",
     dict(low=0, low_inclusive=False, auto=_META_VALIDATED)),
    ("hyper_parameters.optimizer.local_test_optimizer", str, "adam",
     EVERY_TOOL,
     "meta-test fine-tuning: `adam` or `sgd` at `local_test_learning_rate` "
     "for `infer_train_epoch` passes, or `maml`: the inner loop's own update "
     "(`inner_steps` full-batch SGD steps at `local_lr`; it ignores "
     "`local_test_learning_rate`, cannot be combined with `infer_holdout`, "
     "and `infer_train_epoch` 0 still switches fine-tuning off)",
     dict(choices=("adam", "sgd", "maml"))),
    ("hyper_parameters.optimizer.lazy_mode", bool, False, TRAINER,
     "opt-in approximation: the meta-training Adam updates only the "
     "embedding rows the meta-batch touched (sparse table gradients). Exact "
     "Adam (the default) also moves every row that has non-zero moments "
     "from earlier steps; lazy mode skips those updates, so results differ "
     "from the paper's optimiser", {}),
    ("tuning.share", NUMBER, 0.1, TRAINER,
     "share of the training campaigns held out of meta-training for "
     "meta-validation (at least `tuning.min_campaigns`, never all); 0 = "
     "none", dict(low=0, high=1)),
    ("tuning.min_campaigns", int, 3, TRAINER,
     "the fewest campaigns held out when `tuning.share` > 0", dict(low=1)),
    ("tuning.folds", int, 3, TRAINER,
     "each held-out campaign is cut this many ways, every row a candidate "
     "once (cross-validation)", dict(low=2)),
    ("tuning.learning_rates", list, [0.001, 0.003, 0.01], TRAINER,
     "the meta-test learning rates meta-validation searches for "
     "`local_test_learning_rate: auto`",
     dict(grid_of="hyper_parameters.optimizer.local_test_learning_rate")),
    ("tuning.passes", list, [2, 5], TRAINER,
     "the fine-tuning passes it searches for `infer_train_epoch: auto`",
     dict(grid_of="runner.infer_train_epoch")),
    ("tuning.seed_blends", list, [0.5], TRAINER,
     "the blend weights it searches for `infer_seed_blend: auto` (one: the "
     "blend is fixed, see [docs/method.md](docs/method.md#meta-validation))",
     dict(grid_of="runner.infer_seed_blend")),
    ("tuning.choose", str, "best", TRAINER,
     "how the grid's setting is chosen: `best`, the highest mean of the "
     "hot-like and cold-like GAUC; `lightest_within_se`, the lightest "
     "fine-tuning (learning rate × passes) within one standard error of it "
     "(over the held-out campaigns)",
     dict(choices=("best", "lightest_within_se"))),
    ("tuning.max_seeds", int, 8000, TRAINER,
     "a held-out campaign's seeds, at most (they bound its time)",
     dict(low=1)),
    ("tuning.cold_seeds", int, 100, TRAINER,
     "the cold-like seed set's size (a stratified draw from the hot-like "
     "one; all of it in a smaller campaign)", dict(low=1)),
    ("tuning.max_candidates", int, 3000, TRAINER,
     "a held-out campaign's candidates, at most (they bound its time)",
     dict(low=1)),
    ("expand.min_seeds", int, 10, EXPAND,
     "`tools/expand.py` skips a campaign with fewer seeds, with a warning",
     dict(low=1)),
    ("expand.negative_ratio", NUMBER, 3.0, (EXPAND, EXPORT),
     "negatives drawn per seed from the candidates when the seeds hold no "
     "negative", dict(low=0)),
    ("expand.checkpoint", (str, type(None)), None, (EXPAND, EXPORT),
     "the model `tools/expand.py` and `tools/export.py` start from",
     dict(path=True, shown="last meta-test checkpoint")),
    ("expand.chunk_rows", int, 65536, EXPAND,
     "users of a user table scored per pass (memory holds one chunk); the "
     "unit a collective run splits", dict(low=1)),
    ("expand.diagnose", bool, True, EXPAND,
     "seed diagnostics: cross-validate each campaign's seeds before "
     "expanding it (`diagnostics` in `summary.json`); `--diagnose` / "
     "`--no-diagnose` for one run; `config_big.yaml` turns them off (their "
     "cost at the full data's size)", {}),
    ("expand.diagnose_folds", int, 5, EXPAND,
     "folds of that cross-validation; a campaign with fewer positives or "
     "negatives is too few seeds to judge (said at INFO)", dict(low=2)),
    ("expand.diagnose_repeats", int, 2, EXPAND,
     "the folds dealt again this many times (repeated stratified k-fold): a "
     "narrower interval for as many more fine-tunings", dict(low=1)),
    ("expand.diagnose_level", NUMBER, 0.6, EXPAND,
     "the least expected AUC worth paying for: an interval above it is "
     "distinctive, below it not distinctive (the one warning), across it too "
     "few seeds to judge", dict(low=0, high=1)),
))

BY_NAME = {key.name: key for key in KEYS}

# PaddleRec keys this project has no use for: named, with the reason,
# instead of accepted and silently ignored
RETIRED = {
    "runner.use_inference": "PaddleRec's switch for its inference engine; "
                            "tools/export.py writes a model for it",
    "hyper_parameters.optimizer.strategy": "PaddleRec's parameter-server "
                                           "mode; collective runs are "
                                           "runner.use_fleet",
}


def _number(value):
    """1.0 as 1, 2 ** 32 in full: how a bound or a default reads."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bounds(key):
    """The bounds of ``key``'s numbers as an error and the readme say them
    (``>= 0 and < 1``), "" when it has none."""
    parts = []
    if key.low is not None:
        parts.append("%s %s" % (">=" if key.low_inclusive else ">",
                                _number(key.low)))
    if key.high is not None:
        parts.append("%s %s" % ("<=" if key.high_inclusive else "<",
                                _number(key.high)))
    return " and ".join(parts)


def type_name(key):
    """``int``, ``int or float``, ``str or null`` (and ``or auto``)."""
    names = ["null" if t is type(None) else t.__name__ for t in key.types]
    return " or ".join(names + (["auto"] if key.accepts_auto() else []))


def searched():
    """{meta-test key: the tuning.* key listing its candidate values}, in
    the order meta-validation searches them."""
    return {key.grid_of: key.name for key in KEYS if key.grid_of}
