"""Sane random weights for a detector: BN statistics from the layers' own inputs and class scores
spread above the score threshold, so that random-init models do the full work of trained ones."""

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d as TorchvisionFrozenBatchNorm2d

from maskrcnn_benchmark.layers import FrozenBatchNorm2d


def _has_statistics(module):
    return (
        isinstance(module, (FrozenBatchNorm2d, TorchvisionFrozenBatchNorm2d, nn.modules.batchnorm._BatchNorm))
        and getattr(module, "running_mean", None) is not None
    )


@torch.no_grad()
def calibrate_norm_statistics(model, run):
    """Set the statistics of every BN-like layer (frozen or not) of `model` to the per-channel mean
    and variance of its own input during `run()`, which must do one forward pass in eval mode.

    The layers are set in the order the pass reaches them, so each one normalises inputs that the
    layers before it already normalise. Returns the number of layers set.
    """

    def set_from_input(module, inputs):
        x = inputs[0].detach().float()
        dims = [d for d in range(x.dim()) if d != 1]
        module.running_mean.copy_(x.mean(dims))
        module.running_var.copy_(x.var(dims, unbiased=False))

    handles = [m.register_forward_pre_hook(set_from_input) for m in model.modules() if _has_statistics(m)]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return len(handles)


@torch.no_grad()
def spread_class_scores(cls_score, run, logit_std=2.5):
    """Rescale the class-score layer so that its logits have standard deviation `logit_std` on the
    features seen during `run()`: with the default init every softmax score is ~1/num_classes,
    below the 0.05 threshold, and inference would stop before the detection NMS."""
    seen = []
    handle = cls_score.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach()))
    try:
        run()
    finally:
        handle.remove()
    if not seen or seen[0].numel() == 0:
        raise RuntimeError("spread_class_scores: the box predictor got no features (no proposals)")
    x = torch.cat([s.float().flatten(1) for s in seen])
    std = (x @ cls_score.weight.float().t()).std().item()
    cls_score.weight.mul_(logit_std / max(std, 1e-12))
    nn.init.zeros_(cls_score.bias)
