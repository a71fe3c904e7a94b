"""Summary documents (summary.json of tools/expand.py) made by hand, one
campaign per case a report or a reach picture must tell apart, so that
their tests need no model."""


def diagnostics(distinctive=True, lift=2.5, base=0.25, auc=0.8,
                interval=(0.7, 0.9), tiers=(1, 2, 5, 10)):
    """A campaign's ``diagnostics`` record: ``distinctive`` None is the
    "too few seeds" record (no figures)."""
    if distinctive is None:
        return {"folds": 5, "positives": 3, "negatives": 23,
                "negatives_from": "seeds", "auc": None, "auc_interval": None,
                "precision_at": None, "distinctive": None,
                "warning": "too few seeds to say whether they are "
                           "distinctive: 3 positive and 23 negative"}
    record = {"folds": 5, "positives": 40, "negatives": 60,
              "negatives_from": "seeds", "auc": auc,
              "auc_interval": list(interval),
              "precision_at": {"%g" % t: lift * base for t in tiers},
              "base_rate": base,
              "lift_at": {"%g" % t: lift for t in tiers},
              "distinctive": distinctive}
    if not distinctive:
        record["warning"] = "seeds not distinctive"
    return record


def campaign(aid, candidates=1000, audience=50, seeds=100, positives=40,
             diagnosed=None, measured_lift=None, base=0.1, **extra):
    """A campaign record; ``measured_lift``: the candidates are labelled
    and every reach point has this lift."""
    record = {"aid": aid, "seeds": seeds, "seed_positives": positives,
              "negatives_drawn": 0, "seeds_excluded": 0, "excluded": 0,
              "fine_tuned": True, "candidates": candidates,
              "audience": audience, "seconds": 0.5}
    if diagnosed is not None:
        record["diagnostics"] = diagnosed
    if measured_lift is not None:
        record["auc"] = 0.75
        record["base_rate"] = base
        record["reach"] = [
            {"top": share, "size": max(1, int(share * candidates)),
             "precision": measured_lift * base, "recall": 0.1,
             "lift": measured_lift}
            for share in (0.01, 0.02, 0.05, 0.1, 0.2)]
    record.update(extra)
    return record


def summary(campaigns, skipped=(), **extra):
    document = {"tool": "expand", "top": 0.05, "min_seeds": 10,
                "negative_ratio": 3.0, "campaigns": list(campaigns),
                "skipped": [{"aid": a, "reason": r} for a, r in skipped]}
    document.update(extra)
    return document


def every_case():
    """One campaign per verdict, and a skipped one."""
    return summary([
        campaign(1, measured_lift=2.6),                        # ranks well
        campaign(2, measured_lift=1.2),                        # a little
        campaign(3, measured_lift=0.9),                        # random
        campaign(4, diagnosed=diagnostics(True, lift=3.0)),    # expected well
        campaign(5, diagnosed=diagnostics(True, lift=1.2)),    # expected, weak
        campaign(6, diagnosed=diagnostics(False, lift=1.0, auc=0.52,
                                          interval=(0.4, 0.64))),
        campaign(7, diagnosed=diagnostics(None)),              # too few seeds
        campaign(8),                                           # nothing known
    ], skipped=[(9, "4 seeds, fewer than expand.min_seeds 10")])
