"""Two score dumps (npz of <set>_<aid>_score/_label) candidate by
candidate: the largest score difference, Spearman's rho, the top 5 %'s
overlap, GAUC and P@5% by the project's runkit/metrics.py and by the
paper's argpartition, ties at the k-th score, and saturated scores.
Project venv: compare.py A.npz B.npz [--per-campaign] [--set cold]"""
import sys

import numpy as np
from scipy.stats import spearmanr

from runkit.metrics import campaign_metrics, top_k


def load(path):
    z = np.load(path)
    out = {}
    for k in z.files:
        s, aid, kind = k.split("_")
        out.setdefault(s, {}).setdefault(int(aid), {})[kind] = z[k]
    return out


def argpartition_p(labels, scores, reps=200, rng=None):
    """The paper's own P@5%: argpartition of the float scores (ties broken
    by introselect); also the expected P over random tie-breaks."""
    k = int(len(labels) * 0.05)
    top = np.argpartition(scores, -k)[-k:]
    paper = labels[top].sum() / k
    # expected precision under uniformly random tie-breaking
    order = np.sort(scores)[::-1]
    thr = order[k - 1]
    above = scores > thr
    tied = scores == thr
    need = k - above.sum()
    exp = (labels[above].sum() + need * labels[tied].mean()) / k
    return paper, exp, int(tied.sum()), int(need)


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    per = "--per-campaign" in sys.argv
    sets = [s for s in ("hot", "cold") if s in a and s in b]
    if "--set" in sys.argv:
        sets = [sys.argv[sys.argv.index("--set") + 1]]
    for s in sets:
        rows = []
        for aid in sorted(a[s]):
            ya, sa = a[s][aid]["label"], a[s][aid]["score"]
            yb, sb = b[s][aid]["label"], b[s][aid]["score"]
            assert (ya == yb).all()
            ma, mb = campaign_metrics(ya, sa), campaign_metrics(yb, sb)
            if ma["auc"] is None:
                continue
            k = top_k(len(ya))
            ta = set(np.argsort(-sa, kind="stable")[:k])
            tb = set(np.argsort(-sb, kind="stable")[:k])
            pa = argpartition_p(ya, sa)
            pb = argpartition_p(yb, sb)
            rows.append(dict(aid=aid, maxdiff=float(np.abs(sa - sb).max()),
                             rho=spearmanr(sa, sb)[0], overlap=len(ta & tb) / k,
                             auc_a=ma["auc"], auc_b=mb["auc"], p_a=ma["precision"],
                             p_b=mb["precision"], pp_a=pa[0], pp_b=pb[0],
                             ties_a=pa[2], ties_b=pb[2], top_a=float(np.sort(sa)[-1]),
                             top_b=float(np.sort(sb)[-1]), kth_a=float(np.sort(sa)[-k]),
                             kth_b=float(np.sort(sb)[-k]), sat_a=int((sa >= 1 - 1e-7).sum()),
                             sat_b=int((sb >= 1 - 1e-7).sum())))
        if per:
            print("%s: aid maxdiff rho overlap | AUC a b | P a b | argpart a b | ties@k a b | top a b | kth a b" % s)
            for r in rows:
                print("%4d %.2e %.4f %.3f | %.4f %.4f | %.3f %.3f | %.3f %.3f | %d %d | %.4g %.4g | %.4g %.4g" % (
                    r["aid"], r["maxdiff"], r["rho"], r["overlap"], r["auc_a"], r["auc_b"],
                    r["p_a"], r["p_b"], r["pp_a"], r["pp_b"], r["ties_a"], r["ties_b"],
                    r["top_a"], r["top_b"], r["kth_a"], r["kth_b"]))
        m = lambda key: np.mean([r[key] for r in rows])  # noqa: E731
        d = np.array([r["p_a"] - r["p_b"] for r in rows])
        print("%s (%d campaigns): max|diff| %.2e  rho %.4f  top-5%% overlap %.3f | GAUC %.4f vs %.4f | "
              "P@5%% %.4f vs %.4f (paired diff %.4f +- %.4f se) | argpartition P %.4f vs %.4f | "
              "tied-at-k campaigns %d vs %d | saturated(>=1-1e-7) %d vs %d" % (
                  s, len(rows), max(r["maxdiff"] for r in rows), m("rho"), m("overlap"),
                  m("auc_a"), m("auc_b"), m("p_a"), m("p_b"), d.mean(),
                  d.std(ddof=1) / np.sqrt(len(d)), m("pp_a"), m("pp_b"),
                  sum(r["ties_a"] > 1 for r in rows), sum(r["ties_b"] > 1 for r in rows),
                  sum(r["sat_a"] for r in rows), sum(r["sat_b"] for r in rows)))


if __name__ == "__main__":
    main()
