"""Expand one campaign's audience: fine-tune the meta-trained model on its
seeds (``DygraphModel.fine_tune``, the meta-test's own code path), score
its candidates, rank them, and report size against quality.

A campaign is a ``dataio.campaign.Campaign`` (form 1: the seed users' four
input arrays and uids, their labels (None when the file has none), the
candidates' arrays and uids, and the candidates' labels when known, used
only for the report) or a ``dataio.campaign.TableCampaign`` (form 2: rows
of a user table). Seeds without negatives are trained against drawn ones
(audience/training_set.py). Everything here works on arrays;
``audience.sources`` builds campaigns from files, ``audience.output``
writes the results.
"""
import logging
import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from audience import training_set
from audience.exclusions import (EVERY_CANDIDATE_EXCLUDED, member,
                                 sorted_ids, union_sorted)
from audience.ranking import TOP_RULE, audience_size  # noqa: F401
from audience.training_set import CANDIDATES, OUTSIDE
from dataio.campaign import Campaign
from runkit.metrics import campaign_metrics, top_count

logger = logging.getLogger("metaheac")

# the reach curve: share of the candidates taken, best scores first
REACH = (0.01, 0.02, 0.05, 0.10, 0.20)
QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)


@dataclass
class Expansion:
    aid: int
    uid: np.ndarray         # every candidate scored (seeds left out)
    score: np.ndarray       # their scores, in candidate order
    order: np.ndarray       # positions in uid/score, best first
    audience_size: int
    summary: dict
    label: Optional[np.ndarray] = None   # the candidates', when known
    # the campaign model as a program to serve (audience/serving.py), when
    # the expansion was asked for it (``serve``); the writer saves it
    served: object = None




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
    :func:`campaign_record`)."""
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


NO_POSITIVE = ("its seeds hold no positive: it was fine-tuned on negatives "
               "only, which lowers every score and teaches no ranking; give "
               "it positive seeds, or set runner.infer_min_positives to 1 to "
               "score it by the meta-trained weights")


def fine_tuning_record(tuned, y):
    """``fine_tuned`` and, when false, ``not_fine_tuned_because``: what
    the summary (and export.json) says of a campaign fine-tuned on labels
    ``y`` (``tuned``: its ``dygraph_model.FineTuning``); a ``warning`` when
    it was fine-tuned on negatives only (``runner.infer_min_positives`` 0
    lets such seeds through)."""
    if not tuned.fine_tuned:
        return {"fine_tuned": False,
                "not_fine_tuned_because": tuned.not_fine_tuned_because}
    if not np.any(y):
        return {"fine_tuned": True, "warning": NO_POSITIVE}
    return {"fine_tuned": True}


def campaign_record(tuned, train, diagnosed=None):
    """What a summary (and export.json) says of how a campaign was
    fine-tuned (``tuned``: its ``dygraph_model.FineTuning``) on its
    training set (``train``: drawn negatives, valued seeds), and its seed
    diagnostics."""
    record = fine_tuning_record(tuned, train.y)
    record.update(diagnosed or {})
    record.update(train.record())
    return record


def seed_counts(campaign, train):
    """The seed counts a summary gives."""
    return dict(seeds=campaign.seeds, seed_positives=campaign.seed_positives,
                negatives_drawn=len(train.drawn))


def _diagnostics(model_class, model, init_state, aid, train, config,
                 group=None, tiers=None):
    """``{"diagnostics": ...}`` of the campaign's training set (``train``:
    its rows, labels and valued seeds' weights) when ``expand.diagnose``
    is on (audience/diagnostics.py), else nothing."""
    from audience import diagnostics
    if not diagnostics.enabled(config):
        return {}
    return {"diagnostics": diagnostics.diagnose(
        model_class, model, init_state, aid, train.x, train.y, config,
        len(train.drawn) > 0, group=group, weight=train.weight,
        **({} if tiers is None else {"tiers": tiers}))}


def without_seeds(campaign, excluded=None):
    """The campaign with its seeds (when their uids are one id space) and
    the ``excluded`` uids (``--exclude``) left out of its candidates, so
    neither is scored nor drawn as a negative; and how many of each were."""
    is_seed = np.isin(campaign.cand_uid, campaign.seed_uid) \
        if campaign.exclude_seeds else np.zeros(len(campaign.cand_uid), bool)
    seeds_excluded = int(is_seed.sum())
    is_excluded = ~is_seed & member(campaign.cand_uid,
                                    sorted_ids(excluded)) \
        if excluded is not None else np.zeros(len(is_seed), bool)
    if is_excluded.any() and is_excluded.sum() + seeds_excluded == \
            len(is_seed):
        raise ValueError(EVERY_CANDIDATE_EXCLUDED % is_excluded.sum())
    if seeds_excluded or is_excluded.any():
        campaign = campaign.keep_candidates(
            np.flatnonzero(~is_seed & ~is_excluded))
    return campaign, seeds_excluded, int(is_excluded.sum())


@dataclass
class TunedCampaign:
    """A campaign of feature rows fitted: what expand_campaign ranks and
    tools/export.py saves (one function, so they cannot differ)."""
    campaign: Campaign     # its seeds (and --exclude) left out of its candidates
    seeds_excluded: int
    excluded: int          # candidates left out by --exclude
    train: training_set.TrainingSet   # seeds and drawn negatives
    model: object          # its adaptation.campaign_model.CampaignModel
    scores: np.ndarray     # the candidates' scores by it

    @property
    def tuned(self):
        """The network's fine-tuning (``dygraph_model.FineTuning``)."""
        return self.model.tuned


def fine_tune_campaign(model_class, model, init_state, campaign, config,
                       rng, excluded=None, before_fit=None):
    """Leave the seeds (and ``excluded`` uids) out of the candidates, draw
    negatives if the seeds hold none, fit the campaign model (the
    meta-test's code: adaptation/campaign_model.py) and score the
    candidates. ``before_fit(train)`` sees the training set first (the
    seed diagnostics: their folds must run before the fit that
    scores)."""
    from adaptation import campaign_model
    campaign, seeds_excluded, excluded = without_seeds(campaign, excluded)
    train = training_set.training_set(
        campaign, campaign.seed_x, config.get("expand.negative_ratio"), rng,
        np.arange(len(campaign.cand_uid)),
        lambda rows: [a[rows] for a in campaign.cand_x])
    if before_fit is not None:
        before_fit(train)
    fitted, net = campaign_model.fit(
        model_class, model, init_state, train.x, train.y, campaign.cand_x,
        config, rng, train.weight)
    return TunedCampaign(campaign, seeds_excluded, excluded, train, fitted,
                         fitted.score(net, campaign.cand_x))


def served_model(model, init_state, fitted, weights=None):
    """The campaign model ``fitted`` as a program to serve: its network's
    fine-tuned rows in copies of the full tables (``weights``: those
    already), its regression and blend."""
    import paddle
    from audience.serving import ServingModel, full_weights
    with paddle.no_grad():
        if weights is None:
            weights = full_weights(model, init_state, fitted.tuned.packed,
                                   fitted.tuned.rows)
        return ServingModel(model, weights, fitted)


def expand_campaign(model_class, model, init_state, campaign, config, rng,
                    top, excluded=None, tiers=None, serve=False):
    """Fit the campaign model on the campaign's seeds, score and rank its
    candidates; ``excluded`` (uids, ``--exclude``) are no candidates:
    neither scored nor drawn as negatives."""
    start = time.time()
    diagnosed = {}

    def diagnose(train):
        diagnosed.update(_diagnostics(model_class, model, init_state,
                                      campaign.aid, train, config,
                                      tiers=tiers))
    done = fine_tune_campaign(model_class, model, init_state, campaign,
                              config, rng, excluded, diagnose)
    campaign, train = done.campaign, done.train
    expansion = _ranked(
        campaign.aid, campaign.cand_uid, done.scores, campaign.cand_y, top,
        start, campaign_record(done.tuned, train, diagnosed),
        **seed_counts(campaign, train), seeds_excluded=done.seeds_excluded,
        excluded=done.excluded)
    if serve:
        expansion.served = served_model(model, init_state, done.model)
    return expansion


def expand_table_campaign(model_class, model, init_state, table, campaign,
                          config, rng, top, group=None, excluded=None,
                          defer=False, tiers=None, serve=False):
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
    is_excluded = member(pool, excluded_rows) & ~in_pool
    left_out = int(is_excluded.sum())
    if left_out and left_out == candidates:
        raise ValueError(EVERY_CANDIDATE_EXCLUDED % left_out)
    # excluded users are no negatives either (as in form 1)
    train = table_training_set(
        table, campaign, pool[~in_pool & ~is_excluded],
        union_sorted(seeds, excluded_rows), config, rng)
    no_candidates = [a[:0] for a in train.x]
    diagnosed = _diagnostics(model_class, model, init_state, campaign.aid,
                             train, config, group, tiers)
    from adaptation import campaign_model
    fitted, _ = campaign_model.fit(model_class, model, init_state, train.x,
                                   train.y, no_candidates, config, rng,
                                   train.weight)
    tuned = fitted.tuned
    import paddle
    with paddle.no_grad():
        weights = full_weights(model, init_state, tuned.packed, tuned.rows)
    # drawn negatives stay candidates (table_training_set)
    skip = union_sorted(seeds, excluded_rows)
    from audience import batch_scoring
    job = batch_scoring.TableJob(
        campaign.aid, pool, skip, batch_scoring.CampaignNet(
            model, weights, campaign.ad, batch_scoring.Layout(model.maxima)),
        campaign.ad, None if fitted.blend is None else fitted, start,
        campaign_record(tuned, train, diagnosed), dict(
            seed_counts(campaign, train), seeds_excluded=int(in_pool.sum()),
            excluded=left_out))
    if serve:
        job.served = served_model(model, init_state, fitted, weights)
    if defer:
        return job
    (scored, ) = batch_scoring.score_jobs(table, [job], model.maxima, config,
                                          group)
    return finish_table_job(table, job, scored, top, config)


def finish_table_job(table, job, scored, top, config):
    """The Expansion of a scored :class:`batch_scoring.TableJob`:
    ``scored`` is what ``batch_scoring.score_jobs`` gives for it."""
    kept, score = scored
    expansion = _ranked(job.aid, np.asarray(table.uid[kept]), score, None,
                        top, job.start, job.record, **job.counts)
    expansion.served = job.served
    return expansion




_LAST_ROWS = []   # [(table, uids, rows)] of the last call


def _table_rows(table, uids):
    """The table rows of ``uids`` (those the table holds), sorted. The
    campaigns without rows of their own share one array of the
    exclusion file (``Exclusions.of``): its rows are looked up once, not
    per campaign (millions of customer ids)."""
    if uids is None or not len(uids):
        return np.zeros(0, np.int64)
    if _LAST_ROWS and _LAST_ROWS[0][0] is table and \
            _LAST_ROWS[0][1] is uids:
        return _LAST_ROWS[0][2]
    rows = np.asarray(table.positions(np.asarray(uids, np.int64)))
    rows = np.unique(rows[rows >= 0])
    _LAST_ROWS[:] = [(table, uids, rows)]
    return rows


def table_training_set(table, campaign, candidates, seeds, config, rng):
    """Form 2's fine-tuning set (``training_set.TrainingSet``, its drawn
    negatives as table rows): the seed rows, and for seeds without a
    negative ``expand.negative_ratio`` drawn negatives per seed. They come
    from the users of the table outside the candidates (``--candidates``
    naming fewer users than the table) when there are enough of them, else
    from the ``candidates`` (sorted rows, seeds out), who stay candidates:
    either way no candidate is lost."""
    ratio = config.get("expand.negative_ratio")
    source, pool, cap = CANDIDATES, candidates, True
    if campaign.needs_negatives:
        outside = _outside(len(table), candidates, seeds,
                           int(round(ratio * campaign.seeds)))
        if outside is not None:
            source, pool, cap = OUTSIDE, outside, False
    return training_set.training_set(
        campaign, table.inputs(campaign.seed_rows, campaign.ad), ratio, rng,
        pool, lambda rows: table.inputs(rows, campaign.ad), cap, source)


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
           exclusions=None, tiers=None, serve=False):
    """Expand every campaign; the Python entry point the CLI calls.

    ``campaigns`` is an iterable of ``dataio.campaign.Campaign`` (or, with
    a user ``table``, of ``dataio.campaign.TableCampaign``), and of
    :func:`skip_record` for campaigns their source could not build; the
    model is the checkpoint the config names unless ``model_class, model,
    init_state`` (what ``load_model`` returns) are given. A campaign with
    fewer than ``expand.min_seeds`` seeds, or no candidate, is skipped
    with a warning; one bad campaign never stops the others. Returns
    ``(expansions, skipped)``, every skip with its reason;
    ``on_result(expansion)`` is called as each campaign finishes (the CLI
    writes its files there). A campaign left with the meta-trained weights
    (``dygraph_model.why_not_fine_tuned``) is warned about, and its summary
    says so (``fine_tuned``). ``exclusions`` (``audience.exclusions``,
    ``--exclude``) names users no audience may hold; each campaign's
    summary counts its candidates left out for it (``excluded``). With
    ``serve`` each Expansion carries its campaign model as a program to
    serve (``served``; not in a collective run of feature rows, whose
    results travel between the ranks).

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
        config, model_class, model, init_state = load_model(config)
    else:
        # a model handed in has no run here to take meta-validated
        # settings from: auto keys get the fallback, logged
        from tuning import choice
        if choice.unresolved(config):
            config, _ = choice.resolved(config, None)
    split = group.active and table is None
    # every rank fits a user table's campaigns; rank 0 writes the programs
    serve_here = serve and group.leader
    if serve and split:
        raise ValueError("--export under the launcher is for a user table "
                         "(--users) only; expand feature rows with --export "
                         "in one process")
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
                              init_state, table, group, exclusions, tiers,
                              serve_here)
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
                group, exclusions=None, tiers=None, serve=False):
    """One campaign's Expansion, or the record of why it was skipped."""
    if isinstance(campaign, dict):   # skipped by its source
        return campaign
    min_seeds = config.get("expand.min_seeds")
    from dygraph_model import campaign_rng
    rng = campaign_rng(config, campaign.aid)
    seeds, candidates = campaign.seeds, campaign.candidate_count(table)
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
                                           tiers=tiers, serve=serve)
        else:
            result = expand_campaign(model_class, model, init_state,
                                     campaign, config, rng, top, excluded,
                                     tiers, serve)
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
    """(config, model_class, model, initial weights) of a checkpoint
    folder: the config a new one with the meta-test settings of its run
    (``tuning.choice.resolved``)."""
    from dygraph_model import DygraphModel
    from runkit import checkpoint, runs
    from tuning import choice
    path = path or checkpoint_path(config)
    if not os.path.exists(path):   # before any word on its settings
        raise FileNotFoundError(
            "no checkpoint %s: no model was trained there; train one first "
            "(tools/trainer.py -m config.yaml), or point "
            "runner.infer_load_path (or expand.checkpoint) at a trained "
            "run's folder" % path)
    manifest = runs.verify_checkpoint(path)   # a folder or a file in one
    # the meta-test settings: the config's, else the run's meta-validated
    config, _ = choice.resolved(config, manifest)
    model_class = DygraphModel()
    model = model_class.create_model(config)
    checkpoint.load_checkpoint(model, path, config)
    logger.info("model from %s", path)
    return config, model_class, model, {
        k: v.clone() for k, v in model.state_dict().items()}
