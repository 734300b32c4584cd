"""Fast R-CNN training: sampling proposals with their targets, classification and box losses."""

import torch
import torch.nn.functional as F

from maskrcnn_benchmark.layers import smooth_l1_loss
from maskrcnn_benchmark.modeling.balanced_positive_negative_sampler import BalancedPositiveNegativeSampler
from maskrcnn_benchmark.modeling.box_coder import BoxCoder
from maskrcnn_benchmark.modeling.matcher import Matcher
from maskrcnn_benchmark.structures.boxlist_ops import boxlist_iou


class FastRCNNLossComputation:
    """`subsample` draws the training proposals and attaches their targets; calling the object
    gives the losses: cross-entropy over the sampled proposals and smooth L1 (beta 1) on the
    ground-truth class's deltas of the positives, divided by the number of sampled proposals."""

    def __init__(self, proposal_matcher, fg_bg_sampler, box_coder, cls_agnostic_bbox_reg=False):
        self.proposal_matcher = proposal_matcher
        self.fg_bg_sampler = fg_bg_sampler
        self.box_coder = box_coder
        self.cls_agnostic_bbox_reg = cls_agnostic_bbox_reg

    def match_targets(self, proposals, target):
        """[P] matched ground-truth index (or sentinel) and [P] int64 class label (0 background,
        -1 ignored between the thresholds)."""
        if len(target):
            matched = self.proposal_matcher(boxlist_iou(target, proposals))
            labels = target.get_field("labels").to(torch.int64)[matched.clamp(min=0)]
            labels[matched == Matcher.BELOW_LOW_THRESHOLD] = 0
            labels[matched == Matcher.BETWEEN_THRESHOLDS] = -1
        else:
            matched = self.proposal_matcher(proposals.bbox.new_zeros((0, len(proposals))))
            labels = torch.zeros(len(proposals), dtype=torch.int64, device=proposals.bbox.device)
        return matched, labels

    def subsample(self, proposals, targets):
        """Sampled proposals per image with fields "labels", "regression_targets" and
        "matched_idxs" (the ground-truth index, used by the mask head)."""
        targets = [t.convert("xyxy") for t in targets]
        matches = [self.match_targets(p, t) for p, t in zip(proposals, targets)]
        pos_masks, neg_masks = self.fg_bg_sampler([labels for _, labels in matches])
        sampled = []
        for p, t, (matched, labels), pos, neg in zip(proposals, targets, matches, pos_masks, neg_masks):
            idx = torch.nonzero(pos | neg).squeeze(1)
            s = p[idx]
            s.add_field("labels", labels[idx])
            s.add_field("matched_idxs", matched[idx])
            if len(t):
                gt = t.bbox[matched[idx].clamp(min=0)]
                s.add_field("regression_targets", self.box_coder.encode(gt, s.bbox))
            else:
                s.add_field("regression_targets", torch.zeros_like(s.bbox))
            sampled.append(s)
        return sampled

    def __call__(self, class_logits, box_regression, proposals):
        """class_logits [R, C]; box_regression [R, 4C] (or [R, 4]); proposals: the sampled
        BoxLists, R boxes in all -> (loss_classifier, loss_box_reg)."""
        labels = torch.cat([p.get_field("labels") for p in proposals])
        targets = torch.cat([p.get_field("regression_targets") for p in proposals])
        if labels.numel() == 0:  # no RoI in the whole batch: zero losses that keep the graph
            zero = class_logits.sum() * 0 + box_regression.sum() * 0
            return zero, zero.clone()
        loss_classifier = F.cross_entropy(class_logits, labels)
        positive = torch.nonzero(labels > 0).squeeze(1)
        columns = torch.zeros_like(positive) if self.cls_agnostic_bbox_reg else labels[positive]
        deltas = box_regression.view(box_regression.shape[0], box_regression.shape[1] // 4, 4)[positive, columns]
        loss_box_reg = smooth_l1_loss(deltas, targets[positive], beta=1.0, size_average=False) / max(labels.numel(), 1)
        return loss_classifier, loss_box_reg


def make_roi_box_loss_evaluator(cfg):
    heads = cfg.MODEL.ROI_HEADS
    matcher = Matcher(heads.FG_IOU_THRESHOLD, heads.BG_IOU_THRESHOLD, allow_low_quality_matches=False)
    sampler = BalancedPositiveNegativeSampler(heads.BATCH_SIZE_PER_IMAGE, heads.POSITIVE_FRACTION)
    return FastRCNNLossComputation(matcher, sampler, BoxCoder(heads.BBOX_REG_WEIGHTS), cfg.MODEL.CLS_AGNOSTIC_BBOX_REG)
