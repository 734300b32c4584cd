"""torchvision's fasterrcnn_resnet50_fpn as the peer of our Faster R-CNN R-50-FPN: one table of
selection settings in each side's names, the torchvision model built and frozen like ours, and the
key mapping that copies our weights into it."""

import re

from torch import nn
from torchvision.models.detection import fasterrcnn_resnet50_fpn
from torchvision.ops.misc import FrozenBatchNorm2d as TorchvisionFrozenBatchNorm2d

from maskrcnn_benchmark.config import load_config


def selection_settings(args):
    return {
        "pre_nms_train": args.pre_nms_train,
        "post_nms_train": args.post_nms_train,
        "pre_nms_test": args.pre_nms_test,
        "post_nms_test": args.post_nms_test,
        "rois_per_image": args.rois_per_image,
        "detections": args.detections,
        "num_classes": args.num_classes,
    }


def our_overrides(s, stride_in_1x1):
    """Config overrides giving our model the settings `s` (see print_settings for the mapping)."""
    return [
        "MODEL.RPN.PRE_NMS_TOP_N_TRAIN",
        s["pre_nms_train"],
        # a per-level cap after NMS at least as large as the per-level top-k is no cap at all,
        # as in torchvision, which has none
        "MODEL.RPN.POST_NMS_TOP_N_TRAIN",
        s["pre_nms_train"],
        "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN",
        s["post_nms_train"],
        "MODEL.RPN.FPN_POST_NMS_PER_BATCH",
        False,
        "MODEL.RPN.PRE_NMS_TOP_N_TEST",
        s["pre_nms_test"],
        "MODEL.RPN.POST_NMS_TOP_N_TEST",
        s["pre_nms_test"],
        "MODEL.RPN.FPN_POST_NMS_TOP_N_TEST",
        s["post_nms_test"],
        "MODEL.RPN.NMS_THRESH",
        0.7,
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
        s["rois_per_image"],
        "MODEL.ROI_HEADS.POSITIVE_FRACTION",
        0.25,
        "MODEL.ROI_HEADS.SCORE_THRESH",
        0.05,
        "MODEL.ROI_HEADS.NMS",
        0.5,
        "MODEL.ROI_HEADS.DETECTIONS_PER_IMG",
        s["detections"],
        "MODEL.ROI_BOX_HEAD.NUM_CLASSES",
        s["num_classes"],
        "MODEL.RESNETS.STRIDE_IN_1X1",
        stride_in_1x1,
        "MODEL.RESNETS.NORM",
        "FrozenBN",
        "MODEL.BACKBONE.FREEZE_CONV_BODY_AT",
        2,
        "DATALOADER.SIZE_DIVISIBILITY",
        32,
    ]


def torchvision_kwargs(s, height, width):
    return dict(
        num_classes=s["num_classes"],
        # resize factor min(min_size / min(h, w), max_size / max(h, w)) = 1: the size is kept
        min_size=min(height, width),
        max_size=max(height, width),
        image_mean=[0.0, 0.0, 0.0],
        image_std=[1.0, 1.0, 1.0],
        rpn_pre_nms_top_n_train=s["pre_nms_train"],
        rpn_post_nms_top_n_train=s["post_nms_train"],
        rpn_pre_nms_top_n_test=s["pre_nms_test"],
        rpn_post_nms_top_n_test=s["post_nms_test"],
        rpn_nms_thresh=0.7,
        box_batch_size_per_image=s["rois_per_image"],
        box_positive_fraction=0.25,
        box_score_thresh=0.05,
        box_nms_thresh=0.5,
        box_detections_per_img=s["detections"],
    )


def print_settings(s, cfg, height, width, stride_in_1x1):
    rows = [
        (
            "RPN top-k per level before NMS, training",
            s["pre_nms_train"],
            "PRE_NMS_TOP_N_TRAIN (per level)",
            "rpn_pre_nms_top_n_train (per level)",
        ),
        (
            "RPN proposals per image after NMS, training",
            s["post_nms_train"],
            f"FPN_POST_NMS_TOP_N_TRAIN (per image: FPN_POST_NMS_PER_BATCH "
            f"{cfg.MODEL.RPN.FPN_POST_NMS_PER_BATCH}; per-level POST_NMS_TOP_N_TRAIN "
            f"{cfg.MODEL.RPN.POST_NMS_TOP_N_TRAIN} = no cap)",
            "rpn_post_nms_top_n_train (per image)",
        ),
        (
            "RPN top-k per level before NMS, test",
            s["pre_nms_test"],
            "PRE_NMS_TOP_N_TEST (per level)",
            "rpn_pre_nms_top_n_test (per level)",
        ),
        (
            "RPN proposals per image after NMS, test",
            s["post_nms_test"],
            f"FPN_POST_NMS_TOP_N_TEST (per image; per-level POST_NMS_TOP_N_TEST "
            f"{cfg.MODEL.RPN.POST_NMS_TOP_N_TEST} = no cap)",
            "rpn_post_nms_top_n_test (per image)",
        ),
        (
            "RoIs sampled per image, training",
            s["rois_per_image"],
            "ROI_HEADS.BATCH_SIZE_PER_IMAGE",
            "box_batch_size_per_image",
        ),
        ("detections per image", s["detections"], "ROI_HEADS.DETECTIONS_PER_IMG", "box_detections_per_img"),
        ("classes incl. background", s["num_classes"], "ROI_BOX_HEAD.NUM_CLASSES", "num_classes"),
        (
            "input size (h x w), kept",
            f"{height}x{width}",
            "no resize (tensors given as they are)",
            f"min_size={min(height, width)}, max_size={max(height, width)} (factor 1)",
        ),
        ("normalisation", "once, before both", "none in the model", "image_mean 0, image_std 1"),
        (
            "ResNet-50 stride",
            "in 1x1" if stride_in_1x1 else "in 3x3",
            f"MODEL.RESNETS.STRIDE_IN_1X1 {stride_in_1x1}",
            "fixed (3x3)",
        ),
        (
            "frozen",
            "BN everywhere, stem + res2",
            "FrozenBN, FREEZE_CONV_BODY_AT 2",
            "BN -> FrozenBatchNorm2d, conv1 + layer1 frozen",
        ),
    ]
    print("\nSettings (the same work on both sides):")
    print("| setting | value | ours | torchvision |")
    print("|---|---|---|---|")
    for name, value, ours, tv in rows:
        print(f"| {name} | {value} | {ours} | {tv} |")


def our_config(args):
    overrides = our_overrides(selection_settings(args), args.stride_in_1x1)
    return load_config(args.config_file, overrides)


def _freeze_batch_norms(module):
    """Replace every nn.BatchNorm2d below `module` by torchvision's FrozenBatchNorm2d (in place)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, TorchvisionFrozenBatchNorm2d(child.num_features, eps=child.eps))
        else:
            _freeze_batch_norms(child)


def build_torchvision(args):
    """fasterrcnn_resnet50_fpn without any weights, then made like a detector on a pretrained body:
    without weights torchvision trains BatchNorm2d and every layer; we freeze the BN layers and
    the stem + layer1, as it does itself when given backbone weights."""
    model = fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, **torchvision_kwargs(selection_settings(args), *args.size)
    )
    _freeze_batch_norms(model.backbone.body)
    for name, p in model.backbone.body.named_parameters():
        if not name.startswith(("layer2.", "layer3.", "layer4.")):
            p.requires_grad_(False)
    return model


# our key prefix -> torchvision's (everything else, e.g. backbone.body.*, is spelled the same)
_KEY_RULES = (
    (re.compile(r"^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\."), r"backbone.fpn.\1_blocks.\2.0."),
    (re.compile(r"^rpn\.head\.conv\."), "rpn.head.conv.0.0."),
    (re.compile(r"^roi_heads\.box\.feature_extractor\."), "roi_heads.box_head."),
    (re.compile(r"^roi_heads\.box\.predictor\."), "roi_heads.box_predictor."),
)


def ours_to_torchvision_state(state):
    out = {}
    for key, value in state.items():
        for pattern, repl in _KEY_RULES:
            key, n = pattern.subn(repl, key)
            if n:
                break
        out[key] = value
    return out


def count_params(model):
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
