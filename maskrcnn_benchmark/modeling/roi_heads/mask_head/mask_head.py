"""The mask head: features per positive proposal (training) or detection (inference) -> masks."""

import torch
from torch import nn

from .inference import make_roi_mask_post_processor
from .loss import make_roi_mask_loss_evaluator
from .roi_mask_feature_extractors import make_roi_mask_feature_extractor
from .roi_mask_predictors import make_roi_mask_predictor


def positive_proposals(proposals):
    """Each image's proposals with label > 0, and the [n] bool masks selecting them."""
    selected, masks = [], []
    for p in proposals:
        positive = p.get_field("labels") > 0
        selected.append(p[positive])
        masks.append(positive)
    return selected, masks


class ROIMaskHead(nn.Module):
    """forward(features, proposals, targets) -> (mask features, proposals or detections, losses).

    Training uses the positive sampled proposals of the box head only. Inference adds field "mask"
    [n, 1, M, M] (probabilities of the detected class) to the detections. With
    `share_box_features`, training reuses the box head's (spatial) features of the positives, passed
    as `box_features`, instead of pooling again; the feature extractor is then the box head's.
    """

    def __init__(self, feature_extractor, predictor, post_processor, loss_evaluator, share_box_features=False):
        super().__init__()
        self.feature_extractor = feature_extractor
        self.predictor = predictor
        self.post_processor = post_processor
        self.loss_evaluator = loss_evaluator
        self.share_box_features = share_box_features

    def forward(self, features, proposals, targets=None, box_features=None):
        if not self.training:
            x = self.feature_extractor(features, proposals)
            return x, self.post_processor(self.predictor(x), proposals), {}
        if targets is None:
            raise ValueError("ROIMaskHead in training mode needs targets")
        proposals, masks = positive_proposals(proposals)
        if self.share_box_features:
            x = box_features[torch.cat(masks)]
        else:
            x = self.feature_extractor(features, proposals)
        mask_logits = self.predictor(x)
        return x, proposals, {"loss_mask": self.loss_evaluator(proposals, mask_logits, targets)}


def build_roi_mask_head(cfg, in_channels, box_feature_extractor=None):
    """The mask head; with MODEL.ROI_MASK_HEAD.SHARE_BOX_FEATURE_EXTRACTOR it reuses
    `box_feature_extractor`, which must give spatial features."""
    share = cfg.MODEL.ROI_MASK_HEAD.SHARE_BOX_FEATURE_EXTRACTOR
    if share:
        if not getattr(box_feature_extractor, "spatial_output", False):
            name = cfg.MODEL.ROI_BOX_HEAD.FEATURE_EXTRACTOR
            raise ValueError(
                f"MODEL.ROI_MASK_HEAD.SHARE_BOX_FEATURE_EXTRACTOR=True needs a box "
                f"feature extractor with spatial output; "
                f"MODEL.ROI_BOX_HEAD.FEATURE_EXTRACTOR={name!r} gives vectors. Set "
                f"it to False for the FPN heads"
            )
        feature_extractor = box_feature_extractor
    else:
        feature_extractor = make_roi_mask_feature_extractor(cfg, in_channels)
    return ROIMaskHead(
        feature_extractor,
        make_roi_mask_predictor(cfg, feature_extractor.out_channels),
        make_roi_mask_post_processor(cfg),
        make_roi_mask_loss_evaluator(cfg),
        share_box_features=share,
    )
