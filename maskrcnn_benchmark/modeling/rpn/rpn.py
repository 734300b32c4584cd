"""Region Proposal Network: head, module and builder."""

import torch
import torch.nn.functional as F
from torch import nn

from maskrcnn_benchmark.modeling.box_coder import BoxCoder
from maskrcnn_benchmark.modeling.registry import RPN_HEADS
from maskrcnn_benchmark.modeling.utils import cat

from .anchor_generator import make_anchor_generator
from .inference import make_rpn_postprocessor
from .loss import make_rpn_loss_evaluator
from .retinanet.retinanet import build_retinanet
from .utils import flatten_head_outputs


class RPNHead(nn.Module):
    """A shared 3x3 conv + ReLU, then 1x1 convs for A objectness logits and 4A box deltas per
    position, applied to every level."""

    def __init__(self, in_channels, num_anchors):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, features):
        logits, deltas = [], []
        for feature in features:
            t = F.relu(self.conv(feature), inplace=True)
            logits.append(self.cls_logits(t))
            deltas.append(self.bbox_pred(t))
        return logits, deltas


@RPN_HEADS.register("SingleConvRPNHead")
def build_single_conv_rpn_head(cfg, in_channels, num_anchors):
    return RPNHead(in_channels, num_anchors)


class RPNModule(nn.Module):
    """Anchors + head + (training) losses + proposal selection.

    forward(images, features, targets) -> (proposals, losses). In training the losses are computed
    and, unless `rpn_only` (where nothing consumes them and None is returned), proposals for the ROI
    heads are selected without gradient, ground-truth boxes appended. In inference the test-time
    selection is returned and losses are empty.
    """

    def __init__(self, anchor_generator, head, box_selector_train, box_selector_test, loss_evaluator, rpn_only=False):
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = head
        self.box_selector_train = box_selector_train
        self.box_selector_test = box_selector_test
        self.loss_evaluator = loss_evaluator
        self.rpn_only = rpn_only

    def forward(self, images, features, targets=None):
        logits, deltas = self.head(features)
        anchors = self.anchor_generator(features)
        objectness = [o.squeeze(2) for o in flatten_head_outputs(logits, 1)]
        box_regression = flatten_head_outputs(deltas, 4)
        if not self.training:
            return self.box_selector_test(anchors, objectness, box_regression, images.image_sizes), {}
        if targets is None:
            raise ValueError("RPN in training mode needs targets")
        loss_objectness, loss_box = self.loss_evaluator(
            cat(anchors), cat(objectness, dim=1), cat(box_regression, dim=1), images.image_sizes, targets
        )
        losses = {"loss_objectness": loss_objectness, "loss_rpn_box_reg": loss_box}
        if self.rpn_only:
            return None, losses
        with torch.no_grad():
            proposals = self.box_selector_train(
                anchors,
                [o.detach() for o in objectness],
                [d.detach() for d in box_regression],
                images.image_sizes,
                targets,
            )
        return proposals, losses


def build_rpn(cfg, in_channels):
    """The proposal stage: RPN, or the whole dense detector when MODEL.RETINANET_ON."""
    if cfg.MODEL.RETINANET_ON:
        return build_retinanet(cfg, in_channels)
    anchor_generator = make_anchor_generator(cfg)
    num_anchors = anchor_generator.num_anchors_per_location()
    if len(set(num_anchors)) != 1:
        raise ValueError(
            f"the RPN head is shared by all levels and needs the same number of "
            f"anchors per position on each, got {num_anchors}"
        )
    head = RPN_HEADS[cfg.MODEL.RPN.RPN_HEAD](cfg, in_channels, num_anchors[0])
    box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
    return RPNModule(
        anchor_generator,
        head,
        box_selector_train=make_rpn_postprocessor(cfg, box_coder, is_train=True),
        box_selector_test=make_rpn_postprocessor(cfg, box_coder, is_train=False),
        loss_evaluator=make_rpn_loss_evaluator(cfg, box_coder),
        rpn_only=cfg.MODEL.RPN_ONLY,
    )
