"""RetinaNet (Lin et al., 2017): a dense one-stage detector on P3..P7."""

import math

from torch import nn

from maskrcnn_benchmark.modeling.box_coder import BoxCoder
from maskrcnn_benchmark.modeling.utils import cat

from ..anchor_generator import make_retinanet_anchor_generator
from ..utils import flatten_head_outputs
from .inference import make_retinanet_postprocessor
from .loss import make_retinanet_loss_evaluator


def _tower(in_channels, num_convs):
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class RetinaNetHead(nn.Module):
    """Classification and box towers of `num_convs` 3x3 conv + ReLU, shared across levels, then
    3x3 convs giving A x `num_classes` logits and A x 4 deltas per position. The class logits
    start at the log-odds of `prior_prob`, so early training is not swamped by background."""

    def __init__(self, in_channels, num_classes, num_anchors, num_convs=4, prior_prob=0.01):
        super().__init__()
        self.cls_tower = _tower(in_channels, num_convs)
        self.bbox_tower = _tower(in_channels, num_convs)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors * num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 3, padding=1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior_prob) / prior_prob))
        self.num_classes = num_classes

    def forward(self, features):
        logits, deltas = [], []
        for feature in features:
            logits.append(self.cls_logits(self.cls_tower(feature)))
            deltas.append(self.bbox_pred(self.bbox_tower(feature)))
        return logits, deltas


class RetinaNetModule(nn.Module):
    """forward(images, features, targets) -> (detections or None, losses): losses in training
    (no detections are computed), detections with "scores" and "labels" in inference."""

    def __init__(self, anchor_generator, head, box_selector_test, loss_evaluator):
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = head
        self.box_selector_test = box_selector_test
        self.loss_evaluator = loss_evaluator

    def forward(self, images, features, targets=None):
        logits, deltas = self.head(features)
        anchors = self.anchor_generator(features)
        box_cls = flatten_head_outputs(logits, self.head.num_classes)
        box_regression = flatten_head_outputs(deltas, 4)
        if not self.training:
            return self.box_selector_test(anchors, box_cls, box_regression, images.image_sizes), {}
        if targets is None:
            raise ValueError("RetinaNet in training mode needs targets")
        cls_loss, reg_loss = self.loss_evaluator(
            cat(anchors), cat(box_cls, dim=1), cat(box_regression, dim=1), images.image_sizes, targets
        )
        return None, {"loss_retina_cls": cls_loss, "loss_retina_reg": reg_loss}


def build_retinanet(cfg, in_channels):
    ret = cfg.MODEL.RETINANET
    anchor_generator = make_retinanet_anchor_generator(cfg)
    num_anchors = anchor_generator.num_anchors_per_location()
    if len(set(num_anchors)) != 1:
        raise ValueError(
            f"the RetinaNet head is shared by all levels and needs the same number "
            f"of anchors per position on each, got {num_anchors}"
        )
    if ret.NUM_CLASSES < 2:
        raise ValueError(
            f"MODEL.RETINANET.NUM_CLASSES counts the background too and must be "
            f">= 2, got {ret.NUM_CLASSES} (0 means 'from the dataset': resolve it with "
            "maskrcnn_benchmark.data.num_classes.resolve_num_classes(cfg) first)"
        )
    head = RetinaNetHead(
        in_channels, ret.NUM_CLASSES - 1, num_anchors[0], num_convs=ret.NUM_CONVS, prior_prob=ret.PRIOR_PROB
    )
    box_coder = BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))
    return RetinaNetModule(
        anchor_generator,
        head,
        make_retinanet_postprocessor(cfg, box_coder),
        make_retinanet_loss_evaluator(cfg, box_coder),
    )
