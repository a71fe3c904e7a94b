"""Expand one campaign's audience: fine-tune the meta-trained model on its
seeds (``DygraphModel.finetune_and_score``, the meta-test's own code path),
score its candidates, rank them, and report size against quality.

A campaign is a :class:`Campaign`: the seed users' four input arrays and
uids, their labels (None when the file has none), the candidates' arrays
and uids, and the candidates' labels when known (used only for the
report). Everything here works on arrays; ``audience.sources`` builds
campaigns from files, ``audience.output`` writes the results.
"""
import logging
import os
import time
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from audience import seed_blend
from runkit.metrics import campaign_metrics, top_count

logger = logging.getLogger("metaheac")

# the reach curve: share of the candidates taken, best scores first
REACH = (0.01, 0.02, 0.05, 0.10, 0.20)
QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)


@dataclass
class Campaign:
    aid: int
    seed_x: List[np.ndarray]
    seed_uid: np.ndarray
    seed_y: Optional[np.ndarray]
    cand_x: List[np.ndarray]
    cand_uid: np.ndarray
    cand_y: Optional[np.ndarray] = None
    # False when seed and candidate uids are not the same id space
    exclude_seeds: bool = True
    # the seeds' values (>= 0, valued seeds), None: unweighted
    seed_value: Optional[np.ndarray] = None


@dataclass
class Expansion:
    aid: int
    uid: np.ndarray         # every candidate scored (seeds left out)
    score: np.ndarray       # their scores, in candidate order
    order: np.ndarray       # positions in uid/score, best first
    audience_size: int
    summary: dict
    label: Optional[np.ndarray] = None   # the candidates', when known


def audience_size(top, candidates):
    """``top`` is a fraction of the candidates (0 < top < 1: rounded down,
    at least one, as the meta-test's P@5 %, ``runkit.metrics.top_count``)
    or a count."""
    if isinstance(top, float):
        if not 0 < top < 1:
            raise ValueError(TOP_RULE % (top, ))
        return top_count(top, candidates)
    if top < 1:
        raise ValueError(TOP_RULE % (top, ))
    return min(top, candidates)


TOP_RULE = ("--top must be a fraction of the candidates (0 < x < 1) or a "
            "whole count >= 1, got %r")


def parse_top(text):
    """The --top argument: ``0.05`` (a fraction) or ``100000`` (a count)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(TOP_RULE % (text, ))
    if value >= 1:
        if not value.is_integer():
            raise ValueError(TOP_RULE % (text, ))
        return int(value)
    audience_size(value, 1)  # range check
    return value


def _take(x, rows):
    return [a[rows] for a in x]


def needs_negatives(seed_y):
    """Seeds that hold no negative (only positives, or no label at all:
    the usual upload of converters) get drawn negatives."""
    return seed_y is None or not (seed_y == 0).any()


def seeds_with_negatives(campaign, ratio, rng):
    """The training set of a campaign (its seeds left out of its
    candidates already, :func:`without_seeds`): its seeds and their
    labels, plus, when :func:`needs_negatives`, ``ratio`` negatives per
    seed drawn at random from the candidates. The drawn users stay
    candidates: they are scored and ranked like the others, so a true
    look-alike drawn as a negative can still be chosen (measured in
    docs: it ranks lower than it would, but removing it lost it for
    sure). Returns (x, y, loss weights or None, positions of the drawn
    candidates)."""
    y = campaign.seed_y
    if not needs_negatives(y):
        y = y.astype(np.float32)
        return campaign.seed_x, y, seed_weights(
            y, campaign.seed_value), np.zeros(0, np.int64)
    positives = len(campaign.seed_uid)
    drawn = draw_negatives(campaign.aid, positives, len(campaign.cand_uid),
                           ratio, rng)
    x = [np.concatenate([s, c[drawn]]) for s, c in
         zip(campaign.seed_x, campaign.cand_x)]
    y = np.concatenate([np.ones(positives, np.float32),
                        np.zeros(len(drawn), np.float32)])
    return x, y, seed_weights(y, campaign.seed_value), drawn


def seed_weights(y, value):
    """Each fine-tuning row's loss weight (valued seeds), or None without
    values (the unweighted loss, bit for bit). ``value`` holds the seeds'
    values, the first rows of ``y`` (drawn negatives follow). A positive
    weighs its value over the positives' mean value; every negative,
    labelled or drawn, weighs 1, as if valued at that mean: the values
    move weight among the positives, never between the classes, so
    ``expand.negative_ratio`` and the learning rate keep their meaning
    whatever unit the values are in (order value in cents or in dollars
    weighs the same)."""
    if value is None:
        return None
    y = np.asarray(y)
    weight = np.ones(len(y), np.float32)
    seeds = np.arange(len(value))
    positive = seeds[y[seeds] == 1]
    if len(positive):
        mean = float(np.mean(value[positive]))
        if mean <= 0:
            raise ValueError("every positive seed has value 0: nothing to "
                             "fine-tune on; give the seeds positive values, "
                             "or drop the value column")
        weight[positive] = value[positive] / mean
    return weight


def draw_negatives(aid, positives, pool, ratio, rng, cap=True):
    """Sorted positions of ``ratio`` negatives per positive seed among
    ``pool`` users, at most half of them (with a warning) when they are
    the candidates being ranked (``cap``)."""
    want = int(round(ratio * positives))
    if not cap:
        want = min(want, pool)
    elif want > pool // 2:
        logger.warning("campaign %s: %d negatives wanted (negative_ratio %g) "
                       "but only %d candidates; drawing %d", aid, want, ratio,
                       pool, pool // 2)
        want = pool // 2
    return np.sort(rng.choice(pool, size=want, replace=False)) if want else \
        np.zeros(0, np.int64)


def reach_curve(labels, scores, order):
    """Precision, recall and lift over the base rate of the top 1..20 %
    (sizes as ``--top`` and the meta-test's P@5 % take them)."""
    base = float(labels.mean())
    positives = int(labels.sum())
    curve = []
    for share in REACH:
        k = top_count(share, len(labels))
        hits = int(labels[order[:k]].sum())
        precision = hits / k
        curve.append({"top": share, "size": k, "precision": precision,
                      "recall": hits / positives if positives else None,
                      "lift": precision / base if base else None})
    return base, curve


def _ranked(aid, uid, score, labels, top, start, record, **counts):
    """The Expansion of scored candidates: ranking, sizes, the report
    (``record``: how the campaign was fine-tuned, see
    :func:`fine_tuning_record`)."""
    # stable: ties keep the candidates' order, so runs are reproducible
    order = np.argsort(-score, kind="stable")
    size = audience_size(top, len(score))
    if isinstance(top, int) and size < top:
        logger.warning("campaign %s: --top %d but only %d candidates: the "
                       "audience is all of them", aid, top, len(score))
    summary = {"aid": int(aid)}
    summary.update({k: int(v) for k, v in counts.items()})
    summary.update(record)
    summary.update({
        "candidates": int(len(score)),
        "audience": int(size),
        "score_quantiles": {str(q): float(np.quantile(score, q))
                            for q in QUANTILES} if len(score) else {},
    })
    if labels is not None and len(score):
        metrics = campaign_metrics(labels, score)
        summary["auc"] = metrics["auc"]
        if metrics["auc"] is None:
            summary["note"] = metrics["note"]
        summary["base_rate"], summary["reach"] = reach_curve(
            labels.astype(np.float64), score, order)
    summary["seconds"] = round(time.time() - start, 3)
    return Expansion(int(aid), uid, score, order, size, summary, labels)


def not_fine_tuned_because(model_class, y, config):
    """Why a campaign whose training labels (seeds and drawn negatives) are
    ``y`` kept the meta-trained weights, or None when it was fine-tuned;
    asked after ``finetune``, which leaves the hold-out's choice on
    ``model_class.kept_passes``."""
    if not model_class.finetunes(y, config):
        if not config.get("runner.infer_train_epoch"):
            return "runner.infer_train_epoch is 0"
        return ("%d positive seed(s), fewer than runner.infer_min_positives "
                "%d" % (int(np.sum(y)),
                        config.get("runner.infer_min_positives")))
    if config.get("hyper_parameters.optimizer.local_test_optimizer") == \
            "maml" and not config.get("hyper_parameters.inner_steps"):
        return ("hyper_parameters.inner_steps is 0 (local_test_optimizer "
                "maml takes that many steps)")
    if getattr(model_class, "kept_passes", None) == 0:
        return ("runner.infer_holdout kept 0 fine-tuning passes (the "
                "held-out seeds' loss was lowest before any)")
    return None


NO_POSITIVE = ("its seeds hold no positive: it was fine-tuned on negatives "
               "only, which lowers every score and teaches no ranking; give "
               "it positive seeds, or set runner.infer_min_positives to 1 to "
               "score it by the meta-trained weights")


def fine_tuning_record(model_class, y, config):
    """``fine_tuned`` and, when false, ``not_fine_tuned_because``: what
    the summary (and export.json) says of a campaign; a ``warning`` when
    it was fine-tuned on negatives only (``runner.infer_min_positives``
    0 lets such seeds through)."""
    reason = not_fine_tuned_because(model_class, y, config)
    if reason is not None:
        return {"fine_tuned": False, "not_fine_tuned_because": reason}
    if not np.any(y):
        return {"fine_tuned": True, "warning": NO_POSITIVE}
    return {"fine_tuned": True}


SCORES_NOTE = (
    "negatives were drawn at random for seeds without any: the fine-tuned "
    "network's output is calibrated to the drawn ratio of positives to "
    "negatives (expand.negative_ratio), not to the population's base rate, "
    "so a score is not a conversion probability; ranks are what matter")
OUTSIDE = "users of the table outside the candidates"
CANDIDATES = "the candidates (still scored and ranked)"


VALUED = ("a positive seed's loss weighs its value over the positive "
          "seeds' mean value; negatives weigh 1")


def drawn_record(drawn, source, weight=None):
    """What the summary says of drawn negatives (where from, how to read
    the scores) and of valued seeds; nothing when neither."""
    record = {} if weight is None else {"seed_weights": VALUED}
    if drawn:
        record.update({"negatives_from": source, "scores_note": SCORES_NOTE})
    return record


def _log_drawn(aid, drawn, pool, source=CANDIDATES):
    if drawn:
        logger.info("campaign %s: seeds hold no negative; drew %d negatives "
                    "from %s (%d users)", aid, drawn, source, pool)


def _diagnostics(model_class, model, init_state, aid, x, y, config, drawn,
                 group=None, tiers=None):
    """``{"diagnostics": ...}`` of the campaign's training set (x, y) when
    ``expand.diagnose`` is on (audience/diagnostics.py), else nothing."""
    from audience import diagnostics
    if not diagnostics.enabled(config):
        return {}
    return {"diagnostics": diagnostics.diagnose(
        model_class, model, init_state, aid, x, y, config, drawn,
        group=group, **({} if tiers is None else {"tiers": tiers}))}


def without_seeds(campaign, excluded=None):
    """The campaign with its seeds (when their uids are one id space) and
    the ``excluded`` uids (``--exclude``) left out of its candidates, so
    neither is scored nor drawn as a negative; and how many of each were."""
    is_seed = np.isin(campaign.cand_uid, campaign.seed_uid) \
        if campaign.exclude_seeds else np.zeros(len(campaign.cand_uid), bool)
    seeds_excluded = int(is_seed.sum())
    is_excluded = ~is_seed & np.isin(campaign.cand_uid, excluded) \
        if excluded is not None else np.zeros(len(is_seed), bool)
    if is_excluded.any() and is_excluded.sum() + seeds_excluded == \
            len(is_seed):
        raise ValueError(EVERY_CANDIDATE_EXCLUDED % is_excluded.sum())
    if seeds_excluded or is_excluded.any():
        keep = np.flatnonzero(~is_seed & ~is_excluded)
        campaign = Campaign(campaign.aid, campaign.seed_x, campaign.seed_uid,
                            campaign.seed_y, _take(campaign.cand_x, keep),
                            campaign.cand_uid[keep],
                            None if campaign.cand_y is None
                            else campaign.cand_y[keep], campaign.exclude_seeds,
                            campaign.seed_value)
    return campaign, seeds_excluded, int(is_excluded.sum())


@dataclass
class FineTuned:
    """A campaign of feature rows fine-tuned: what expand_campaign scores
    with and tools/export.py saves (one function, so they cannot differ)."""
    campaign: Campaign     # its seeds (and --exclude) left out of its candidates
    seeds_excluded: int
    excluded: int          # candidates left out by --exclude
    y: np.ndarray          # the fine-tuning labels (seeds, drawn negatives)
    weight: Optional[np.ndarray]
    drawn: np.ndarray      # positions of the drawn negatives among candidates
    packed: dict           # the fine-tuned local weights (one task)
    rows: list             # the table rows they hold (dygraph_model.localize)
    cand_x: list           # the candidates' inputs, remapped onto them
    x: list                # the fine-tuning inputs (for the seeds' model)


def fine_tune_campaign(model_class, model, init_state, campaign, config,
                       rng, excluded=None, before_fit=None):
    """Leave the seeds (and ``excluded`` uids) out of the candidates, draw
    negatives if the seeds hold none, fine-tune (``DygraphModel.finetune``,
    the meta-test's code). ``before_fit(x, y, drawn)`` sees the training
    set first (the seed diagnostics: their folds must run before the fit
    that scores)."""
    campaign, seeds_excluded, excluded = without_seeds(campaign, excluded)
    x, y, weight, drawn = seeds_with_negatives(
        campaign, config.get("expand.negative_ratio"), rng)
    _log_drawn(campaign.aid, len(drawn), len(campaign.cand_uid))
    if before_fit is not None:
        before_fit(x, y, drawn)
    record = _diagnostics(model_class, model, init_state, campaign.aid, x, y,
                          config, len(drawn) > 0)
    model_class.kept_passes = None
    packed, rows, cand_x = model_class.finetune(
        model, init_state, x, y, campaign.cand_x, config, rng, weight)
    return FineTuned(campaign, seeds_excluded, excluded, y, weight, drawn,
                     packed, rows, cand_x, x)


def expand_campaign(model_class, model, init_state, campaign, config, rng,
                    top, excluded=None, tiers=None):
    """Fine-tune on the campaign's seeds, score and rank its candidates;
    ``excluded`` (uids, ``--exclude``) are no candidates: neither scored
    nor drawn as negatives."""
    start = time.time()
    diagnosed = {}

    def diagnose(x, y, drawn):
        diagnosed.update(_diagnostics(model_class, model, init_state,
                                      campaign.aid, x, y, config,
                                      len(drawn) > 0, tiers=tiers))
    tuned = fine_tune_campaign(model_class, model, init_state, campaign,
                               config, rng, excluded, diagnose)
    campaign, y = tuned.campaign, tuned.y
    # as seed_blend.campaign_scores (the meta-test's), from the weights
    # fine_tune_campaign shares with tools/export.py
    scores = model_class.score(model, tuned.cand_x, config, tuned.packed)
    seeds_model = seed_blend.seed_model(model.maxima, tuned.x, y, config)
    if seeds_model is not None:
        scores = seed_blend.blend(scores, seeds_model.scores(campaign.cand_x),
                                  seed_blend.weight(config))
    record = dict(fine_tuning_record(model_class, y, config), **diagnosed)
    record.update(drawn_record(len(tuned.drawn), CANDIDATES, tuned.weight))
    return _ranked(
        campaign.aid, campaign.cand_uid, scores, campaign.cand_y, top, start,
        record, seeds=len(campaign.seed_uid),
        seed_positives=len(campaign.seed_uid) if campaign.seed_y is None
        else campaign.seed_y.sum(),
        negatives_drawn=len(tuned.drawn),
        seeds_excluded=tuned.seeds_excluded, excluded=tuned.excluded)


def expand_table_campaign(model_class, model, init_state, table, campaign,
                          config, rng, top, group=None, excluded=None,
                          defer=False, tiers=None):
    """Form 2: a campaign's seeds are rows of a user table; its candidates
    are every other user of the table (or ``campaign.cand_rows``), scored
    in chunks with the campaign's fine-tuned weights over the full tables
    (rows no seed touched keep their meta-trained values, as in the
    localised form), so memory holds the scores and one chunk.

    In a collective run (``group``) every rank fine-tunes the campaign the
    same way (same seeded stream) and scores every size-th chunk; the
    chunks' scores are gathered in table order, so the ranking is one
    process's. ``excluded`` (uids, ``--exclude``) are never scored. With
    ``defer`` the fine-tuned campaign is returned unscored, as a
    ``batch_scoring.TableJob``: ``expand`` scores several in one pass over
    the table (audience/batch_scoring.py)."""
    from audience.serving import full_weights
    from runkit.distributed import ALONE
    group = group or ALONE
    start = time.time()
    seeds = np.unique(campaign.seed_rows)
    pool = np.arange(len(table)) if campaign.cand_rows is None \
        else campaign.cand_rows
    in_pool = np.isin(pool, seeds, assume_unique=True)
    candidates = int(len(pool) - in_pool.sum())
    excluded_rows = _table_rows(table, excluded)
    is_excluded = np.isin(pool, excluded_rows) & ~in_pool
    left_out = int(is_excluded.sum())
    if left_out and left_out == candidates:
        raise ValueError(EVERY_CANDIDATE_EXCLUDED % left_out)
    # excluded users are no negatives either (as in form 1)
    x, y, weight, drawn, source = table_training_set(
        table, campaign, pool[~in_pool & ~is_excluded],
        np.union1d(seeds, excluded_rows), config, rng)
    no_candidates = [a[:0] for a in x]
    diagnosed = _diagnostics(model_class, model, init_state, campaign.aid, x,
                             y, config, len(drawn) > 0, group, tiers)
    model_class.kept_passes = None
    packed, rows, _ = model_class.finetune(model, init_state, x, y,
                                           no_candidates, config, rng, weight)
    record = dict(fine_tuning_record(model_class, y, config), **diagnosed)
    record.update(drawn_record(len(drawn), source, weight))
    seeds_model = seed_blend.seed_model(model.maxima, x, y, config)
    import paddle
    with paddle.no_grad():
        weights = full_weights(model, init_state, packed, rows)
    # drawn negatives stay candidates (table_training_set)
    skip = np.union1d(seeds, excluded_rows)
    from audience import batch_scoring
    job = batch_scoring.TableJob(
        campaign.aid, pool, skip, batch_scoring.CampaignNet(
            model, weights, campaign.ad, batch_scoring.Layout(model.maxima)),
        campaign.ad, seeds_model, start, record, dict(
            seeds=len(campaign.seed_rows),
            seed_positives=len(campaign.seed_rows) if campaign.seed_y is None
            else campaign.seed_y.sum(),
            negatives_drawn=len(drawn), seeds_excluded=int(in_pool.sum()),
            excluded=left_out))
    if defer:
        return job
    (scored, ) = batch_scoring.score_jobs(table, [job], model.maxima, config,
                                          group)
    return finish_table_job(table, job, scored, top, config)


def finish_table_job(table, job, scored, top, config):
    """The Expansion of a scored :class:`batch_scoring.TableJob`:
    ``scored`` is what ``batch_scoring.score_jobs`` gives for it."""
    kept, score, seed_score = scored
    if seed_score is not None and len(score):
        score = seed_blend.blend(score, seed_score, seed_blend.weight(config))
    return _ranked(job.aid, np.asarray(table.uid[kept]), score, None, top,
                   job.start, job.record, **job.counts)


EVERY_CANDIDATE_EXCLUDED = ("every candidate that is not a seed (%d) is in "
                            "the --exclude file: no audience to make")


def _table_rows(table, uids):
    """The table rows of ``uids`` (those the table holds), sorted."""
    if uids is None or not len(uids):
        return np.zeros(0, np.int64)
    rows = np.asarray(table.positions(np.asarray(uids, np.int64)))
    return np.unique(rows[rows >= 0])


def table_training_set(table, campaign, candidates, seeds, config, rng):
    """Form 2's fine-tuning set: the seed rows, and for seeds without a
    negative ``expand.negative_ratio`` drawn negatives per seed. They come
    from the users of the table outside the candidates (``--candidates``
    naming fewer users than the table) when there are enough of them, else
    from the ``candidates`` (sorted rows, seeds out), who stay candidates:
    either way no candidate is lost. Returns (x, y, weights or None,
    drawn rows, where they came from)."""
    x = table.inputs(campaign.seed_rows, campaign.ad)
    y, drawn, source = campaign.seed_y, np.zeros(0, np.int64), None
    if needs_negatives(y):
        positives = len(campaign.seed_rows)
        want = int(round(config.get("expand.negative_ratio") * positives))
        outside = _outside(len(table), candidates, seeds, want)
        if outside is not None:
            source, pool, cap = OUTSIDE, outside, False
        else:
            source, pool, cap = CANDIDATES, candidates, True
        # pool is sorted, so the drawn rows are too
        drawn = pool[draw_negatives(
            campaign.aid, positives, len(pool),
            config.get("expand.negative_ratio"), rng, cap)]
        x = [np.concatenate([a, b]) for a, b in
             zip(x, table.inputs(drawn, campaign.ad))]
        y = np.concatenate([np.ones(positives, np.float32),
                            np.zeros(len(drawn), np.float32)])
        _log_drawn(campaign.aid, len(drawn), len(pool), source)
    y = y.astype(np.float32)
    return x, y, seed_weights(y, campaign.seed_value), drawn, \
        source


def _outside(users, candidates, seeds, want):
    """The sorted table rows that are neither candidates nor seeds, when
    they hold at least ``want`` users (else None: draw among the
    candidates)."""
    if users - len(candidates) - len(seeds) < max(want, 1):
        return None
    mask = np.ones(users, bool)
    mask[candidates] = False
    mask[seeds] = False
    outside = np.flatnonzero(mask)
    return outside if len(outside) >= max(want, 1) else None


def expand(config, campaigns, top, model_class=None, model=None,
           init_state=None, on_result=None, table=None, group=None,
           exclusions=None, tiers=None):
    """Expand every campaign; the Python entry point the CLI calls.

    ``campaigns`` is an iterable of :class:`Campaign` (or, with a user
    ``table``, of ``sources.TableCampaign``), and of :func:`skip_record`
    for campaigns their source could not build; the model is the
    checkpoint the config names unless ``model_class, model, init_state``
    (what ``load_model`` returns) are given. A campaign
    with fewer than ``expand.min_seeds`` seeds, or no candidate, is skipped
    with a warning; one bad campaign never stops the others. Returns
    ``(expansions, skipped)``, every skip with its reason;
    ``on_result(expansion)`` is called as each campaign finishes (the CLI
    writes its files there). A campaign left with the meta-trained weights
    (see :func:`not_fine_tuned_because`) is warned about, and its summary
    says so (``fine_tuned``). ``exclusions`` (``audience.exclusions``,
    ``--exclude``) names users no audience may hold; each campaign's
    summary counts its candidates left out for it (``excluded``).

    Each campaign has its own random stream (``runner.seed`` and its aid),
    so its audience does not depend on the other campaigns. In a
    collective run (``group``, runkit/distributed.py) the campaigns of
    feature rows are split across the ranks, a user table's chunks are
    split within each campaign, and every rank returns the results of all
    (``on_result`` is called on rank 0 only, in campaign order).
    """
    from runkit.distributed import ALONE
    group = group or ALONE
    if model is None:
        model_class, model, init_state = load_model(config)
    else:
        # a model handed in has no run here to take meta-validated
        # settings from: auto keys get the fallback, logged
        from tuning import choice
        if choice.unresolved(config):
            choice.resolve(config, None)
    split = group.active and table is None
    done = []    # (position, Expansion or the skip record)
    # a user table's campaigns are fine-tuned, then scored together in one
    # pass over the table (audience/batch_scoring.py), a few at a time
    pending = []

    def settle():
        for position, outcome in _score_pending(pending, table, model, config,
                                                top, group):
            _report(outcome)
            if on_result and isinstance(outcome, Expansion):
                on_result(outcome)
            done.append((position, outcome))
        pending.clear()

    for position, campaign in enumerate(campaigns):
        if split and position % group.size != group.rank:
            continue
        outcome = _expand_one(config, campaign, top, model_class, model,
                              init_state, table, group, exclusions, tiers)
        if table is not None:
            pending.append((position, outcome))
            if _jobs_in(pending) >= _campaigns_per_pass():
                settle()
            continue
        if not split:
            _report(outcome)
            if on_result and isinstance(outcome, Expansion):
                on_result(outcome)
        done.append((position, outcome))
    settle()
    if split:
        # rank 0 reports every campaign, in order, as one process would
        done = sorted(sum(group.gather(done), []), key=lambda d: d[0])
        for _, outcome in done:
            if group.leader:
                _report(outcome)
            if on_result and group.leader and isinstance(outcome, Expansion):
                on_result(outcome)
    results = [o for _, o in done if isinstance(o, Expansion)]
    skipped = [o for _, o in done if not isinstance(o, Expansion)]
    return results, skipped


def _campaigns_per_pass():
    from audience.batch_scoring import CAMPAIGNS_PER_PASS
    return CAMPAIGNS_PER_PASS


def _jobs_in(pending):
    from audience.batch_scoring import TableJob
    return sum(isinstance(o, TableJob) for _, o in pending)


def _score_pending(pending, table, model, config, top, group):
    """``(position, Expansion or skip record)`` of the campaigns waiting
    in ``pending``: the fine-tuned ones scored in one pass."""
    from audience.batch_scoring import TableJob, score_jobs
    jobs = [o for _, o in pending if isinstance(o, TableJob)]
    scored = dict(zip(map(id, jobs), score_jobs(
        table, jobs, model.maxima, config, group))) if jobs else {}
    return [(position, finish_table_job(table, o, scored[id(o)], top, config)
             if isinstance(o, TableJob) else o) for position, o in pending]


def skip_record(aid, reason):
    """Why a campaign was left out, as ``expand`` returns (and the summary
    lists) it. A campaign source yields one in place of a campaign it
    cannot build, so that the skip is counted like any other."""
    return {"aid": int(aid), "reason": reason}


def _expand_one(config, campaign, top, model_class, model, init_state, table,
                group, exclusions=None, tiers=None):
    """One campaign's Expansion, or the record of why it was skipped."""
    if isinstance(campaign, dict):   # skipped by its source
        return campaign
    min_seeds = config.get("expand.min_seeds")
    from dygraph_model import campaign_rng
    rng = campaign_rng(config, campaign.aid)
    seeds = len(campaign.seed_rows if table is not None
                else campaign.seed_uid)
    candidates = (len(table) if campaign.cand_rows is None
                  else len(campaign.cand_rows)) if table is not None \
        else len(campaign.cand_uid)
    reason = None
    if seeds < min_seeds:
        reason = ("%d seeds, fewer than expand.min_seeds %d: give it more "
                  "seeds, or lower expand.min_seeds" % (seeds, min_seeds))
    elif candidates == 0:
        reason = "no candidates to score"
    if reason:
        return skip_record(campaign.aid, reason)
    excluded = None if exclusions is None else exclusions.of(campaign.aid)
    try:
        if table is not None:
            result = expand_table_campaign(model_class, model, init_state,
                                           table, campaign, config, rng, top,
                                           group, excluded, defer=True,
                                           tiers=tiers)
        else:
            result = expand_campaign(model_class, model, init_state,
                                     campaign, config, rng, top, excluded,
                                     tiers)
    except (ValueError, FloatingPointError) as exc:
        return skip_record(campaign.aid, str(exc))
    return result


def _report(outcome):
    """The log line of one campaign: its expansion, or why it was skipped."""
    if not isinstance(outcome, Expansion):
        logger.warning("campaign %s skipped: %s", outcome["aid"],
                       outcome["reason"])
        return
    s = outcome.summary
    if not s["fine_tuned"]:
        logger.warning("campaign %s: not fine-tuned (%s): its candidates are "
                       "scored by the meta-trained weights", s["aid"],
                       s["not_fine_tuned_because"])
    d = s.get("diagnostics")
    # one line per campaign, its seeds' warning and its diagnostics' both
    warnings = [w for w in (s.get("warning"), d and d.get("warning")) if w]
    if warnings:
        logger.warning("campaign %s: %s", s["aid"], "; ".join(warnings))
    if d and not d.get("warning"):
        logger.info("campaign %s: expected AUC %.3f [%.3f, %.3f] (%d-fold "
                    "cross-validation on its seeds)", s["aid"], d["auc"],
                    d["auc_interval"][0], d["auc_interval"][1], d["folds"])
    logger.info("campaign %s: seeds %d, candidates %d, audience %d, "
                "%.1f s%s", s["aid"], s["seeds"], s["candidates"],
                s["audience"], s["seconds"],
                "" if s.get("auc") is None else ", AUC %.4f" % s["auc"])


def checkpoint_path(config):
    """``expand.checkpoint``, or the last meta-test checkpoint."""
    return config.get("expand.checkpoint") or os.path.join(
        config.get("runner.infer_load_path"),
        str(config.get("runner.infer_end_epoch") - 1))


def load_model(config, path=None):
    """(model_class, model, initial weights) of a checkpoint folder."""
    from dygraph_model import DygraphModel
    from runkit import checkpoint, runs
    from tuning import choice
    path = path or checkpoint_path(config)
    manifest = runs.verify_checkpoint(path)   # a folder or a file in one
    # the meta-test settings: the config's, else the run's meta-validated
    choice.resolve(config, manifest)
    model_class = DygraphModel()
    model = model_class.create_model(config)
    checkpoint.load_checkpoint(model, path, config)
    logger.info("model from %s", path)
    return model_class, model, {k: v.clone()
                                for k, v in model.state_dict().items()}
