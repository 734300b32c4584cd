"""Analytic FLOPs of a DetNAS body, without building a model.

"FLOPs" here is what the DetNAS paper calls the backbone size (300M, 1.3G, 3.8G): multiply-adds of
the convolutions of the body (stem + choice blocks) at a square 224x224 input, each conv counted as
out_h * out_w * out_channels * (in_channels / groups) * kh * kw. BatchNorm, ReLU, the channel split
and the concatenation are not counted, nor is anything after the last stage (ImageNet classifier
head, FPN). The original release's ImageNet sampling bins (290M-360M for 300M) also counted its
classifier's 1x1 conv to 1024 channels and the FC layer; the body-only count puts the released
300M architectures at 288M and 291M.

Every choice block's cost depends only on its position and the input size, so a table of
per-position, per-choice costs is built once per (size, input size) and an architecture's FLOPs is
a sum of table lookups.
"""

from functools import lru_cache

from .arch import parse_arch
from .search_space import CHOICE_KERNELS, CHOICE_NAMES, get_search_space


def _out_size(h, stride):
    # Every conv here pads k // 2 with an odd kernel: the output is ceil(h / stride).
    return (h - 1) // stride + 1


def _conv(out_hw, in_ch, out_ch, k, groups=1):
    return out_hw[0] * out_hw[1] * out_ch * (in_ch // groups) * k * k


def block_flops(in_ch, out_ch, stride, choice, in_hw):
    """Conv multiply-adds of one choice block (see detnas.py for the unit layout)."""
    out_hw = (_out_size(in_hw[0], stride), _out_size(in_hw[1], stride))
    mid = out_ch // 2
    if stride == 2:
        branch_in, branch_out = in_ch, out_ch - in_ch
    else:
        branch_in, branch_out = out_ch // 2, out_ch // 2
    k = CHOICE_KERNELS[choice]
    if CHOICE_NAMES[choice].startswith("shufflenet"):
        # 1x1 at the input resolution, depthwise kxk (stride), 1x1
        flops = (
            _conv(in_hw, branch_in, mid, 1) + _conv(out_hw, mid, mid, k, groups=mid) + _conv(out_hw, mid, branch_out, 1)
        )
    else:
        # three (depthwise 3x3, 1x1) units, the stride on the first depthwise conv
        flops = (
            _conv(out_hw, branch_in, branch_in, 3, groups=branch_in)
            + _conv(out_hw, branch_in, mid, 1)
            + _conv(out_hw, mid, mid, 3, groups=mid)
            + _conv(out_hw, mid, mid, 1)
            + _conv(out_hw, mid, mid, 3, groups=mid)
            + _conv(out_hw, mid, branch_out, 1)
        )
    if stride == 2:
        # projection branch: depthwise kxk stride 2, 1x1
        flops += _conv(out_hw, in_ch, in_ch, k, groups=in_ch) + _conv(out_hw, in_ch, in_ch, 1)
    return flops


def _input_hw(input_size):
    if isinstance(input_size, int):
        hw = (input_size, input_size)
    else:
        hw = tuple(int(v) for v in input_size)
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"input_size must be an int or (height, width) >= 1, got {input_size!r}")
    return hw


@lru_cache(maxsize=64)
def flops_table(size, input_size=224):
    """(stem FLOPs, per-block tuple of per-choice FLOPs) for a size preset and input size."""
    space = get_search_space(size)
    hw = _input_hw(input_size)
    hw = (_out_size(hw[0], 2), _out_size(hw[1], 2))
    stem = _conv(hw, 3, space.stem_channels, 3)
    rows = []
    for in_ch, out_ch, stride in space.block_specs():
        rows.append(tuple(block_flops(in_ch, out_ch, stride, c, hw) for c in range(space.num_choices)))
        hw = (_out_size(hw[0], stride), _out_size(hw[1], stride))
    return stem, tuple(rows)


def count_flops(size, arch, input_size=224):
    """Conv multiply-adds of the DetNAS body of `size` with architecture `arch` (anything
    parse_arch accepts) at a square input of `input_size` (or an (h, w) pair)."""
    if not isinstance(input_size, int):
        input_size = _input_hw(input_size)  # hashable for the cache
    stem, rows = flops_table(size, input_size)
    arch = parse_arch(arch, size)
    return stem + sum(row[c] for row, c in zip(rows, arch))


def flops_range(size, input_size=224):
    """(min, max) FLOPs over the whole search space of `size` (blocks are independent)."""
    if not isinstance(input_size, int):
        input_size = _input_hw(input_size)
    stem, rows = flops_table(size, input_size)
    return stem + sum(min(r) for r in rows), stem + sum(max(r) for r in rows)
