"""Mask R-CNN mask loss."""

import torch
import torch.nn.functional as F


class MaskRCNNLossComputation:
    """Binary cross-entropy between the logits of each positive proposal's ground-truth class and
    its target: the matched instance's polygon cropped to the proposal and drawn at
    `resolution` x `resolution`. Averaged over all target pixels."""

    def __init__(self, resolution):
        self.resolution = resolution

    def targets(self, proposals, targets):
        """[P, M, M] float targets of the positive proposals (fields "labels", "matched_idxs")."""
        out = []
        for p, t in zip(proposals, targets):
            masks = t.get_field("masks")[p.get_field("matched_idxs")]
            out.append(masks.crop_and_resize_targets(p.convert("xyxy").bbox, self.resolution))
        return torch.cat(out)

    def __call__(self, proposals, mask_logits, targets):
        labels = torch.cat([p.get_field("labels") for p in proposals])
        if labels.numel() == 0:
            return mask_logits.sum() * 0  # no positives: zero, still part of the graph
        mask_targets = self.targets(proposals, targets).to(mask_logits.dtype)
        logits = mask_logits[torch.arange(labels.numel(), device=labels.device), labels]
        return F.binary_cross_entropy_with_logits(logits, mask_targets)


def make_roi_mask_loss_evaluator(cfg):
    return MaskRCNNLossComputation(cfg.MODEL.ROI_MASK_HEAD.RESOLUTION)
