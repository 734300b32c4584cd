"""Per-detection feature maps for the mask head."""

from torch import nn

from maskrcnn_benchmark.layers import make_conv3x3
from maskrcnn_benchmark.modeling.poolers import Pooler
from maskrcnn_benchmark.modeling.registry import ROI_MASK_FEATURE_EXTRACTORS


class MaskRCNNFPNFeatureExtractor(nn.Module):
    """Pooled FPN features -> one 3x3 conv (+ norm) + ReLU per entry of `layers` (its width)."""

    def __init__(self, pooler, in_channels, layers, dilation=1, norm=""):
        super().__init__()
        self.pooler = pooler
        blocks, channels = [], in_channels
        for width in layers:
            blocks.append(make_conv3x3(channels, width, dilation=dilation, norm=norm, relu=True))
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = channels

    def forward(self, x, proposals):
        return self.blocks(self.pooler(x, proposals))


@ROI_MASK_FEATURE_EXTRACTORS.register("MaskRCNNFPNFeatureExtractor")
def build_mask_rcnn_fpn_feature_extractor(cfg, in_channels):
    head = cfg.MODEL.ROI_MASK_HEAD
    pooler = Pooler(
        output_size=head.POOLER_RESOLUTION, scales=head.POOLER_SCALES, sampling_ratio=head.POOLER_SAMPLING_RATIO
    )
    return MaskRCNNFPNFeatureExtractor(
        pooler, in_channels, tuple(head.CONV_LAYERS), dilation=head.DILATION, norm=head.NORM
    )


def make_roi_mask_feature_extractor(cfg, in_channels):
    return ROI_MASK_FEATURE_EXTRACTORS[cfg.MODEL.ROI_MASK_HEAD.FEATURE_EXTRACTOR](cfg, in_channels)
