import math

import pytest
import torch
from torch import nn

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.modeling.detector import build_detection_model
from maskrcnn_benchmark.modeling.detector.generalized_rcnn import GeneralizedRCNN
from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.image_list import to_image_list
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask

# Small but complete models: ResNet-18 trained from scratch with GN, a narrow FPN and heads.
SMALL = [
    "MODEL.BACKBONE.CONV_BODY",
    "R-18-FPN",
    "MODEL.RESNETS.NORM",
    "GN",
    "MODEL.BACKBONE.FREEZE_CONV_BODY_AT",
    0,
    "MODEL.RESNETS.BACKBONE_OUT_CHANNELS",
    64,
    "MODEL.ROI_BOX_HEAD.NUM_CLASSES",
    4,
    "MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM",
    128,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
    64,
    "MODEL.RPN.PRE_NMS_TOP_N_TRAIN",
    300,
    "MODEL.RPN.POST_NMS_TOP_N_TRAIN",
    300,
    "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN",
    200,
    "MODEL.RPN.PRE_NMS_TOP_N_TEST",
    300,
    "MODEL.RPN.POST_NMS_TOP_N_TEST",
    300,
    "MODEL.RPN.FPN_POST_NMS_TOP_N_TEST",
    200,
    "MODEL.ROI_MASK_HEAD.CONV_LAYERS",
    (64, 64),
    "MODEL.RETINANET.NUM_CLASSES",
    4,
    "MODEL.RETINANET.NUM_CONVS",
    2,
    "DATALOADER.SIZE_DIVISIBILITY",
    32,
]
VARIANTS = {
    "faster": [],
    "mask": ["MODEL.MASK_ON", True],
    "retinanet": ["MODEL.RETINANET_ON", True, "MODEL.RPN_ONLY", True, "MODEL.BACKBONE.CONV_BODY", "R-18-FPN-RETINANET"],
}
LOSS_KEYS = {
    "faster": {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"},
    "mask": {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"},
    "retinanet": {"loss_retina_cls", "loss_retina_reg"},
}


def _model(variant, *extra):
    torch.manual_seed(0)
    return build_detection_model(load_config("", SMALL + VARIANTS[variant] + list(extra)))


def _target(boxes, labels, size):
    t = BoxList(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), size)
    t.add_field("labels", torch.tensor(labels, dtype=torch.int64))
    t.add_field("masks", SegmentationMask([[[x0, y0, x1, y0, x1, y1, x0, y1]] for x0, y0, x1, y1 in boxes], size))
    return t


def _batch():
    g = torch.Generator().manual_seed(0)
    images = [torch.randn(3, 128, 112, generator=g), torch.randn(3, 96, 128, generator=g)]
    targets = [
        _target([[10, 20, 60, 90], [40, 30, 100, 70]], [1, 3], (112, 128)),
        _target([], [], (128, 96)),
    ]  # an image without any object
    return images, targets


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_training_step_with_an_image_without_ground_truth(variant):
    model = _model(variant).train()
    images, targets = _batch()
    losses = model(images, targets)
    assert set(losses) == LOSS_KEYS[variant]
    for name, value in losses.items():
        assert value.dim() == 0 and math.isfinite(value.item()), name
    sum(losses.values()).backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["backbone.body.conv1.weight"].abs().sum() > 0


@pytest.mark.parametrize("variant", ["mask", "retinanet"])
def test_batch_without_any_ground_truth(variant):
    model = _model(variant).train()
    images, _ = _batch()
    empty = [_target([], [], (112, 128)), _target([], [], (128, 96))]
    losses = model(images, empty)
    regression = [k for k in losses if "reg" in k or k == "loss_mask"]
    for name in regression:
        assert losses[name].item() == 0 and losses[name].requires_grad, name
    sum(losses.values()).backward()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_eval_output_format(variant):
    # An untrained RetinaNet scores about its prior (0.01): let every candidate through.
    extra = ["MODEL.RETINANET.INFERENCE_TH", 0.0] if variant == "retinanet" else []
    model = _model(variant, *extra).eval()
    images, _ = _batch()
    with torch.no_grad():
        results = model(images)
    assert len(results) == 2
    for result, image in zip(results, images):
        height, width = image.shape[-2:]
        assert isinstance(result, BoxList) and result.size == (width, height)
        assert result.mode == "xyxy" and 0 < len(result) <= 100
        boxes = result.bbox
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= width).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= height).all()
        scores = result.get_field("scores")
        assert (scores[:-1] >= scores[1:]).all()
        labels = result.get_field("labels")
        assert labels.dtype == torch.int64 and labels.min() >= 1 and labels.max() <= 3
        if variant == "mask":
            masks = result.get_field("mask")
            assert masks.shape == (len(result), 1, 28, 28)
            assert (masks >= 0).all() and (masks <= 1).all()


def test_rpn_only_returns_sorted_proposals():
    model = _model("faster", "MODEL.RPN_ONLY", True).eval()
    assert model.roi_heads is None
    images, targets = _batch()
    with torch.no_grad():
        proposals = model(to_image_list(images, 32))
    for p in proposals:
        objectness = p.get_field("objectness")
        assert 0 < len(p) <= 200 and (objectness[:-1] >= objectness[1:]).all()
    model.train()
    assert set(model(images, targets)) == {"loss_objectness", "loss_rpn_box_reg"}


class _FakeSupernet(nn.Module):
    """Wraps a backbone and records the arch it is given."""

    is_supernet = True

    def __init__(self, backbone):
        super().__init__()
        self.inner = backbone
        self.out_channels = backbone.out_channels
        self.seen = []

    def forward(self, x, arch):
        self.seen.append(arch)
        return self.inner(x)


def test_arch_goes_to_a_supernet_backbone_only():
    model = _model("faster").eval()
    images, _ = _batch()
    with pytest.raises(ValueError, match="not a supernet"):
        model(images, arch=(0, 1, 2))
    supernet = GeneralizedRCNN(_FakeSupernet(model.backbone), model.rpn, model.roi_heads, size_divisible=32).eval()
    with pytest.raises(ValueError, match="pass arch="):
        supernet(images)
    with torch.no_grad():
        supernet(images, arch=[0, 1, 2])
    assert supernet.backbone.seen == [(0, 1, 2)]
    supernet.train()
    with pytest.raises(ValueError, match="needs targets"):
        supernet(images, arch=(0,))


def test_faster_rcnn_overfits_one_image():
    model = _model("faster").train()
    image = torch.zeros(3, 96, 96)
    image[:, 16:80, 30:70] = 2.0
    target = _target([[30, 16, 70, 80]], [2], (96, 96))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    history = []
    for _ in range(20):
        losses = model([image], [target])
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert sum(history[-5:]) / 5 < 0.5 * sum(history[:5]) / 5
    model.eval()
    with torch.no_grad():
        (result,) = model([image])
    assert result.get_field("labels")[0] == 2


@pytest.mark.parametrize(
    "key,value",
    [
        ("MODEL.META_ARCHITECTURE", "RetinaNetOnly"),
        ("MODEL.ROI_HEADS.USE_FPN", False),
        ("MODEL.GROUP_NORM.NUM_GROUPS", 16),
    ],
)
def test_unsupported_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        build_detection_model(load_config("", SMALL + [key, value]))


def test_bfloat16_autocast_keeps_boxes_and_losses_in_float32():
    model = _model("mask").train()
    images, targets = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = model(images, targets)
    assert all(v.dtype == torch.float32 and math.isfinite(v.item()) for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        (result, _) = model(images)
    assert result.bbox.dtype == torch.float32 and len(result) > 0
    assert result.get_field("scores").dtype == torch.float32
    assert result.get_field("mask").dtype == torch.float32
