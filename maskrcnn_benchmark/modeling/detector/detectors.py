"""`build_detection_model(cfg)`."""
from maskrcnn_benchmark.modeling.backbone import build_backbone
from maskrcnn_benchmark.modeling.roi_heads.roi_heads import build_roi_heads
from maskrcnn_benchmark.modeling.rpn.rpn import build_rpn

from .generalized_rcnn import GeneralizedRCNN

_META_ARCHITECTURES = {"GeneralizedRCNN": GeneralizedRCNN}


def build_detection_model(cfg):
    """The detector described by cfg.MODEL (and DATALOADER.SIZE_DIVISIBILITY for raw image lists)."""
    name = cfg.MODEL.META_ARCHITECTURE
    if name not in _META_ARCHITECTURES:
        raise ValueError(f"MODEL.META_ARCHITECTURE={name!r} is not known; expected one of "
                         f"{sorted(_META_ARCHITECTURES)}")
    backbone = build_backbone(cfg)
    rpn = build_rpn(cfg, backbone.out_channels)
    roi_heads = build_roi_heads(cfg, backbone.out_channels)
    return _META_ARCHITECTURES[name](backbone, rpn, roi_heads,
                                     size_divisible=cfg.DATALOADER.SIZE_DIVISIBILITY)
