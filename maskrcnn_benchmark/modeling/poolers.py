"""Pooling a fixed-size feature patch per box from the FPN level that suits the box's size."""

import math

import torch
from torch import nn

from maskrcnn_benchmark.layers import roi_align


class LevelMapper:
    """Assigns each box to a pyramid level by its scale (FPN paper, eq. 1).

    level = floor(canonical_level + log2(sqrt(area) / canonical_scale + eps)), clamped to
    [k_min, k_max] and returned relative to k_min (0 = the finest level given). A box of
    `canonical_scale` pixels (224, an ImageNet crop) goes to `canonical_level` (P4).
    """

    def __init__(self, k_min, k_max, canonical_scale=224, canonical_level=4, eps=1e-6):
        self.k_min = k_min
        self.k_max = k_max
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level
        self.eps = eps

    def __call__(self, boxes):
        """boxes [K, 4] xyxy -> [K] int64 level indices in 0..k_max - k_min."""
        scale = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=0).sqrt()
        levels = torch.floor(self.canonical_level + torch.log2(scale / self.canonical_scale + self.eps))
        levels = levels.clamp(min=self.k_min, max=self.k_max)
        return levels.to(torch.int64) - self.k_min


def boxes_to_rois(boxes):
    """List of BoxLists (one per image) -> rois [K, 5]: (image index, x1, y1, x2, y2)."""
    bboxes = [b.convert("xyxy").bbox for b in boxes]
    concat = torch.cat(bboxes, dim=0)
    counts = torch.tensor([len(b) for b in bboxes], device=concat.device)
    image_idx = torch.repeat_interleave(torch.arange(len(bboxes), device=concat.device, dtype=concat.dtype), counts)
    return torch.cat([image_idx[:, None], concat], dim=1)


class Pooler(nn.Module):
    """ROIAlign over a feature pyramid: each box is pooled from the one level `LevelMapper` picks.

    `scales` are the levels' spatial scales (1 / stride, powers of 2, finest first), matching the
    feature maps given to forward().
    """

    def __init__(self, output_size, scales, sampling_ratio, canonical_scale=224, canonical_level=4, aligned=False):
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.scales = tuple(float(s) for s in scales)
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        levels = [-math.log2(s) for s in self.scales]
        if any(abs(lvl - round(lvl)) > 1e-6 for lvl in levels):
            raise ValueError(f"Pooler scales must be powers of 2 (1 / stride), got {scales}")
        if any(b != a + 1 for a, b in zip(levels, levels[1:])):
            raise ValueError(f"Pooler scales must be consecutive pyramid levels, finest first, got {scales}")
        self.map_levels = LevelMapper(round(levels[0]), round(levels[-1]), canonical_scale, canonical_level)

    def forward(self, x, boxes):
        """x: list of [N, C, H_l, W_l] per level, finest first (levels beyond the scales given,
        such as FPN's P6, are not pooled from); boxes: list of N BoxLists -> [K, C, h, w], the boxes
        in order, image after image."""
        if len(x) < len(self.scales):
            raise ValueError(f"Pooler built for {len(self.scales)} levels got {len(x)} feature maps")
        x = x[: len(self.scales)]
        rois = boxes_to_rois(boxes)
        if not torch.is_autocast_enabled(x[0].device.type):
            rois = rois.to(x[0].dtype)  # the op wants one dtype; under autocast it casts itself
        if len(x) == 1:
            return self._align(x[0], rois, self.scales[0])
        if rois.shape[0] == 0:
            return x[0].new_zeros((0, x[0].shape[1]) + self.output_size)

        levels = self.map_levels(rois[:, 1:])
        # Pool level by level over rois sorted by level, then restore the input order.
        order = torch.argsort(levels, stable=True)
        counts = torch.bincount(levels, minlength=len(x)).tolist()
        pooled = [
            self._align(feature, level_rois, scale)
            for feature, level_rois, scale, n in zip(x, rois[order].split(counts), self.scales, counts)
            if n
        ]
        pooled = torch.cat(pooled) if len(pooled) > 1 else pooled[0]
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        return pooled[inverse]

    def _align(self, feature, rois, scale):
        return roi_align(feature, rois, self.output_size, scale, self.sampling_ratio, aligned=self.aligned)
