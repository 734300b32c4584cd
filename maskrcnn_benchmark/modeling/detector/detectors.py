"""`build_detection_model(cfg)`."""

from maskrcnn_benchmark.modeling.backbone import build_backbone
from maskrcnn_benchmark.modeling.roi_heads.roi_heads import build_roi_heads
from maskrcnn_benchmark.modeling.rpn.rpn import build_rpn

from .generalized_rcnn import GeneralizedRCNN

_META_ARCHITECTURES = {"GeneralizedRCNN": GeneralizedRCNN}

# maskrcnn-benchmark keys this implementation does not offer, with their only accepted value and
# what to use instead; anything else is refused rather than silently ignored.
_FIXED_KEYS = (
    ("MODEL.ROI_HEADS.USE_FPN", True, "only the FPN ROI heads are implemented"),
    (
        "MODEL.RESNETS.TRANS_FUNC",
        "BottleneckWithFixedBatchNorm",
        "the ResNet block normalisation is set by MODEL.RESNETS.NORM",
    ),
    ("MODEL.RESNETS.STEM_FUNC", "StemWithFixedBatchNorm", "the ResNet stem normalisation is set by MODEL.RESNETS.NORM"),
    ("MODEL.GROUP_NORM.DIM_PER_GP", -1, "GroupNorm layers always use 32 groups"),
    ("MODEL.GROUP_NORM.NUM_GROUPS", 32, "GroupNorm layers always use 32 groups"),
    ("MODEL.GROUP_NORM.EPSILON", 1e-5, "GroupNorm layers always use eps 1e-5"),
)


def _check_fixed_keys(cfg):
    for key, accepted, reason in _FIXED_KEYS:
        value = cfg
        for part in key.split("."):
            value = value[part]
        if value != accepted:
            raise ValueError(f"{key}={value!r} is not supported ({reason}); leave it at {accepted!r}")


def build_detection_model(cfg):
    """The detector described by cfg.MODEL (and DATALOADER.SIZE_DIVISIBILITY for raw image lists)."""
    name = cfg.MODEL.META_ARCHITECTURE
    if name not in _META_ARCHITECTURES:
        raise ValueError(
            f"MODEL.META_ARCHITECTURE={name!r} is not known; expected one of {sorted(_META_ARCHITECTURES)}"
        )
    _check_fixed_keys(cfg)
    backbone = build_backbone(cfg)
    rpn = build_rpn(cfg, backbone.out_channels)
    roi_heads = build_roi_heads(cfg, backbone.out_channels)
    return _META_ARCHITECTURES[name](backbone, rpn, roi_heads, size_divisible=cfg.DATALOADER.SIZE_DIVISIBILITY)
