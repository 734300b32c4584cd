"""Per-proposal features for the box head: pooled FPN features through an MLP or convs + fc."""

import torch.nn.functional as F
from torch import nn

from maskrcnn_benchmark.layers import make_conv3x3, make_fc
from maskrcnn_benchmark.modeling.poolers import Pooler
from maskrcnn_benchmark.modeling.registry import ROI_BOX_FEATURE_EXTRACTORS


class FPN2MLPFeatureExtractor(nn.Module):
    """Pooled features -> fc6 -> ReLU -> fc7 -> ReLU (the "2fc" head)."""

    spatial_output = False

    def __init__(self, pooler, in_channels, representation_size):
        super().__init__()
        self.pooler = pooler
        height, width = pooler.output_size
        self.fc6 = make_fc(in_channels * height * width, representation_size)
        self.fc7 = make_fc(representation_size, representation_size)
        self.out_channels = representation_size

    def forward(self, x, proposals):
        x = self.pooler(x, proposals).flatten(1)
        x = F.relu(self.fc6(x), inplace=True)
        return F.relu(self.fc7(x), inplace=True)


class FPNXconv1fcFeatureExtractor(nn.Module):
    """Pooled features -> `num_stacked_convs` x (3x3 conv, norm, ReLU) -> fc6 -> ReLU.

    DetNAS uses 4 convs with SyncBN ("4conv1fc").
    """

    spatial_output = False

    def __init__(self, pooler, in_channels, conv_head_dim, num_stacked_convs, representation_size, dilation=1, norm=""):
        super().__init__()
        self.pooler = pooler
        convs = []
        for i in range(num_stacked_convs):
            convs.append(
                make_conv3x3(
                    in_channels if i == 0 else conv_head_dim,
                    conv_head_dim,
                    dilation=dilation,
                    norm=norm,
                    relu=True,
                    kaiming_init=False,
                )
            )
        self.xconvs = nn.Sequential(*convs)
        height, width = pooler.output_size
        channels = conv_head_dim if num_stacked_convs else in_channels
        self.fc6 = make_fc(channels * height * width, representation_size)
        self.out_channels = representation_size

    def forward(self, x, proposals):
        x = self.xconvs(self.pooler(x, proposals))
        return F.relu(self.fc6(x.flatten(1)), inplace=True)


def make_box_pooler(cfg):
    head = cfg.MODEL.ROI_BOX_HEAD
    return Pooler(
        output_size=head.POOLER_RESOLUTION, scales=head.POOLER_SCALES, sampling_ratio=head.POOLER_SAMPLING_RATIO
    )


def box_head_norm(cfg):
    """Normalisation of the box head convs (MODEL.ROI_BOX_HEAD.NORM)."""
    return cfg.MODEL.ROI_BOX_HEAD.NORM


@ROI_BOX_FEATURE_EXTRACTORS.register("FPN2MLPFeatureExtractor")
def build_fpn2mlp_feature_extractor(cfg, in_channels):
    return FPN2MLPFeatureExtractor(make_box_pooler(cfg), in_channels, cfg.MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM)


@ROI_BOX_FEATURE_EXTRACTORS.register("FPNXconv1fcFeatureExtractor")
def build_fpn_xconv1fc_feature_extractor(cfg, in_channels):
    head = cfg.MODEL.ROI_BOX_HEAD
    return FPNXconv1fcFeatureExtractor(
        make_box_pooler(cfg),
        in_channels,
        conv_head_dim=head.CONV_HEAD_DIM,
        num_stacked_convs=head.NUM_STACKED_CONVS,
        representation_size=head.MLP_HEAD_DIM,
        dilation=head.DILATION,
        norm=box_head_norm(cfg),
    )


def make_roi_box_feature_extractor(cfg, in_channels):
    return ROI_BOX_FEATURE_EXTRACTORS[cfg.MODEL.ROI_BOX_HEAD.FEATURE_EXTRACTOR](cfg, in_channels)
