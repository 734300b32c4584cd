"""Small building blocks shared by the detector: the box loss, normalisation and initialised layers."""

import torch.nn.functional as F
from torch import nn

from .batch_norm import FrozenBatchNorm2d
from .sync_batch_norm import SyncBatchNorm2d

NORM_KINDS = ("", "BN", "SyncBN", "GN", "FrozenBN")


def smooth_l1_loss(input, target, beta=1.0 / 9, size_average=True):
    """Huber-style box loss: 0.5 * d**2 / beta where |d| < beta, |d| - 0.5 * beta elsewhere.

    `size_average=False` returns the sum, which the heads divide by their own normaliser.
    """
    return F.smooth_l1_loss(input, target, reduction="mean" if size_average else "sum", beta=beta)


def make_norm(kind, num_channels, num_groups=32, eps=1e-5):
    """Normalisation layer over `num_channels` feature maps.

    kind: "" (no normalisation: nn.Identity), "BN" (nn.BatchNorm2d), "SyncBN" (SyncBatchNorm2d:
    statistics pooled over processes on any backend, gloo on CPU included; BatchNorm2d outside a
    distributed run), "GN" (nn.GroupNorm with `num_groups` groups) or "FrozenBN"
    (FrozenBatchNorm2d).
    """
    if kind == "":
        return nn.Identity()
    if kind == "BN":
        return nn.BatchNorm2d(num_channels, eps=eps)
    if kind == "SyncBN":
        return SyncBatchNorm2d(num_channels, eps=eps)
    if kind == "FrozenBN":
        return FrozenBatchNorm2d(num_channels, eps=eps)
    if kind == "GN":
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: {num_channels} channels cannot be split into {num_groups} "
                f"groups; use a channel count divisible by {num_groups}"
            )
        return nn.GroupNorm(num_groups, num_channels, eps=eps)
    raise ValueError(f"unknown normalisation kind {kind!r}; expected one of {NORM_KINDS}")


def make_conv3x3(in_channels, out_channels, stride=1, dilation=1, norm="", relu=False, kaiming_init=True):
    """3x3 convolution (+ norm) (+ ReLU), padded to keep the size at stride 1.

    The convolution has a bias only without normalisation (a norm's shift makes it redundant).
    Weights: Kaiming normal (fan_out, ReLU gain), or N(0, 0.01) with `kaiming_init=False`.
    """
    conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=norm == "")
    if kaiming_init:
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    else:
        nn.init.normal_(conv.weight, std=0.01)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    layers = [conv]
    if norm:
        layers.append(make_norm(norm, out_channels))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def make_fc(in_features, out_features):
    """Fully connected layer with Caffe2's "XavierFill" (Kaiming uniform with a=1) and zero bias."""
    fc = nn.Linear(in_features, out_features)
    nn.init.kaiming_uniform_(fc.weight, a=1)
    nn.init.zeros_(fc.bias)
    return fc
