"""Sigmoid focal loss (Lin et al., RetinaNet) over class logits with integer labels, fused in C++/CUDA."""

from torch import nn

from ._ops import ops


def sigmoid_focal_loss(logits, labels, gamma, alpha):
    """Per-element loss `[N, C]` for `logits[N, C]` and `labels[N]` (int).

    Label 0 is background (all C columns negative), k in 1..C makes column k-1 the positive, -1 ignores the
    row (loss 0, gradient 0). Equals `torchvision.ops.sigmoid_focal_loss(logits, one_hot, alpha, gamma,
    reduction="none")` with the one-hot targets of the labels; `alpha < 0` disables the class weighting.
    """
    return ops.sigmoid_focal_loss(logits, labels, float(gamma), float(alpha))


class SigmoidFocalLoss(nn.Module):
    """The summed sigmoid focal loss (normalise by the number of positives outside, as RetinaNet does)."""

    def __init__(self, gamma, alpha):
        super().__init__()
        self.gamma = float(gamma)
        self.alpha = float(alpha)

    def forward(self, logits, labels):
        return sigmoid_focal_loss(logits, labels, self.gamma, self.alpha).sum()

    def extra_repr(self):
        return f"gamma={self.gamma}, alpha={self.alpha}"
