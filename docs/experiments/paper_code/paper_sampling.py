"""The one change the paper's sampling needs on this data (pandas only,
no torch): train_stage draws .sample(batchsize) per task, which raises
on a campaign of fewer rows; those are drawn with replacement, as the
project's reader does. Used by paper_metatest.py and paper_draws.py."""
import pandas as pd


def sample_with_replacement():
    orig = pd.DataFrame.sample

    def sample(self, n=None, *a, **k):
        if n is not None and n > len(self) and not k.get("replace"):
            k["replace"] = True
        return orig(self, n, *a, **k)
    pd.DataFrame.sample = sample
