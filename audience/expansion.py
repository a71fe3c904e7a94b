"""Expand campaigns' audiences, one sequence for both input forms:
prepare a campaign's seeds (its seeds and exclusions out of the candidate
pool, negatives drawn when the seeds hold none: audience/training_set.py),
fit its campaign model (adaptation/campaign_model.py: the network
fine-tuned, the seeds' regression, their blend), score the pool, rank
(``--top`` or tiers) and report size against quality; tools/expand.py
writes each campaign as :func:`expansions` yields it.

A campaign is a ``dataio.campaign.Campaign`` (form 1: the seed users' four
input arrays and uids, their labels (None when the file has none), the
candidates' arrays and uids, and the candidates' labels when known, used
only for the report) or a ``dataio.campaign.TableCampaign`` (form 2: rows
of a user table); its candidates are an ``ArrayPool`` or a ``TablePool``
(audience/pools.py). Everything here works on arrays; ``audience.sources``
builds campaigns from files, ``audience.output`` writes the results.
"""
import logging
import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from audience import training_set
from audience.exclusions import EVERY_CANDIDATE_EXCLUDED  # noqa: F401
from audience.pools import ArrayPool, Fit, TablePool
from audience.ranking import (TOP_RULE, audience_size,  # noqa: F401
                              parse_top, parse_top_users)
from dataio.campaign import Skipped
from runkit.metrics import campaign_metrics, top_count

logger = logging.getLogger("metaheac")

# the reach curve: share of the candidates taken (a fraction), best scores
# first
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
    # with ``serve``: the campaign model (adaptation/campaign_model.py,
    # weights as numpy: see ``portable``), and on rank 0 that model as a
    # program to serve (audience/serving.py), which the writer saves
    fitted: object = None
    served: object = None



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
        curve.append({"top_fraction": share, "size": k,
                      "precision": precision,
                      "recall": hits / positives if positives else None,
                      "lift": precision / base if base else None})
    return base, curve


def _ranked(aid, uid, score, labels, top, start, record, tiers=None,
            **counts):
    """The Expansion of scored candidates: ranking, sizes, the report
    (``record``: how the campaign was fine-tuned, see
    :func:`campaign_record`; ``tiers``: the --tiers percentages, each
    tier's size and precision)."""
    # stable: ties keep the candidates' order, so runs are reproducible
    order = np.argsort(-score, kind="stable")
    size = audience_size(top, len(score))
    if isinstance(top, int) and size < top:
        logger.warning("campaign %s: --top-users %d but only %d candidates: "
                       "the audience is all of them", aid, top, len(score))
    summary = {"aid": int(aid)}
    # counts are whole numbers; the seeds' value sum and mean are not
    summary.update({k: v if v is None or isinstance(v, float) else int(v)
                    for k, v in counts.items()})
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
    expansion = Expansion(int(aid), uid, score, order, size, summary, labels)
    if tiers:
        from audience.tiers import summarize
        summary["tiers"] = summarize(expansion, tiers)
    return expansion


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
    """The seed counts a summary gives; with valued seeds, their values'
    sum and mean (``seed_value_sum``, ``seed_value_mean``: None when the
    sum overflows a float)."""
    counts = dict(seeds=campaign.seeds, seed_positives=campaign.seed_positives,
                  negatives_drawn=len(train.drawn))
    value = getattr(campaign, "seed_value", None)
    if value is not None and len(value):
        with np.errstate(over="ignore"):
            total = float(np.sum(np.asarray(value, np.float64)))
        finite = np.isfinite(total)
        counts.update(seed_value_sum=total if finite else None,
                      seed_value_mean=total / len(value) if finite else None)
    return counts


def _diagnostics(meta, aid, train, config, group=None, tiers=None):
    """``{"diagnostics": ...}`` of the campaign's training set (``train``:
    its rows, labels and valued seeds' weights) when ``expand.diagnose``
    is on (audience/diagnostics.py), else nothing."""
    from audience import diagnostics
    if not diagnostics.enabled(config):
        return {}
    model_class, model, init_state = meta
    return {"diagnostics": diagnostics.diagnose(
        model_class, model, init_state, aid, train.x, train.y, config,
        len(train.drawn) > 0, group=group, weight=train.weight,
        **({} if tiers is None else {"tiers": tiers}))}


def without_seeds(campaign, excluded=None):
    """The campaign of feature rows with its seeds (when their uids are one
    id space) and the ``excluded`` uids (``--exclude``) left out of its
    candidates, so neither is scored nor drawn as a negative; and how many
    of each were."""
    kept = ArrayPool().candidates(campaign, excluded)
    return kept.campaign, kept.seeds_removed, kept.excluded


def fit_campaign(config, meta, pool, campaign, excluded=None, group=None,
                 tiers=None, diagnose=True):
    """Prepare and adapt one campaign of ``pool`` (``meta``: the
    meta-trained ``(model_class, model, init_state)``): its seeds and the
    ``excluded`` uids (``--exclude``) out of its candidates, its training
    set (negatives drawn if the seeds hold none: one rule for both pools,
    ``training_set.of_pool``), its seed diagnostics (``expand.diagnose``;
    their folds run before the fit, on their own streams; not with
    ``diagnose`` False, which changes no score) and its campaign
    model (adaptation/campaign_model.py). Returns a ``pools.Fit``, to be
    scored by ``pool.score``. What tools/expand.py ranks and
    tools/export.py serves (one function, so they cannot differ)."""
    from dygraph_model import campaign_rng
    start = time.time()
    rng = campaign_rng(config, campaign.aid)   # the campaign's own stream
    candidates = pool.candidates(campaign, excluded)
    train = training_set.of_pool(pool, candidates, config, rng)
    diagnosed = _diagnostics(meta, campaign.aid, train, config,
                             group if pool.shared else None, tiers) \
        if diagnose else {}
    model, scoring = pool.fit(meta, candidates, train, config, rng)
    return Fit(candidates, train, model,
               campaign_record(model.tuned, train, diagnosed),
               dict(seed_counts(candidates.campaign, train),
                    seeds_removed_from_candidates=candidates.seeds_removed,
                    excluded=candidates.excluded), start, scoring)


def portable(fitted):
    """The campaign model ``fitted`` with its fine-tuned weights as numpy
    arrays: it travels between the ranks of a collective run (pickled)
    and rank 0 builds its program (:func:`served_model`)."""
    import dataclasses
    tuned = fitted.tuned
    packed = None if tuned.packed is None else {
        k: v if isinstance(v, np.ndarray) else v.detach().numpy()
        for k, v in tuned.packed.items()}
    return dataclasses.replace(fitted, tuned=dataclasses.replace(
        tuned, packed=packed, cand_x=None))


def served_model(model, init_state, fitted):
    """The campaign model ``fitted`` as a program to serve: its network's
    fine-tuned rows in copies of the full tables, its regression and
    blend."""
    import paddle
    from audience.serving import ServingModel, full_weights
    tuned = fitted.tuned
    with paddle.no_grad():
        packed = {k: paddle.to_tensor(v) if isinstance(v, np.ndarray) else v
                  for k, v in tuned.packed.items()}
        weights = full_weights(model, init_state, packed, tuned.rows)
        return ServingModel(model, weights, fitted)


def pool_of(model, table=None):
    """The candidate pool of a run: a user table's rows, or each
    campaign's own feature rows."""
    return ArrayPool() if table is None else TablePool(table, model.maxima)


def _outcome(config, meta, pool, campaign, group, exclusions, tiers):
    """One campaign's ``pools.Fit``, or why it is :class:`Skipped`."""
    if isinstance(campaign, Skipped):   # skipped by its source
        return campaign
    min_seeds = config.get("expand.min_seeds")
    seeds = campaign.seeds
    if seeds < min_seeds:
        return Skipped(campaign.aid, (
            "%d seeds, fewer than expand.min_seeds %d: give it more seeds, "
            "or lower expand.min_seeds" % (seeds, min_seeds)))
    if pool.count(campaign) == 0:
        return Skipped(campaign.aid, "no candidates to score")
    excluded = None if exclusions is None else exclusions.of(campaign.aid)
    try:
        fit = fit_campaign(config, meta, pool, campaign, excluded, group,
                           tiers)
    except (ValueError, FloatingPointError) as exc:
        return Skipped(campaign.aid, str(exc))
    return fit


def _scored(batch, pool, config, group, top, tiers, serve):
    """``[(position, outcome)]`` of ``batch`` (positions of fits and skips,
    in campaign order): the fits scored together (``pool.score``: one
    pass over a user table) and ranked."""
    fits = [f for _, f in batch if isinstance(f, Fit)]
    scored = dict(zip(map(id, fits), pool.score(fits, config, group)))
    out = []
    for position, item in batch:
        if isinstance(item, Fit):
            uid, score, label = scored[id(item)]
            fitted = item.model
            item = _ranked(item.aid, uid, score, label, top, item.start,
                           item.record, tiers, **item.counts)
            if serve:
                item.fitted = portable(fitted)
        out.append((position, item))
    return out


def expansions(config, campaigns, top, model_class=None, model=None,
               init_state=None, table=None, group=None, exclusions=None,
               tiers=None, serve=False):
    """Each campaign's :class:`Expansion`, or why it was :class:`Skipped`,
    in campaign order, as each is done: one sequence for both input forms
    (prepare the seeds, fit the campaign model, score the candidate pool,
    rank), the pool (audience/pools.py) being each campaign's own feature
    rows or a user ``table``'s rows.

    ``campaigns`` is an iterable of ``dataio.campaign.Campaign`` (or, with
    a user ``table``, of ``dataio.campaign.TableCampaign``), and of
    ``Skipped`` for campaigns their source could not build; the model is
    the checkpoint the config names unless ``model_class, model,
    init_state`` (what ``load_model`` returns) are given. A campaign with
    fewer than ``expand.min_seeds`` seeds, or no candidate, is skipped
    with a warning; one bad campaign never stops the others. A campaign
    left with the meta-trained weights
    (``dygraph_model.why_not_fine_tuned``) is warned about, and its summary
    says so (``fine_tuned``). ``exclusions`` (``audience.exclusions``,
    ``--exclude``) names users no audience may hold; each campaign's
    summary counts its candidates left out for it (``excluded``).
    ``tiers``: the ``--tiers`` percentages, summarised per campaign. With
    ``serve`` each Expansion carries its campaign model (``fitted``) and,
    on rank 0, that model as a program to serve (``served``).

    Each campaign has its own random stream (``runner.seed`` and its aid),
    so its audience does not depend on the other campaigns. A user
    table's campaigns are fitted a few at a time (``pool.per_pass``) and
    scored together in one pass over the table. In a collective run
    (``group``, runkit/distributed.py) the campaigns of feature rows are
    split across the ranks and gathered at the end, a user table's chunks
    are split within each pass; every rank yields every campaign, rank 0
    logs them.
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
    meta = (model_class, model, init_state)
    pool = pool_of(model, table)
    split = group.active and not pool.shared
    progress = _progress(campaigns, group if split else None)

    def passes():
        """This rank's ``[(position, outcome)]``, one pass at a time."""
        batch = []
        for position, campaign in enumerate(campaigns):
            if split and position % group.size != group.rank:
                continue
            batch.append((position, _outcome(config, meta, pool, campaign,
                                             group, exclusions, tiers)))
            progress.step()
            if sum(isinstance(b, Fit) for _, b in batch) >= pool.per_pass:
                yield _scored(batch, pool, config, group, top, tiers, serve)
                batch = []
        yield _scored(batch, pool, config, group, top, tiers, serve)

    def done(outcomes):
        for _, outcome in outcomes:
            if group.leader:
                _report(outcome)
                if serve and isinstance(outcome, Expansion):
                    # rank 0 writes the programs, whoever fitted them
                    outcome.served = served_model(model, init_state,
                                                  outcome.fitted)
            yield outcome

    if not split:
        for outcomes in passes():
            yield from done(outcomes)
        return
    mine = sum(passes(), [])
    # rank 0 logs every campaign, in order, as one process would
    yield from done(sorted(sum(group.gather(mine), []), key=lambda d: d[0]))


def _progress(campaigns, split=None):
    """The expansion's progress over ``campaigns`` (its ETA when their
    count is known: ``audience.sources.Campaigns``); ``split``: the group
    of a collective run whose ranks share the campaigns, each counting
    its own."""
    from runkit.progress import Progress, counted
    total = counted(campaigns)
    if split is not None and total is not None:
        total = len(range(split.rank, total, split.size))
    return Progress(total, "expansion%s" % (
        " (this process's share)" if split is not None else ""),
        "campaigns fitted")


def expand(config, campaigns, top, model_class=None, model=None,
           init_state=None, table=None, group=None, exclusions=None,
           tiers=None, serve=False):
    """:func:`expansions`, collected: ``(expansions, skipped)``, every
    skip with its reason. The Python entry point (in a notebook:
    ``expand(config, frame_campaigns(seeds_df, candidates_df, config),
    0.05)``)."""
    results, skipped = [], []
    for outcome in expansions(config, campaigns, top, model_class, model,
                              init_state, table, group, exclusions, tiers,
                              serve):
        (results if isinstance(outcome, Expansion) else skipped).append(
            outcome)
    return results, skipped

def _report(outcome):
    """The log line of one campaign: its expansion, or why it was skipped."""
    if isinstance(outcome, Skipped):
        logger.warning("campaign %s skipped: %s", outcome.aid, outcome.reason)
        return
    s = outcome.summary
    if not s["fine_tuned"]:
        logger.warning("campaign %s: not fine-tuned (%s): its candidates are "
                       "scored by the meta-trained weights", s["aid"],
                       s["not_fine_tuned_because"])
    d = s.get("diagnostics")
    # one warning line per campaign, its seeds' and its diagnostics' both;
    # the diagnostics warn only when the seeds are judged not distinctive:
    # too few seeds to judge is said at INFO, not as an alarm
    warnings = [w for w in (s.get("warning"), d and d.get("warning")) if w]
    if warnings:
        logger.warning("campaign %s: %s", s["aid"], "; ".join(warnings))
    if d and not d.get("warning") and d.get("note"):
        logger.info("campaign %s: %s", s["aid"], d["note"])
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
