import pytest
import torch
import torchvision

from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.boxlist_ops import (
    boxlist_iou,
    boxlist_ml_nms,
    boxlist_nms,
    cat_boxlist,
    remove_small_boxes,
)
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask


def _random_boxes(n, size=100.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2
    return torch.cat([xy, xy + wh], dim=1)


def test_iou_matches_torchvision():
    a = _random_boxes(30, seed=1)
    b = _random_boxes(20, seed=2)
    got = boxlist_iou(BoxList(a, (150, 150)), BoxList(b, (150, 150)))
    assert got.shape == (30, 20)
    torch.testing.assert_close(got, torchvision.ops.box_iou(a, b))


def test_iou_hand_values_and_xywh_input():
    a = BoxList(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), (10, 10))
    b = BoxList(torch.tensor([[1.0, 1.0, 2.0, 2.0], [1.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]]), (10, 10)).convert(
        "xywh"
    )
    iou = boxlist_iou(a, b)
    torch.testing.assert_close(iou, torch.tensor([[0.25, 0.5, 0.0]]))


def test_iou_size_mismatch():
    with pytest.raises(ValueError, match="image size"):
        boxlist_iou(BoxList(torch.zeros(1, 4), (10, 10)), BoxList(torch.zeros(1, 4), (10, 11)))


def test_iou_empty():
    out = boxlist_iou(BoxList(torch.zeros(0, 4), (10, 10)), BoxList(_random_boxes(3), (10, 10)))
    assert out.shape == (0, 3)


def _scored(n, seed):
    g = torch.Generator().manual_seed(seed)
    b = BoxList(_random_boxes(n, seed=seed), (150, 150))
    b.add_field("scores", torch.rand(n, generator=g))
    b.add_field("labels", torch.randint(1, 4, (n,), generator=g))
    return b


@pytest.mark.parametrize("thresh", [0.3, 0.5, 0.7])
def test_nms_matches_torchvision(thresh):
    b = _scored(200, seed=3)
    kept = boxlist_nms(b, thresh)
    ref = torchvision.ops.nms(b.bbox, b.get_field("scores"), thresh)
    assert torch.equal(kept.bbox, b.bbox[ref])
    assert torch.equal(kept.get_field("labels"), b.get_field("labels")[ref])
    top = boxlist_nms(b, thresh, max_proposals=5)
    assert torch.equal(top.bbox, b.bbox[ref[:5]])


def test_nms_other_score_field_mode_and_disabled():
    b = _scored(50, seed=4)
    b.add_field("objectness", -b.get_field("scores"))
    kept = boxlist_nms(b.convert("xywh"), 0.5, score_field="objectness")
    ref = torchvision.ops.nms(b.bbox, b.get_field("objectness"), 0.5)
    assert kept.mode == "xywh"
    torch.testing.assert_close(kept.convert("xyxy").bbox, b.bbox[ref])
    assert boxlist_nms(b, 0.0) is b


def test_ml_nms_matches_torchvision_batched():
    b = _scored(200, seed=5)
    kept = boxlist_ml_nms(b, 0.5)
    ref = torchvision.ops.batched_nms(b.bbox, b.get_field("scores"), b.get_field("labels"), 0.5)
    assert torch.equal(kept.bbox, b.bbox[ref])


def test_remove_small_boxes_hand():
    b = BoxList(torch.tensor([[0.0, 0.0, 5.0, 5.0], [0.0, 0.0, 4.9, 10.0], [1.0, 1.0, 11.0, 5.0]]), (20, 20))
    b.add_field("labels", torch.tensor([1, 2, 3]))
    assert remove_small_boxes(b, 5).get_field("labels").tolist() == [1]
    assert remove_small_boxes(b, 4).get_field("labels").tolist() == [1, 2, 3]
    assert remove_small_boxes(b.convert("xywh"), 4.95).get_field("labels").tolist() == [1]


def test_cat_keeps_fields_including_masks():
    sq = [[0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]]
    a = BoxList(torch.tensor([[0.0, 0.0, 4.0, 4.0]]), (10, 10))
    a.add_field("labels", torch.tensor([1]))
    a.add_field("masks", SegmentationMask([sq], (10, 10)))
    b = BoxList(torch.tensor([[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 9.0, 9.0]]), (10, 10))
    b.add_field("labels", torch.tensor([2, 3]))
    b.add_field("masks", SegmentationMask([sq, sq], (10, 10)))
    c = cat_boxlist([a, b])
    assert len(c) == 3 and c.get_field("labels").tolist() == [1, 2, 3]
    assert torch.equal(c.bbox[1:], b.bbox)
    assert len(c.get_field("masks")) == 3
    assert c.get_field("masks").get_mask_tensor().sum().item() == 3 * 16


def test_cat_rejects_mismatches():
    a = BoxList(torch.zeros(1, 4), (10, 10))
    with pytest.raises(ValueError, match="at least one"):
        cat_boxlist([])
    with pytest.raises(ValueError, match="sizes differ"):
        cat_boxlist([a, BoxList(torch.zeros(1, 4), (10, 12))])
    with pytest.raises(ValueError, match="modes differ"):
        cat_boxlist([a, a.convert("xywh")])
    b = BoxList(torch.zeros(1, 4), (10, 10))
    b.add_field("labels", torch.tensor([1]))
    with pytest.raises(ValueError, match="fields differ"):
        cat_boxlist([a, b])
