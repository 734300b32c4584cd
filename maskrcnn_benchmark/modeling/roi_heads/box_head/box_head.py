"""The box head: features per proposal, class scores and box deltas, losses or detections."""

import torch
from torch import nn

from .inference import make_roi_box_post_processor
from .loss import make_roi_box_loss_evaluator
from .roi_box_feature_extractors import make_roi_box_feature_extractor
from .roi_box_predictors import make_roi_box_predictor


class ROIBoxHead(nn.Module):
    """forward(features, proposals, targets) -> (box features, proposals or detections, losses).

    Training: proposals are subsampled (with targets attached) without gradient, and the sampled
    proposals are returned for the mask head. Inference: detections are returned.
    """

    def __init__(self, feature_extractor, predictor, post_processor, loss_evaluator):
        super().__init__()
        self.feature_extractor = feature_extractor
        self.predictor = predictor
        self.post_processor = post_processor
        self.loss_evaluator = loss_evaluator

    def forward(self, features, proposals, targets=None):
        if self.training:
            if targets is None:
                raise ValueError("ROIBoxHead in training mode needs targets")
            with torch.no_grad():
                proposals = self.loss_evaluator.subsample(proposals, targets)
        x = self.feature_extractor(features, proposals)
        class_logits, box_regression = self.predictor(x)
        if not self.training:
            return x, self.post_processor(class_logits, box_regression, proposals), {}
        loss_classifier, loss_box_reg = self.loss_evaluator(class_logits, box_regression, proposals)
        return x, proposals, {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}


def build_roi_box_head(cfg, in_channels):
    feature_extractor = make_roi_box_feature_extractor(cfg, in_channels)
    return ROIBoxHead(
        feature_extractor,
        make_roi_box_predictor(cfg, feature_extractor.out_channels),
        make_roi_box_post_processor(cfg),
        make_roi_box_loss_evaluator(cfg),
    )
