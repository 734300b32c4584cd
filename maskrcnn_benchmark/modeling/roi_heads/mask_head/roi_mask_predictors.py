"""Per-class mask logits from mask features."""

import torch.nn.functional as F
from torch import nn

from maskrcnn_benchmark.modeling.registry import ROI_MASK_PREDICTOR


class MaskRCNNC4Predictor(nn.Module):
    """2x2 stride-2 transposed conv + ReLU (doubling the resolution), then a 1x1 conv giving one
    mask logit map per class."""

    def __init__(self, in_channels, dim_reduced, num_classes):
        super().__init__()
        self.conv5_mask = nn.ConvTranspose2d(in_channels, dim_reduced, 2, stride=2)
        self.mask_fcn_logits = nn.Conv2d(dim_reduced, num_classes, 1)
        for layer in (self.conv5_mask, self.mask_fcn_logits):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        return self.mask_fcn_logits(F.relu(self.conv5_mask(x)))


@ROI_MASK_PREDICTOR.register("MaskRCNNC4Predictor")
def build_mask_rcnn_c4_predictor(cfg, in_channels):
    head = cfg.MODEL.ROI_MASK_HEAD
    return MaskRCNNC4Predictor(in_channels, head.CONV_LAYERS[-1], cfg.MODEL.ROI_BOX_HEAD.NUM_CLASSES)


def make_roi_mask_predictor(cfg, in_channels):
    return ROI_MASK_PREDICTOR[cfg.MODEL.ROI_MASK_HEAD.PREDICTOR](cfg, in_channels)
