"""From RPN outputs to proposals: top-k per level, decode, clip, filter, NMS, top-N."""

import torch
import torch.nn.functional as F

from maskrcnn_benchmark.layers import batched_nms
from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.boxlist_ops import cat_boxlist


def clip_boxes(boxes, image_sizes):
    """Clamp boxes [N, K, 4] of N images to their image's [0, w] x [0, h]; image_sizes (h, w)."""
    sizes = torch.as_tensor(image_sizes, dtype=boxes.dtype, device=boxes.device)
    heights, widths = sizes[:, 0, None], sizes[:, 1, None]
    x1, y1, x2, y2 = boxes.clamp(min=0).unbind(-1)
    return torch.stack(
        (torch.minimum(x1, widths), torch.minimum(y1, heights), torch.minimum(x2, widths), torch.minimum(y2, heights)),
        dim=-1,
    )


def cap_per_group(keep, groups, num_groups, cap):
    """The first `cap` entries of `keep` within each group value (order preserved)."""
    one_hot = F.one_hot(groups, num_groups)
    rank = (one_hot.cumsum(0) * one_hot).sum(1) - 1
    return keep[rank < cap]


class RPNPostProcessor:
    """Selects proposals from the RPN's objectness logits and box deltas.

    Per level and image, the `pre_nms_top_n` highest-scoring anchors are decoded, clipped to the
    image and filtered (width and height >= `min_size`, and non-empty). NMS at `nms_thresh` runs
    per level (one batched call per image); at most `post_nms_top_n` survive per level and then
    `fpn_post_nms_top_n` per image over all levels. With `fpn_post_nms_per_batch`, that last top-N
    is taken over the whole batch instead (maskrcnn-benchmark's training behaviour). Given targets,
    their boxes are appended to each image's proposals (training).

    Returns one BoxList per image, boxes in decreasing score order, with the sigmoid score as field
    "objectness".
    """

    def __init__(
        self,
        pre_nms_top_n,
        post_nms_top_n,
        nms_thresh,
        min_size,
        box_coder,
        fpn_post_nms_top_n=None,
        fpn_post_nms_per_batch=False,
    ):
        self.pre_nms_top_n = pre_nms_top_n
        self.post_nms_top_n = post_nms_top_n
        self.nms_thresh = nms_thresh
        self.min_size = min_size
        self.box_coder = box_coder
        self.fpn_post_nms_top_n = post_nms_top_n if fpn_post_nms_top_n is None else fpn_post_nms_top_n
        self.fpn_post_nms_per_batch = fpn_post_nms_per_batch

    def __call__(self, anchors, objectness, box_regression, image_sizes, targets=None):
        """anchors: per level [A_l, 4]; objectness: per level [N, A_l] logits; box_regression:
        per level [N, A_l, 4]; image_sizes: list of (h, w)."""
        boxes, scores, levels = self._top_k_decoded(anchors, objectness, box_regression)
        boxes = clip_boxes(boxes, image_sizes)
        widths = boxes[..., 2] - boxes[..., 0]
        heights = boxes[..., 3] - boxes[..., 1]
        valid = (widths >= self.min_size) & (heights >= self.min_size) & (widths > 0) & (heights > 0)

        kept = []
        for i in range(len(image_sizes)):
            idx = torch.nonzero(valid[i]).squeeze(1)
            keep = idx[batched_nms(boxes[i, idx], scores[i, idx], levels[idx], self.nms_thresh)]
            if self.post_nms_top_n < self.pre_nms_top_n:
                keep = cap_per_group(keep, levels[keep], len(anchors), self.post_nms_top_n)
            if not self.fpn_post_nms_per_batch:
                keep = keep[: self.fpn_post_nms_top_n]
            kept.append(keep)
        if self.fpn_post_nms_per_batch:
            kept = self._top_n_over_batch(kept, scores)

        proposals = []
        for i, keep in enumerate(kept):
            height, width = image_sizes[i]
            boxlist = BoxList(boxes[i, keep], (width, height), mode="xyxy")
            boxlist.add_field("objectness", scores[i, keep].sigmoid())
            if targets is not None:
                boxlist = self._add_gt_proposals(boxlist, targets[i])
            proposals.append(boxlist)
        return proposals

    def _top_k_decoded(self, anchors, objectness, box_regression):
        """Top-k anchors per level and image, decoded: boxes [N, K, 4], logits [N, K], level [K]."""
        num_images = objectness[0].shape[0]
        image_idx = torch.arange(num_images, device=objectness[0].device)[:, None]
        boxes, scores, levels = [], [], []
        for level, (anchors_l, logits_l, deltas_l) in enumerate(zip(anchors, objectness, box_regression)):
            k = min(self.pre_nms_top_n, logits_l.shape[1])
            top_logits, top_idx = logits_l.topk(k, dim=1, sorted=False)
            decoded = self.box_coder.decode(deltas_l[image_idx, top_idx], anchors_l[top_idx])
            boxes.append(decoded)
            scores.append(top_logits.to(decoded.dtype))
            levels.append(torch.full((k,), level, dtype=torch.int64, device=top_idx.device))
        return torch.cat(boxes, 1), torch.cat(scores, 1), torch.cat(levels)

    def _top_n_over_batch(self, kept, scores):
        kept_scores = torch.cat([scores[i, keep] for i, keep in enumerate(kept)])
        owner = torch.cat([torch.full_like(keep, i) for i, keep in enumerate(kept)])
        n = min(self.fpn_post_nms_top_n, kept_scores.numel())
        chosen = torch.zeros_like(kept_scores, dtype=torch.bool)
        chosen[kept_scores.topk(n, sorted=False).indices] = True
        # `keep` is in decreasing score order per image, so the chosen entries keep that order.
        return [keep[chosen[owner == i]] for i, keep in enumerate(kept)]

    @staticmethod
    def _add_gt_proposals(proposals, target):
        gt = BoxList(target.convert("xyxy").bbox.to(proposals.bbox.dtype), proposals.size)
        gt.add_field(
            "objectness", torch.ones(len(gt), device=gt.bbox.device, dtype=proposals.get_field("objectness").dtype)
        )
        return cat_boxlist([proposals, gt])


def make_rpn_postprocessor(cfg, box_coder, is_train):
    rpn = cfg.MODEL.RPN
    if is_train:
        pre, post, fpn_post = (rpn.PRE_NMS_TOP_N_TRAIN, rpn.POST_NMS_TOP_N_TRAIN, rpn.FPN_POST_NMS_TOP_N_TRAIN)
    else:
        pre, post, fpn_post = (rpn.PRE_NMS_TOP_N_TEST, rpn.POST_NMS_TOP_N_TEST, rpn.FPN_POST_NMS_TOP_N_TEST)
    if not rpn.USE_FPN:
        fpn_post = post  # one level: the per-level cap is the final one
    return RPNPostProcessor(
        pre_nms_top_n=pre,
        post_nms_top_n=post,
        nms_thresh=rpn.NMS_THRESH,
        min_size=rpn.MIN_SIZE,
        box_coder=box_coder,
        fpn_post_nms_top_n=fpn_post,
        fpn_post_nms_per_batch=is_train and rpn.FPN_POST_NMS_PER_BATCH,
    )
