"""`build_backbone(cfg)`: the body + FPN named by MODEL.BACKBONE.CONV_BODY."""

from functools import partial

from maskrcnn_benchmark.modeling.registry import BACKBONES

from .fpn import FPN, BackboneWithFPN, LastLevelMaxPool, LastLevelP6P7
from .resnet import ResNet


def fpn_norm(cfg):
    """Normalisation of FPN convs (MODEL.FPN.NORM)."""
    return cfg.MODEL.FPN.NORM


def make_resnet_body(cfg, depth):
    r = cfg.MODEL.RESNETS
    return ResNet(
        depth,
        norm=r.NORM,
        freeze_at=cfg.MODEL.BACKBONE.FREEZE_CONV_BODY_AT,
        stem_out_channels=r.STEM_OUT_CHANNELS,
        res2_out_channels=r.RES2_OUT_CHANNELS,
        num_groups=r.NUM_GROUPS,
        width_per_group=r.WIDTH_PER_GROUP,
        stride_in_1x1=r.STRIDE_IN_1X1,
        res5_dilation=r.RES5_DILATION,
    )


def attach_fpn(cfg, body, p3p7=False):
    """`body` (with .stage_out_channels for C2..C5) under an FPN of width
    MODEL.RESNETS.BACKBONE_OUT_CHANNELS: P2..P6 on C2..C5 with a max-pooled P6 (Faster/Mask R-CNN),
    or with `p3p7` P3..P7 on C3..C5 with convolutional P6, P7 (RetinaNet, MODEL.RETINANET.USE_C5)."""
    out_channels = cfg.MODEL.RESNETS.BACKBONE_OUT_CHANNELS
    channels = list(body.stage_out_channels)
    if p3p7:
        use_c5 = cfg.MODEL.RETINANET.USE_C5
        p6_in = channels[-1] if use_c5 else out_channels
        in_channels, top = [0] + channels[1:], LastLevelP6P7(p6_in, out_channels, use_c5=use_c5)
    else:
        in_channels, top = channels, LastLevelMaxPool()
    fpn = FPN(in_channels, out_channels, norm=fpn_norm(cfg), top_blocks=top, relu=cfg.MODEL.FPN.USE_RELU)
    return BackboneWithFPN(body, fpn, out_channels)


def build_resnet_fpn_backbone(cfg, depth):
    """P2..P6: FPN on C2..C5 plus a max-pooled P6 (Faster/Mask R-CNN)."""
    return attach_fpn(cfg, make_resnet_body(cfg, depth))


def build_resnet_fpn_p3p7_backbone(cfg, depth):
    """P3..P7: FPN on C3..C5 plus convolutional P6, P7 (RetinaNet)."""
    return attach_fpn(cfg, make_resnet_body(cfg, depth), p3p7=True)


for _depth in (18, 34, 50, 101):
    BACKBONES.register(f"R-{_depth}-FPN", partial(build_resnet_fpn_backbone, depth=_depth))
    BACKBONES.register(f"R-{_depth}-FPN-RETINANET", partial(build_resnet_fpn_p3p7_backbone, depth=_depth))


def build_backbone(cfg):
    """The registered backbone MODEL.BACKBONE.CONV_BODY, built from cfg."""
    return BACKBONES[cfg.MODEL.BACKBONE.CONV_BODY](cfg)
