"""Class scores and per-class box deltas from per-proposal features."""

from torch import nn

from maskrcnn_benchmark.modeling.registry import ROI_BOX_PREDICTOR


class FPNPredictor(nn.Module):
    """Two linear layers: `num_classes` logits (background first) and 4 deltas per class (one set
    of 4 with `cls_agnostic_bbox_reg`)."""

    def __init__(self, in_channels, num_classes, cls_agnostic_bbox_reg=False):
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, 4 * (1 if cls_agnostic_bbox_reg else num_classes))
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x):
        return self.cls_score(x), self.bbox_pred(x)


_NUM_CLASSES_HINT = (
    "{key} counts the background too and must be >= 2, got {value} (0 means 'from the dataset': "
    "resolve it with maskrcnn_benchmark.data.num_classes.resolve_num_classes(cfg) before building)"
)


@ROI_BOX_PREDICTOR.register("FPNPredictor")
def build_fpn_predictor(cfg, in_channels):
    if cfg.MODEL.ROI_BOX_HEAD.NUM_CLASSES < 2:
        raise ValueError(
            _NUM_CLASSES_HINT.format(key="MODEL.ROI_BOX_HEAD.NUM_CLASSES", value=cfg.MODEL.ROI_BOX_HEAD.NUM_CLASSES)
        )
    return FPNPredictor(in_channels, cfg.MODEL.ROI_BOX_HEAD.NUM_CLASSES, cfg.MODEL.CLS_AGNOSTIC_BBOX_REG)


def make_roi_box_predictor(cfg, in_channels):
    return ROI_BOX_PREDICTOR[cfg.MODEL.ROI_BOX_HEAD.PREDICTOR](cfg, in_channels)
