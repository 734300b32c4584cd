"""Box regression targets: the (dx, dy, dw, dh) encoding of boxes relative to reference boxes."""

import math

import torch

from .utils import float32_at_least


class BoxCoder:
    """Encodes boxes as offsets from reference boxes (anchors or proposals) and decodes them back.

    With a reference box of centre (x, y) and size (w, h) and a box of centre (X, Y) and size (W, H),
    the code is (wx * (X - x) / w, wy * (Y - y) / h, ww * log(W / w), wh * log(H / h)) for the weights
    (wx, wy, ww, wh). Coordinates are continuous (width = x2 - x1, no legacy +1). Decoding clamps the
    log-size terms at `bbox_xform_clip`, so that one wild prediction cannot overflow exp().
    Both directions compute in float32 at least (float64 stays float64), whatever the input dtype.
    """

    def __init__(self, weights, bbox_xform_clip=math.log(1000.0 / 16)):
        if len(weights) != 4:
            raise ValueError(f"BoxCoder weights must be 4 numbers (wx, wy, ww, wh), got {weights}")
        self.weights = tuple(float(w) for w in weights)
        self.bbox_xform_clip = bbox_xform_clip

    def encode(self, reference_boxes, proposals):
        """Codes [..., 4] of `reference_boxes` (the targets, e.g. ground truth) relative to
        `proposals` (the boxes they are predicted from), both [..., 4] xyxy."""
        reference_boxes = float32_at_least(reference_boxes)
        proposals = float32_at_least(proposals)
        wx, wy, ww, wh = self.weights
        ex_w = proposals[..., 2] - proposals[..., 0]
        ex_h = proposals[..., 3] - proposals[..., 1]
        ex_x = proposals[..., 0] + 0.5 * ex_w
        ex_y = proposals[..., 1] + 0.5 * ex_h
        gt_w = reference_boxes[..., 2] - reference_boxes[..., 0]
        gt_h = reference_boxes[..., 3] - reference_boxes[..., 1]
        gt_x = reference_boxes[..., 0] + 0.5 * gt_w
        gt_y = reference_boxes[..., 1] + 0.5 * gt_h
        return torch.stack(
            (
                wx * (gt_x - ex_x) / ex_w,
                wy * (gt_y - ex_y) / ex_h,
                ww * torch.log(gt_w / ex_w),
                wh * torch.log(gt_h / ex_h),
            ),
            dim=-1,
        )

    def decode(self, rel_codes, boxes):
        """Boxes from codes: `rel_codes` [..., 4 * k] (k boxes per reference, e.g. one per class)
        applied to `boxes` [..., 4] -> [..., 4 * k] xyxy."""
        rel_codes = float32_at_least(rel_codes)
        boxes = boxes.to(torch.promote_types(rel_codes.dtype, boxes.dtype))
        rel_codes = rel_codes.to(boxes.dtype)
        wx, wy, ww, wh = self.weights
        widths = (boxes[..., 2] - boxes[..., 0]).unsqueeze(-1)
        heights = (boxes[..., 3] - boxes[..., 1]).unsqueeze(-1)
        ctr_x = boxes[..., 0].unsqueeze(-1) + 0.5 * widths
        ctr_y = boxes[..., 1].unsqueeze(-1) + 0.5 * heights

        # explicit k: "-1" is ambiguous when there are no boxes
        codes = rel_codes.reshape(*rel_codes.shape[:-1], rel_codes.shape[-1] // 4, 4)
        dx = codes[..., 0] / wx
        dy = codes[..., 1] / wy
        dw = (codes[..., 2] / ww).clamp(max=self.bbox_xform_clip)
        dh = (codes[..., 3] / wh).clamp(max=self.bbox_xform_clip)

        pred_x = dx * widths + ctr_x
        pred_y = dy * heights + ctr_y
        half_w = 0.5 * torch.exp(dw) * widths
        half_h = 0.5 * torch.exp(dh) * heights
        decoded = torch.stack((pred_x - half_w, pred_y - half_h, pred_x + half_w, pred_y + half_h), dim=-1)
        return decoded.reshape(rel_codes.shape)
