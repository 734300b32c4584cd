"""The second stage: box head, optionally followed by the mask head."""

from torch import nn

from .box_head.box_head import build_roi_box_head
from .mask_head.mask_head import build_roi_mask_head


class CombinedROIHeads(nn.ModuleDict):
    """forward(features, proposals, targets) -> (box features, detections, losses).

    The mask head works on the box head's output: its sampled proposals in training, its
    detections in inference.
    """

    def __init__(self, box, mask=None):
        heads = {"box": box}
        if mask is not None:
            heads["mask"] = mask
        super().__init__(heads)

    def forward(self, features, proposals, targets=None):
        x, detections, losses = self["box"](features, proposals, targets)
        losses = dict(losses)
        if "mask" in self:
            _, detections, mask_losses = self["mask"](features, detections, targets, box_features=x)
            losses.update(mask_losses)
        return x, detections, losses


def build_roi_heads(cfg, in_channels):
    """The ROI heads, or None for a model without a second stage (RPN only, RetinaNet)."""
    if cfg.MODEL.RPN_ONLY or cfg.MODEL.RETINANET_ON:
        return None
    box = build_roi_box_head(cfg, in_channels)
    mask = None
    if cfg.MODEL.MASK_ON:
        mask = build_roi_mask_head(cfg, in_channels, box.feature_extractor)
    return CombinedROIHeads(box, mask)
