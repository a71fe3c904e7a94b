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
from runkit.metrics import campaign_metrics

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


@dataclass
class Expansion:
    aid: int
    uid: np.ndarray         # every candidate scored (seeds and drawn negatives left out)
    score: np.ndarray       # their scores, in candidate order
    order: np.ndarray       # positions in uid/score, best first
    audience_size: int
    summary: dict
    label: Optional[np.ndarray] = None   # the candidates', when known


def audience_size(top, candidates):
    """``top`` is a fraction of the candidates (0 < top < 1) or a count."""
    if isinstance(top, float):
        if not 0 < top < 1:
            raise ValueError(TOP_RULE % (top, ))
        return max(1, int(round(top * candidates))) if candidates else 0
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


def seeds_with_negatives(campaign, ratio, rng):
    """The training set of a campaign: its seeds and their labels, plus, when
    the seeds hold no negative (or no label at all, the usual upload of
    converters), ``ratio`` negatives per seed drawn at random from the
    candidates. Returns (x, y, positions of the drawn candidates)."""
    y = campaign.seed_y
    if y is not None and (y == 0).any():
        return campaign.seed_x, y.astype(np.float32), np.zeros(0, np.int64)
    positives = len(campaign.seed_uid)
    drawn = draw_negatives(campaign.aid, positives, len(campaign.cand_uid),
                           ratio, rng)
    x = [np.concatenate([s, c[drawn]]) for s, c in
         zip(campaign.seed_x, campaign.cand_x)]
    y = np.concatenate([np.ones(positives, np.float32),
                        np.zeros(len(drawn), np.float32)])
    return x, y, drawn


def draw_negatives(aid, positives, pool, ratio, rng):
    """Sorted positions of ``ratio`` negatives per positive seed among
    ``pool`` candidates, at most half of them (with a warning)."""
    want = int(round(ratio * positives))
    if want > pool // 2:
        logger.warning("campaign %s: %d negatives wanted (negative_ratio %g) "
                       "but only %d candidates; drawing %d", aid, want, ratio,
                       pool, pool // 2)
        want = pool // 2
    return np.sort(rng.choice(pool, size=want, replace=False)) if want else \
        np.zeros(0, np.int64)


def reach_curve(labels, scores, order):
    """Precision, recall and lift over the base rate of the top 1..20 %."""
    base = float(labels.mean())
    positives = int(labels.sum())
    curve = []
    for share in REACH:
        k = max(1, int(round(share * len(labels))))
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


def _log_drawn(aid, drawn, pool):
    if drawn:
        logger.info("campaign %s: seeds hold no negative; drew %d negatives "
                    "from its %d candidates (left out of the audience)",
                    aid, drawn, pool)


def _diagnostics(model_class, model, init_state, aid, x, y, config, drawn,
                 group=None):
    """``{"diagnostics": ...}`` of the campaign's training set (x, y) when
    ``expand.diagnose`` is on (audience/diagnostics.py), else nothing."""
    from audience import diagnostics
    if not diagnostics.enabled(config):
        return {}
    return {"diagnostics": diagnostics.diagnose(
        model_class, model, init_state, aid, x, y, config, drawn,
        group=group)}


def expand_campaign(model_class, model, init_state, campaign, config, rng,
                    top):
    """Fine-tune on the campaign's seeds, score and rank its candidates."""
    start = time.time()
    is_seed = np.isin(campaign.cand_uid, campaign.seed_uid) \
        if campaign.exclude_seeds else np.zeros(len(campaign.cand_uid), bool)
    excluded = int(is_seed.sum())
    if excluded:
        keep = np.flatnonzero(~is_seed)
        campaign = Campaign(campaign.aid, campaign.seed_x, campaign.seed_uid,
                            campaign.seed_y, _take(campaign.cand_x, keep),
                            campaign.cand_uid[keep],
                            None if campaign.cand_y is None
                            else campaign.cand_y[keep], campaign.exclude_seeds)
    x, y, drawn = seeds_with_negatives(
        campaign, config.get("expand.negative_ratio"), rng)
    _log_drawn(campaign.aid, len(drawn), len(campaign.cand_uid))
    record = _diagnostics(model_class, model, init_state, campaign.aid, x, y,
                          config, len(drawn) > 0)
    model_class.kept_passes = None
    scores = seed_blend.campaign_scores(
        model_class, model, init_state,
        [campaign.aid, x, y, campaign.cand_x, None], config, rng)
    keep = np.setdiff1d(np.arange(len(scores)), drawn)
    return _ranked(
        campaign.aid, campaign.cand_uid[keep], scores[keep],
        None if campaign.cand_y is None else campaign.cand_y[keep], top, start,
        dict(fine_tuning_record(model_class, y, config), **record),
        seeds=len(campaign.seed_uid),
        seed_positives=len(campaign.seed_uid) if campaign.seed_y is None
        else campaign.seed_y.sum(),
        negatives_drawn=len(drawn), seeds_excluded=excluded)


def expand_table_campaign(model_class, model, init_state, table, campaign,
                          config, rng, top, group=None):
    """Form 2: a campaign's seeds are rows of a user table; its candidates
    are every other user of the table (or ``campaign.cand_rows``), scored
    in chunks with the campaign's fine-tuned weights over the full tables
    (rows no seed touched keep their meta-trained values, as in the
    localised form), so memory holds the scores and one chunk.

    In a collective run (``group``) every rank fine-tunes the campaign the
    same way (same seeded stream) and scores every size-th chunk; the
    chunks' scores are gathered in table order, so the ranking is one
    process's."""
    from audience.serving import full_weights
    from runkit.distributed import ALONE
    group = group or ALONE
    start = time.time()
    seeds = np.unique(campaign.seed_rows)
    pool = np.arange(len(table)) if campaign.cand_rows is None \
        else campaign.cand_rows
    in_pool = np.isin(pool, seeds, assume_unique=True)
    candidates = int(len(pool) - in_pool.sum())
    x = table.inputs(campaign.seed_rows, campaign.ad)
    y, drawn = campaign.seed_y, np.zeros(0, np.int64)
    if y is None or not (y == 0).any():
        others = pool[~in_pool]   # sorted, so the drawn rows are too
        drawn = others[draw_negatives(
            campaign.aid, len(campaign.seed_rows), len(others),
            config.get("expand.negative_ratio"), rng)]
        x = [np.concatenate([a, b]) for a, b in
             zip(x, table.inputs(drawn, campaign.ad))]
        y = np.concatenate([np.ones(len(campaign.seed_rows), np.float32),
                            np.zeros(len(drawn), np.float32)])
        _log_drawn(campaign.aid, len(drawn), candidates)
    no_candidates = [a[:0] for a in x]
    y = y.astype(np.float32)
    diagnosed = _diagnostics(model_class, model, init_state, campaign.aid, x,
                             y, config, len(drawn) > 0, group)
    model_class.kept_passes = None
    packed, rows, _ = model_class.finetune(model, init_state, x, y,
                                           no_candidates, config, rng)
    record = dict(fine_tuning_record(model_class, y, config), **diagnosed)
    seeds_model = seed_blend.seed_model(model.maxima, x, y, config)
    import paddle
    with paddle.no_grad():
        weights = model.padded(full_weights(model, init_state, packed, rows))
    skip = np.union1d(seeds, drawn)
    chunk_rows = config.get("expand.chunk_rows")
    starts = list(range(0, len(pool), chunk_rows))
    mine = []
    for i in group.share(len(starts)):
        lo = starts[i]
        chunk = pool[lo:lo + chunk_rows]
        chunk = chunk[~np.isin(chunk, skip)]
        inputs = table.inputs(chunk, campaign.ad)
        mine.append((i, chunk, model_class.score(
            model, inputs, config, weights, padded=True),
            None if seeds_model is None else seeds_model.scores(inputs)))
        if len(mine) % 16 == 0:
            logger.info("campaign %s: scored %d of %d users", campaign.aid,
                        min(len(pool), (i + 1) * chunk_rows), len(pool))
    done = sorted(sum(group.gather(mine), []), key=lambda item: item[0])
    kept = np.concatenate([c for _, c, _, _ in done]) if done \
        else np.zeros(0, np.int64)
    score = np.concatenate([s for _, _, s, _ in done]) if done \
        else np.zeros(0, np.float32)
    if seeds_model is not None and done:
        score = seed_blend.blend(score, np.concatenate(
            [s for _, _, _, s in done]), seed_blend.weight(config))
    return _ranked(
        campaign.aid, np.asarray(table.uid[kept]), score, None, top, start,
        record, seeds=len(campaign.seed_rows),
        seed_positives=len(campaign.seed_rows) if campaign.seed_y is None
        else campaign.seed_y.sum(),
        negatives_drawn=len(drawn), seeds_excluded=int(in_pool.sum()))


def expand(config, campaigns, top, model_class=None, model=None,
           init_state=None, on_result=None, table=None, group=None):
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
    says so (``fine_tuned``).

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
    for position, campaign in enumerate(campaigns):
        if split and position % group.size != group.rank:
            continue
        outcome = _expand_one(config, campaign, top, model_class, model,
                              init_state, table, group)
        if not split:
            _report(outcome)
            if on_result and isinstance(outcome, Expansion):
                on_result(outcome)
        done.append((position, outcome))
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


def skip_record(aid, reason):
    """Why a campaign was left out, as ``expand`` returns (and the summary
    lists) it. A campaign source yields one in place of a campaign it
    cannot build, so that the skip is counted like any other."""
    return {"aid": int(aid), "reason": reason}


def _expand_one(config, campaign, top, model_class, model, init_state, table,
                group):
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
    try:
        if table is not None:
            result = expand_table_campaign(model_class, model, init_state,
                                           table, campaign, config, rng, top,
                                           group)
        else:
            result = expand_campaign(model_class, model, init_state,
                                     campaign, config, rng, top)
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
