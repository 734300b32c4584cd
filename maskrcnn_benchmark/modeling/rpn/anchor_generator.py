"""Anchors: reference boxes tiled over every feature-map position of every pyramid level."""

import torch
from torch import nn


def cell_anchors(sizes, aspect_ratios):
    """Anchors [len(aspect_ratios) * len(sizes), 4] centred at (0, 0), ratio-major.

    An anchor of size s and aspect ratio r (= height / width) has area s**2:
    width s / sqrt(r), height s * sqrt(r). Coordinates are continuous and not rounded.
    """
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float64)
    sizes = torch.as_tensor(sizes, dtype=torch.float64)
    widths = (sizes[None, :] / ratios.sqrt()[:, None]).reshape(-1)
    heights = (sizes[None, :] * ratios.sqrt()[:, None]).reshape(-1)
    return torch.stack([-widths, -heights, widths, heights], dim=1) / 2


def grid_anchors(cell, grid_size, stride, offset):
    """Tile `cell` [A, 4] over a (height, width) grid of `stride` pixels -> [height * width * A, 4].

    Position (y, x) centres its anchors at ((x + offset) * stride, (y + offset) * stride); the order
    is y-major, then x, then anchor, matching a head output [N, A, H, W] permuted to [N, H, W, A].
    """
    height, width = grid_size
    device, dtype = cell.device, cell.dtype
    shift_x = (torch.arange(width, device=device, dtype=dtype) + offset) * stride
    shift_y = (torch.arange(height, device=device, dtype=dtype) + offset) * stride
    shift_y, shift_x = torch.meshgrid(shift_y, shift_x, indexing="ij")
    shifts = torch.stack([shift_x, shift_y, shift_x, shift_y], dim=-1).reshape(-1, 1, 4)
    return (shifts + cell[None]).reshape(-1, 4)


def anchor_visibility(anchors, image_sizes, straddle_thresh):
    """[N, A] bool: anchor lies inside image i, allowing `straddle_thresh` pixels outside (a
    negative threshold keeps every anchor). image_sizes: list of (height, width)."""
    num_images = len(image_sizes)
    if straddle_thresh < 0:
        return torch.ones((num_images, anchors.shape[0]), dtype=torch.bool, device=anchors.device)
    sizes = torch.as_tensor(image_sizes, dtype=anchors.dtype, device=anchors.device)
    heights, widths = sizes[:, :1], sizes[:, 1:]
    return (
        (anchors[None, :, 0] >= -straddle_thresh)
        & (anchors[None, :, 1] >= -straddle_thresh)
        & (anchors[None, :, 2] <= widths + straddle_thresh)
        & (anchors[None, :, 3] <= heights + straddle_thresh)
    )


class AnchorGenerator(nn.Module):
    """Anchors for each pyramid level: `sizes[l]` x `aspect_ratios` at every position of level l,
    whose stride is `strides[l]`.

    `offset` places anchor centres within each stride x stride cell: 0.5 is the cell centre, the
    geometry of maskrcnn-benchmark's anchors (torchvision and detectron2 use 0). Anchors depend only
    on the feature-map sizes, not on the image content, so one set serves the whole batch; the
    last few sets are cached.
    """

    _CACHE_SIZE = 8

    def __init__(self, sizes, aspect_ratios, strides, offset=0.5):
        super().__init__()
        sizes = [tuple(s) if isinstance(s, (tuple, list)) else (s,) for s in sizes]
        if len(sizes) != len(strides):
            raise ValueError(
                f"AnchorGenerator: {len(sizes)} anchor size groups for {len(strides)} strides; give one group per level"
            )
        self.strides = tuple(strides)
        self.offset = offset
        self.sizes = sizes
        self.aspect_ratios = tuple(aspect_ratios)
        self.cell_anchors = [cell_anchors(s, aspect_ratios).float() for s in sizes]
        self._cache = {}

    def num_anchors_per_location(self):
        return [c.shape[0] for c in self.cell_anchors]

    def forward(self, feature_maps):
        """feature_maps: list of [N, C, H_l, W_l] -> list of anchors [H_l * W_l * A_l, 4]."""
        if len(feature_maps) != len(self.strides):
            raise ValueError(
                f"AnchorGenerator built for {len(self.strides)} levels got {len(feature_maps)} feature maps"
            )
        grid_sizes = tuple(tuple(f.shape[-2:]) for f in feature_maps)
        device = feature_maps[0].device
        key = (grid_sizes, str(device))
        anchors = self._cache.get(key)
        if anchors is None:
            anchors = [
                grid_anchors(cell.to(device), size, stride, self.offset)
                for cell, size, stride in zip(self.cell_anchors, grid_sizes, self.strides)
            ]
            if len(self._cache) >= self._CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = anchors
        return anchors


def retinanet_sizes(anchor_sizes, octave, scales_per_octave):
    """RetinaNet's sizes per level: each base size times octave ** (i / scales_per_octave)."""
    return [tuple(size * octave ** (i / scales_per_octave) for i in range(scales_per_octave)) for size in anchor_sizes]


def make_anchor_generator(cfg):
    """RPN anchors: one size per level with FPN, all sizes on one level of ANCHOR_STRIDE[0] without."""
    rpn = cfg.MODEL.RPN
    if rpn.USE_FPN:
        if len(rpn.ANCHOR_SIZES) != len(rpn.ANCHOR_STRIDE):
            raise ValueError(
                f"MODEL.RPN.ANCHOR_SIZES {tuple(rpn.ANCHOR_SIZES)} and "
                f"MODEL.RPN.ANCHOR_STRIDE {tuple(rpn.ANCHOR_STRIDE)} need one entry "
                f"per FPN level each"
            )
        sizes = [(s,) for s in rpn.ANCHOR_SIZES]
        strides = rpn.ANCHOR_STRIDE
    else:
        if len(rpn.ANCHOR_STRIDE) != 1:
            raise ValueError(f"MODEL.RPN.ANCHOR_STRIDE must have one entry without FPN, got {tuple(rpn.ANCHOR_STRIDE)}")
        sizes = [tuple(rpn.ANCHOR_SIZES)]
        strides = rpn.ANCHOR_STRIDE
    return AnchorGenerator(sizes, rpn.ASPECT_RATIOS, strides)


def make_retinanet_anchor_generator(cfg):
    ret = cfg.MODEL.RETINANET
    if len(ret.ANCHOR_SIZES) != len(ret.ANCHOR_STRIDES):
        raise ValueError(
            f"MODEL.RETINANET.ANCHOR_SIZES {tuple(ret.ANCHOR_SIZES)} and "
            f"MODEL.RETINANET.ANCHOR_STRIDES {tuple(ret.ANCHOR_STRIDES)} need one "
            f"entry per level each"
        )
    sizes = retinanet_sizes(ret.ANCHOR_SIZES, ret.OCTAVE, ret.SCALES_PER_OCTAVE)
    return AnchorGenerator(sizes, ret.ASPECT_RATIOS, ret.ANCHOR_STRIDES)
