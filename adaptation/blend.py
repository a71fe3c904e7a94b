"""The blend of a campaign's fine-tuned network and its seeds' regression,
as a function of one user.

The two models' scores live on different scales (the network is
calibrated by meta-training, the regression by its own regularisation),
so each logit is standardised before they are mixed:

    z = (1 - w) (logit_net - m_net) / s_net + w (logit_reg - m_reg) / s_reg
    score = sigmoid(z)

with ``w = runner.infer_seed_blend`` and the four constants the means and
standard deviations of the two logits over the campaign's training set
(its seeds, and the negatives drawn for positives-only seeds), taken when
the campaign model is fitted. A served model then scores each user alone,
as the expansion did. The score orders users; it is not a calibrated
probability. Without a regression (``w`` 0, or seeds of one class) the
score is the network's probability.
"""
from dataclasses import dataclass

import numpy as np

# logits of probabilities closer to 0 or 1 than float32 tells apart
EPS = 1e-7


def logit(p):
    """The logit of network probabilities, clipped as float32 clips them
    (the network's and the served program's precision), so the served
    model's blend and this one agree at the extremes too."""
    p = np.clip(np.asarray(p, np.float32), np.float32(EPS),
                np.float32(1 - EPS)).astype(np.float64)
    return np.log(p) - np.log1p(-p)


def _moments(values):
    values = np.asarray(values, np.float64)
    sd = float(np.std(values)) if len(values) else 0.0
    mean = float(np.mean(values)) if len(values) else 0.0
    # a constant part (to float rounding) ranks nobody: it adds nothing
    constant = not np.isfinite(sd) or sd <= 1e-9 * max(1.0, abs(mean))
    return mean, (0.0 if constant else 1.0 / sd)


@dataclass(frozen=True)
class Blend:
    """The blend's weight and constants: ``net_scale`` is 1 / s_net (0
    when the network's logits were constant on the training set), and so
    on."""
    weight: float
    net_mean: float = 0.0
    net_scale: float = 0.0
    reg_mean: float = 0.0
    reg_scale: float = 0.0

    @classmethod
    def fit(cls, weight, net_scores, reg_logits):
        """The constants of the training set's network scores
        (probabilities) and regression logits."""
        net_mean, net_scale = _moments(logit(net_scores))
        reg_mean, reg_scale = _moments(reg_logits)
        return cls(float(weight), net_mean, net_scale, reg_mean, reg_scale)

    def __call__(self, net_scores, reg_logits):
        """The blended scores of users the network scored ``net_scores``
        (probabilities) and the regression ``reg_logits``."""
        z = (1.0 - self.weight) * (logit(net_scores) - self.net_mean) * \
            self.net_scale + \
            self.weight * (np.asarray(reg_logits, np.float64) -
                           self.reg_mean) * self.reg_scale
        return 1.0 / (1.0 + np.exp(-z))

    def record(self):
        return {"kind": "standardised logits", "seed_weight": self.weight,
                "network": {"mean": self.net_mean, "scale": self.net_scale},
                "regression": {"mean": self.reg_mean,
                               "scale": self.reg_scale}}
