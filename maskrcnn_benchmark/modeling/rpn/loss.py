"""RPN training targets and losses."""

import torch
import torch.nn.functional as F

from maskrcnn_benchmark.layers import smooth_l1_loss
from maskrcnn_benchmark.modeling.balanced_positive_negative_sampler import BalancedPositiveNegativeSampler
from maskrcnn_benchmark.modeling.matcher import Matcher
from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.boxlist_ops import boxlist_iou

from .anchor_generator import anchor_visibility


def assign_anchors(anchors, targets, image_sizes, matcher, straddle_thresh, class_labels=False):
    """Match the anchors [A, 4] of a batch to each image's ground truth.

    Returns, per image, `matched_idxs` [A] (ground-truth index or a Matcher sentinel) and `labels`
    [A] int64: 1 (or the ground truth's class with `class_labels`) for foreground, 0 background,
    -1 ignored (between the thresholds, or an anchor outside the image by more than
    `straddle_thresh` pixels).
    """
    visible = anchor_visibility(anchors, image_sizes, straddle_thresh)
    all_matched, all_labels = [], []
    for target, vis in zip(targets, visible):
        target = target.convert("xyxy")
        if len(target):
            matched = matcher(boxlist_iou(target, BoxList(anchors, target.size)))
        else:
            matched = matcher(anchors.new_zeros((0, anchors.shape[0])))
        foreground = matched >= 0
        if class_labels and len(target):
            labels = target.get_field("labels").to(torch.int64)[matched.clamp(min=0)]
            labels = torch.where(foreground, labels, 0)
        else:
            labels = foreground.to(torch.int64)
        ignored = (matched == Matcher.BETWEEN_THRESHOLDS) | ~vis
        labels = torch.where(ignored, -1, labels)
        all_matched.append(matched)
        all_labels.append(labels)
    return all_matched, all_labels


def positive_regression_targets(anchors, targets, matched_idxs, positive_masks, box_coder):
    """For the positive anchors of all images: (image index, anchor index, encoded targets [P, 4])."""
    image_idx, anchor_idx, codes = [], [], []
    for i, (target, matched, positive) in enumerate(zip(targets, matched_idxs, positive_masks)):
        idx = torch.nonzero(positive).squeeze(1)
        gt = target.convert("xyxy").bbox[matched[idx]]
        image_idx.append(torch.full_like(idx, i))
        anchor_idx.append(idx)
        codes.append(box_coder.encode(gt, anchors[idx]))
    return torch.cat(image_idx), torch.cat(anchor_idx), torch.cat(codes)


class RPNLossComputation:
    """Objectness (binary cross-entropy) and box (smooth L1) losses over a balanced sample of
    anchors per image, both normalised by the number of sampled anchors."""

    def __init__(self, proposal_matcher, fg_bg_sampler, box_coder, straddle_thresh=0, box_loss_beta=1.0 / 9):
        self.proposal_matcher = proposal_matcher
        self.fg_bg_sampler = fg_bg_sampler
        self.box_coder = box_coder
        self.straddle_thresh = straddle_thresh
        self.box_loss_beta = box_loss_beta

    def __call__(self, anchors, objectness, box_regression, image_sizes, targets):
        """anchors [A, 4]; objectness [N, A] logits; box_regression [N, A, 4]; image_sizes list of
        (h, w); targets list of BoxLists -> (loss_objectness, loss_rpn_box_reg)."""
        matched_idxs, labels = assign_anchors(
            anchors, targets, image_sizes, self.proposal_matcher, self.straddle_thresh
        )
        pos_masks, neg_masks = self.fg_bg_sampler(labels)
        positive = torch.stack(pos_masks)
        sampled = positive | torch.stack(neg_masks)
        num_sampled = max(int(sampled.sum()), 1)

        objectness_loss = (
            F.binary_cross_entropy_with_logits(
                objectness[sampled], positive[sampled].to(objectness.dtype), reduction="sum"
            )
            / num_sampled
        )
        image_idx, anchor_idx, codes = positive_regression_targets(
            anchors, targets, matched_idxs, pos_masks, self.box_coder
        )
        box_loss = (
            smooth_l1_loss(box_regression[image_idx, anchor_idx], codes, beta=self.box_loss_beta, size_average=False)
            / num_sampled
        )
        return objectness_loss, box_loss


def make_rpn_loss_evaluator(cfg, box_coder):
    rpn = cfg.MODEL.RPN
    matcher = Matcher(rpn.FG_IOU_THRESHOLD, rpn.BG_IOU_THRESHOLD, allow_low_quality_matches=True)
    sampler = BalancedPositiveNegativeSampler(rpn.BATCH_SIZE_PER_IMAGE, rpn.POSITIVE_FRACTION)
    return RPNLossComputation(matcher, sampler, box_coder, straddle_thresh=rpn.STRADDLE_THRESH)
