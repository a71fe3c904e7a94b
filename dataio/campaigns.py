"""Row index of each campaign (aid) in a stage, built once with a sort."""
import numpy as np


class CampaignIndex:
    def __init__(self, aid):
        self.order = np.argsort(aid, kind="stable")
        self.aids, self.starts, self.counts = np.unique(
            aid[self.order], return_index=True, return_counts=True)

    def rows(self, k):
        """Row numbers of the k-th campaign (in ``self.aids`` order)."""
        start = self.starts[k]
        return self.order[start:start + self.counts[k]]

    def position(self, aid):
        k = int(np.searchsorted(self.aids, aid))
        if k == len(self.aids) or self.aids[k] != aid:
            return None
        return k
