"""RetinaNet detections: top-k candidates per level, decode, class-wise NMS, top-N per image."""

import torch

from maskrcnn_benchmark.layers import batched_nms
from maskrcnn_benchmark.structures.bounding_box import BoxList

from ..inference import clip_boxes


class RetinaNetPostProcessor:
    """Per level and image, the `pre_nms_top_n` (anchor, class) pairs with the highest sigmoid
    scores above `score_thresh` are decoded; over all levels, boxes are clipped, empty ones or
    ones smaller than `min_size` dropped, class-wise NMS at `nms_thresh` runs in one batched call
    per image, and the best `detections_per_img` are kept. Returns BoxLists with "scores" and
    "labels" (1..C-1), by decreasing score."""

    def __init__(self, score_thresh, pre_nms_top_n, nms_thresh, detections_per_img, box_coder, min_size=0):
        self.score_thresh = score_thresh
        self.pre_nms_top_n = pre_nms_top_n
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img
        self.box_coder = box_coder
        self.min_size = min_size

    def __call__(self, anchors, box_cls, box_regression, image_sizes):
        """anchors: per level [A_l, 4]; box_cls: per level [N, A_l, C-1] logits; box_regression:
        per level [N, A_l, 4]."""
        num_images, num_fg = box_cls[0].shape[0], box_cls[0].shape[2]
        image_idx = torch.arange(num_images, device=box_cls[0].device)[:, None]
        boxes, scores, labels, valid = [], [], [], []
        for anchors_l, logits_l, deltas_l in zip(anchors, box_cls, box_regression):
            flat = logits_l.reshape(num_images, -1)
            k = min(self.pre_nms_top_n, flat.shape[1])
            top_logits, top_idx = flat.topk(k, dim=1, sorted=False)
            anchor_idx = torch.div(top_idx, num_fg, rounding_mode="floor")
            decoded = self.box_coder.decode(deltas_l[image_idx, anchor_idx], anchors_l[anchor_idx])
            top_scores = top_logits.to(decoded.dtype).sigmoid()
            boxes.append(decoded)
            scores.append(top_scores)
            labels.append(top_idx % num_fg + 1)
            valid.append(top_scores > self.score_thresh)
        boxes = clip_boxes(torch.cat(boxes, 1), image_sizes)
        scores, labels, valid = torch.cat(scores, 1), torch.cat(labels, 1), torch.cat(valid, 1)
        widths = boxes[..., 2] - boxes[..., 0]
        heights = boxes[..., 3] - boxes[..., 1]
        valid &= (widths >= self.min_size) & (heights >= self.min_size) & (widths > 0) & (heights > 0)

        results = []
        for i, (height, width) in enumerate(image_sizes):
            idx = torch.nonzero(valid[i]).squeeze(1)
            b, s, lab = boxes[i, idx], scores[i, idx], labels[i, idx]
            keep = batched_nms(b, s, lab, self.nms_thresh)[: self.detections_per_img]
            result = BoxList(b[keep], (width, height), mode="xyxy")
            result.add_field("scores", s[keep])
            result.add_field("labels", lab[keep])
            results.append(result)
        return results


def make_retinanet_postprocessor(cfg, box_coder):
    ret = cfg.MODEL.RETINANET
    return RetinaNetPostProcessor(
        score_thresh=ret.INFERENCE_TH,
        pre_nms_top_n=ret.PRE_NMS_TOP_N,
        nms_thresh=ret.NMS_TH,
        detections_per_img=cfg.TEST.DETECTIONS_PER_IMG,
        box_coder=box_coder,
    )
