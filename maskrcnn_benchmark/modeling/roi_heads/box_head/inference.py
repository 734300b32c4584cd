"""From box head outputs to detections: scores, per-class boxes, threshold, class-wise NMS."""

import torch
import torch.nn.functional as F

from maskrcnn_benchmark.layers import batched_nms
from maskrcnn_benchmark.modeling.box_coder import BoxCoder
from maskrcnn_benchmark.structures.bounding_box import BoxList


class PostProcessor:
    """Softmax scores, boxes decoded per class from the proposals and clipped to the image; the
    (box, class) pairs scoring above `score_thresh` with non-empty boxes go through class-wise NMS
    (one batched call per image) and the best `detections_per_img` are kept.

    Returns one BoxList per image with fields "scores" and "labels" (1..C-1), by decreasing score.
    """

    def __init__(self, score_thresh=0.05, nms=0.5, detections_per_img=100, box_coder=None, cls_agnostic_bbox_reg=False):
        self.score_thresh = score_thresh
        self.nms = nms
        self.detections_per_img = detections_per_img
        self.box_coder = box_coder if box_coder is not None else BoxCoder((10.0, 10.0, 5.0, 5.0))
        self.cls_agnostic_bbox_reg = cls_agnostic_bbox_reg

    def __call__(self, class_logits, box_regression, proposals):
        concat_boxes = torch.cat([p.convert("xyxy").bbox for p in proposals])
        # explicit class count: "-1" is ambiguous when no image has a proposal
        decoded = self.box_coder.decode(box_regression, concat_boxes).view(
            len(concat_boxes), box_regression.shape[-1] // 4, 4
        )
        probs = F.softmax(class_logits.to(decoded.dtype), -1)
        counts = [len(p) for p in proposals]
        return [self._filter(b, s, p.size) for b, s, p in zip(decoded.split(counts), probs.split(counts), proposals)]

    def _filter(self, boxes, scores, image_size):
        """boxes [R, C or 1, 4], scores [R, C] of one image -> its detections."""
        width, height = image_size
        boxes = torch.stack(
            (
                boxes[..., 0].clamp(0, width),
                boxes[..., 1].clamp(0, height),
                boxes[..., 2].clamp(0, width),
                boxes[..., 3].clamp(0, height),
            ),
            -1,
        )
        fg_scores = scores[:, 1:]
        fg_boxes = boxes[:, :1] if self.cls_agnostic_bbox_reg else boxes[:, 1:]
        nonempty = (fg_boxes[..., 2] > fg_boxes[..., 0]) & (fg_boxes[..., 3] > fg_boxes[..., 1])
        rows, cols = torch.nonzero((fg_scores > self.score_thresh) & nonempty, as_tuple=True)
        det_boxes = fg_boxes[rows, 0 if self.cls_agnostic_bbox_reg else cols]
        det_scores = fg_scores[rows, cols]
        det_labels = cols + 1
        keep = batched_nms(det_boxes, det_scores, det_labels, self.nms)[: self.detections_per_img]
        result = BoxList(det_boxes[keep], image_size, mode="xyxy")
        result.add_field("scores", det_scores[keep])
        result.add_field("labels", det_labels[keep])
        return result


def make_roi_box_post_processor(cfg):
    heads = cfg.MODEL.ROI_HEADS
    return PostProcessor(
        score_thresh=heads.SCORE_THRESH,
        nms=heads.NMS,
        detections_per_img=heads.DETECTIONS_PER_IMG,
        box_coder=BoxCoder(heads.BBOX_REG_WEIGHTS),
        cls_agnostic_bbox_reg=cfg.MODEL.CLS_AGNOSTIC_BBOX_REG,
    )
