import pytest
import torch
from torchvision.ops import roi_align as tv_roi_align

from maskrcnn_benchmark.modeling.poolers import LevelMapper, Pooler, boxes_to_rois
from maskrcnn_benchmark.structures.bounding_box import BoxList


def _square(side, x0=0.0):
    return [x0, 0.0, x0 + side, side]


def test_level_mapper_hand_cases():
    mapper = LevelMapper(2, 5)
    boxes = torch.tensor(
        [
            _square(224),
            _square(223.5),
            _square(112),
            _square(448),
            _square(56),
            _square(1000),
            _square(10),
            [0.0, 0.0, 448.0, 112.0],
        ]
    )
    # sqrt(area): 224 -> P4, just below 224 -> P3, 112 -> P3, 448 -> P5, 56 -> P2, clamps at both
    # ends, a 448 x 112 box has sqrt(area) 224 -> P4. Indices are relative to k_min = 2.
    assert mapper(boxes).tolist() == [2, 1, 1, 3, 0, 3, 0, 2]


def test_boxes_to_rois():
    a = BoxList(torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8]]), (10, 10))
    b = BoxList(torch.zeros(0, 4), (10, 10))
    c = BoxList(torch.tensor([[0.0, 0, 1, 1]]), (10, 10))
    rois = boxes_to_rois([a, b, c])
    assert rois.tolist() == [[0, 1, 2, 3, 4], [0, 5, 6, 7, 8], [2, 0, 0, 1, 1]]


def test_pooler_equals_roi_align_on_the_mapped_level():
    torch.manual_seed(0)
    scales = (1 / 4, 1 / 8, 1 / 16, 1 / 32)
    feats = [torch.randn(2, 3, 128 // 2**i, 96 // 2**i) for i in range(4)]
    g = torch.Generator().manual_seed(1)
    boxes = []
    for _ in range(2):
        xy = torch.rand(20, 2, generator=g) * 200
        wh = torch.exp(torch.rand(20, 2, generator=g) * 4.6 + 2.1)  # 8 .. 800 px
        boxes.append(BoxList(torch.cat([xy, xy + wh], 1), (384, 512)))
    pooler = Pooler(7, scales, sampling_ratio=2)
    out = pooler(feats + [torch.randn(2, 3, 4, 3)], boxes)  # an extra P6 is ignored
    assert out.shape == (40, 3, 7, 7)
    # NHWC feature maps (a channels-last body) pool to the same values
    nhwc = [f.contiguous(memory_format=torch.channels_last) for f in feats]
    torch.testing.assert_close(pooler(nhwc, boxes), out)
    rois = boxes_to_rois(boxes)
    area = (rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])
    levels = torch.floor(4 + torch.log2(area.sqrt() / 224 + 1e-6)).clamp(2, 5).long() - 2
    assert len(set(levels.tolist())) == 4  # every level is exercised
    for k in range(40):
        lvl = int(levels[k])
        expected = tv_roi_align(feats[lvl], rois[k : k + 1], 7, scales[lvl], 2, aligned=False)
        torch.testing.assert_close(out[k : k + 1], expected)


def test_pooler_gradient_reaches_features_and_empty_input():
    feats = [torch.randn(1, 2, 16, 16, requires_grad=True), torch.randn(1, 2, 8, 8, requires_grad=True)]
    pooler = Pooler((2, 3), (1 / 4, 1 / 8), sampling_ratio=2, canonical_level=2, canonical_scale=16)
    boxes = [BoxList(torch.tensor([[0.0, 0, 8, 8], [0, 0, 60, 60]]), (64, 64))]
    out = pooler(feats, boxes)
    assert out.shape == (2, 2, 2, 3)
    out.sum().backward()
    assert feats[0].grad.abs().sum() > 0 and feats[1].grad.abs().sum() > 0
    empty = pooler(feats, [BoxList(torch.zeros(0, 4), (64, 64))])
    assert empty.shape == (0, 2, 2, 3)


def test_pooler_rejects_bad_scales():
    with pytest.raises(ValueError, match="powers of 2"):
        Pooler(7, (0.25, 0.1), 2)
    with pytest.raises(ValueError, match="consecutive"):
        Pooler(7, (0.25, 0.0625), 2)
