"""Feature Pyramid Network (Lin et al., 2017) on top of a body's C2..C5 outputs."""

import torch.nn.functional as F
from torch import nn

from maskrcnn_benchmark.layers import make_norm


def _fpn_conv(in_channels, out_channels, kernel_size, stride=1, norm="", relu=False):
    """Conv with Caffe2's "XavierFill" (Kaiming uniform, a=1), bias only without norm."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=norm == "")
    nn.init.kaiming_uniform_(conv.weight, a=1)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    if not norm and not relu:
        return conv
    layers = [conv]
    if norm:
        layers.append(make_norm(norm, out_channels))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class FPN(nn.Module):
    """Top-down pathway with lateral connections.

    Each input level gets a 1x1 lateral ("inner") conv; from the coarsest level down, the running
    map is upsampled (nearest) to the next lateral's size and added to it, and a 3x3 ("layer") conv
    gives that level's output. An `in_channels_list` entry of 0 skips that input (RetinaNet builds
    P3..P5 from C3..C5 of a body that also returns C2). `top_blocks` adds coarser levels from the
    last used input and the last output: forward(c_last, p_last) -> list of maps.
    """

    def __init__(self, in_channels_list, out_channels, norm="", top_blocks=None, relu=False):
        super().__init__()
        self.in_indices = [i for i, c in enumerate(in_channels_list) if c > 0]
        if not self.in_indices:
            raise ValueError(f"FPN needs at least one input level, got in_channels_list {list(in_channels_list)}")
        self.inner_blocks = nn.ModuleList(
            _fpn_conv(in_channels_list[i], out_channels, 1, norm=norm, relu=relu) for i in self.in_indices
        )
        self.layer_blocks = nn.ModuleList(
            _fpn_conv(out_channels, out_channels, 3, norm=norm, relu=relu) for _ in self.in_indices
        )
        self.top_blocks = top_blocks
        self.out_channels = out_channels

    def forward(self, x):
        features = [x[i] for i in self.in_indices]
        last_inner = self.inner_blocks[-1](features[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for feature, inner, layer in zip(features[-2::-1], self.inner_blocks[-2::-1], self.layer_blocks[-2::-1]):
            lateral = inner(feature)
            top_down = F.interpolate(last_inner, size=lateral.shape[-2:], mode="nearest")
            last_inner = lateral + top_down
            results.insert(0, layer(last_inner))
        if self.top_blocks is not None:
            results.extend(self.top_blocks(features[-1], results[-1]))
        return results


class LastLevelMaxPool(nn.Module):
    """P6 as a stride-2 subsampling of P5 (Faster/Mask R-CNN FPN)."""

    def forward(self, c_last, p_last):
        return [F.max_pool2d(p_last, kernel_size=1, stride=2, padding=0)]


class LastLevelP6P7(nn.Module):
    """RetinaNet's P6 (3x3/2 conv) and P7 (ReLU, 3x3/2 conv).

    P6 is computed from C5 when its channels differ from the FPN width (`in_channels` !=
    `out_channels`), otherwise from P5; `use_c5` overrides that guess.
    """

    def __init__(self, in_channels, out_channels, use_c5=None):
        super().__init__()
        self.p6 = _fpn_conv(in_channels, out_channels, 3, stride=2)
        self.p7 = _fpn_conv(out_channels, out_channels, 3, stride=2)
        self.use_c5 = in_channels != out_channels if use_c5 is None else use_c5

    def forward(self, c_last, p_last):
        p6 = self.p6(c_last if self.use_c5 else p_last)
        p7 = self.p7(F.relu(p6))
        return [p6, p7]


class BackboneWithFPN(nn.Module):
    """A body followed by an FPN; keyword arguments of forward (e.g. `arch` for a supernet) go to
    the body. `is_supernet` is the body's."""

    def __init__(self, body, fpn, out_channels):
        super().__init__()
        self.body = body
        self.fpn = fpn
        self.out_channels = out_channels

    @property
    def is_supernet(self):
        return bool(getattr(self.body, "is_supernet", False))

    def forward(self, x, **kwargs):
        return self.fpn(self.body(x, **kwargs))
