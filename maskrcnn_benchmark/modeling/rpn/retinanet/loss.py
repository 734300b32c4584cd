"""RetinaNet losses: focal loss over all anchors, smooth L1 on the positives."""

import torch

from maskrcnn_benchmark.layers import sigmoid_focal_loss, smooth_l1_loss
from maskrcnn_benchmark.modeling.matcher import Matcher
from maskrcnn_benchmark.modeling.utils import float32_at_least

from ..loss import assign_anchors, positive_regression_targets


class RetinaNetLossComputation:
    """Anchors are matched to ground truth (IoU >= fg threshold positive with the box's class,
    < bg threshold background, in between ignored, low-quality matches kept).

    Classification: sigmoid focal loss summed over the non-ignored anchors and classes, divided by
    (number of positives + number of images) as in maskrcnn-benchmark, which stays finite for a
    batch without ground truth. Regression: smooth L1 (`bbox_reg_beta`) over the positives, divided
    by max(1, positives * `regress_norm`).
    """

    def __init__(
        self,
        proposal_matcher,
        box_coder,
        gamma=2.0,
        alpha=0.25,
        bbox_reg_beta=0.11,
        regress_norm=1.0,
        straddle_thresh=-1,
    ):
        self.proposal_matcher = proposal_matcher
        self.box_coder = box_coder
        self.gamma = gamma
        self.alpha = alpha
        self.bbox_reg_beta = bbox_reg_beta
        self.regress_norm = regress_norm
        self.straddle_thresh = straddle_thresh

    def __call__(self, anchors, box_cls, box_regression, image_sizes, targets):
        """anchors [A, 4]; box_cls [N, A, C-1] logits; box_regression [N, A, 4] -> (cls, reg)."""
        matched_idxs, labels = assign_anchors(
            anchors, targets, image_sizes, self.proposal_matcher, self.straddle_thresh, class_labels=True
        )
        labels = torch.stack(labels)
        positive = labels > 0
        num_pos = int(positive.sum())
        num_images = labels.shape[0]
        # float32 logits: a sum over every anchor and class must not accumulate in half precision
        logits = float32_at_least(box_cls).reshape(-1, box_cls.shape[-1])
        cls_loss = sigmoid_focal_loss(logits, labels.reshape(-1), self.gamma, self.alpha).sum() / (num_pos + num_images)
        image_idx, anchor_idx, codes = positive_regression_targets(
            anchors, targets, matched_idxs, positive, self.box_coder
        )
        reg_loss = smooth_l1_loss(
            box_regression[image_idx, anchor_idx], codes, beta=self.bbox_reg_beta, size_average=False
        ) / max(1.0, num_pos * self.regress_norm)
        return cls_loss, reg_loss


def make_retinanet_loss_evaluator(cfg, box_coder):
    ret = cfg.MODEL.RETINANET
    matcher = Matcher(ret.FG_IOU_THRESHOLD, ret.BG_IOU_THRESHOLD, allow_low_quality_matches=True)
    return RetinaNetLossComputation(
        matcher,
        box_coder,
        gamma=ret.LOSS_GAMMA,
        alpha=ret.LOSS_ALPHA,
        bbox_reg_beta=ret.BBOX_REG_BETA,
        regress_norm=ret.BBOX_REG_WEIGHT,
        straddle_thresh=ret.STRADDLE_THRESH,
    )
