import pytest
import torch

from maskrcnn_benchmark.structures.bounding_box import FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM, BoxList
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask


def _boxes():
    # Image 100 wide, 50 high.
    b = BoxList(torch.tensor([[10.0, 5.0, 30.0, 25.0], [0.0, 0.0, 100.0, 50.0], [60.5, 10.0, 70.0, 12.5]]), (100, 50))
    b.add_field("labels", torch.tensor([1, 2, 3]))
    b.add_field("scores", torch.tensor([0.9, 0.5, 0.1]))
    return b


def test_construction_validates_and_casts():
    b = BoxList(torch.tensor([[0, 0, 2, 3]]), (4, 4))
    assert b.bbox.dtype == torch.float32 and b.mode == "xyxy" and b.size == (4, 4)
    assert len(BoxList(torch.zeros(0), (4, 4))) == 0
    assert BoxList([[1, 2, 3, 4]], (5, 5)).bbox.tolist() == [[1, 2, 3, 4]]
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        BoxList(torch.zeros(3, 5), (4, 4))
    with pytest.raises(ValueError, match="mode"):
        BoxList(torch.zeros(1, 4), (4, 4), mode="cxcywh")
    with pytest.raises(ValueError, match="width, height"):
        BoxList(torch.zeros(1, 4), (4,))
    b64 = BoxList(torch.zeros(2, 4, dtype=torch.float64), (4, 4))
    assert b64.bbox.dtype == torch.float64


def test_convert_round_trip_and_hand_values():
    b = _boxes()
    wh = b.convert("xywh")
    assert wh.mode == "xywh"
    # Continuous coordinates: width = x2 - x1, no +1.
    assert torch.equal(wh.bbox[0], torch.tensor([10.0, 5.0, 20.0, 20.0]))
    assert torch.equal(wh.bbox[2], torch.tensor([60.5, 10.0, 9.5, 2.5]))
    back = wh.convert("xyxy")
    assert torch.equal(back.bbox, b.bbox)
    assert back.fields() == ["labels", "scores"]
    assert b.convert("xyxy") is b
    with pytest.raises(ValueError):
        b.convert("xy")


def test_area_both_modes():
    b = _boxes()
    expected = torch.tensor([400.0, 5000.0, 9.5 * 2.5])
    assert torch.allclose(b.area(), expected)
    assert torch.allclose(b.convert("xywh").area(), expected)


def test_resize_uniform_and_anisotropic():
    b = _boxes()
    r = b.resize((200, 100))
    assert r.size == (200, 100)
    assert torch.allclose(r.bbox, b.bbox * 2)
    r2 = b.resize((50, 100))  # x * 0.5, y * 2
    assert torch.allclose(r2.bbox[0], torch.tensor([5.0, 10.0, 15.0, 50.0]))
    assert torch.equal(r2.get_field("labels"), b.get_field("labels"))
    # xywh mode stays xywh with the same geometry.
    r3 = b.convert("xywh").resize((50, 100))
    assert r3.mode == "xywh"
    assert torch.allclose(r3.convert("xyxy").bbox, r2.bbox)
    # The original is untouched.
    assert torch.equal(b.bbox[0], torch.tensor([10.0, 5.0, 30.0, 25.0]))


def test_transpose_hand_values_and_involution():
    b = _boxes()
    lr = b.transpose(FLIP_LEFT_RIGHT)
    assert torch.allclose(lr.bbox[0], torch.tensor([70.0, 5.0, 90.0, 25.0]))
    assert torch.allclose(lr.bbox[1], torch.tensor([0.0, 0.0, 100.0, 50.0]))
    tb = b.transpose(FLIP_TOP_BOTTOM)
    assert torch.allclose(tb.bbox[0], torch.tensor([10.0, 25.0, 30.0, 45.0]))
    assert torch.allclose(lr.transpose(FLIP_LEFT_RIGHT).bbox, b.bbox)
    assert torch.allclose(b.convert("xywh").transpose(FLIP_LEFT_RIGHT).convert("xyxy").bbox, lr.bbox)
    assert torch.allclose(lr.area(), b.area())
    with pytest.raises(ValueError, match="FLIP_LEFT_RIGHT"):
        b.transpose(2)


def test_crop_hand_values():
    b = _boxes()
    c = b.crop((20, 0, 80, 40))
    assert c.size == (60, 40)
    assert torch.allclose(c.bbox[0], torch.tensor([0.0, 5.0, 10.0, 25.0]))
    assert torch.allclose(c.bbox[1], torch.tensor([0.0, 0.0, 60.0, 40.0]))
    assert torch.allclose(c.bbox[2], torch.tensor([40.5, 10.0, 50.0, 12.5]))
    # A box entirely outside the crop becomes empty and is dropped by clip_to_image.
    c2 = b.crop((0, 30, 100, 50))
    assert c2.size == (100, 20)
    assert c2.area()[0] == 0
    assert len(c2.clip_to_image(remove_empty=True)) == 1


def test_clip_to_image_remove_empty_keeps_fields_aligned():
    b = BoxList(
        torch.tensor(
            [
                [-5.0, -5.0, 10.0, 10.0],  # clipped
                [50.0, 10.0, 70.0, 20.0],  # right of the image: empty after clipping
                [5.0, 5.0, 5.0, 9.0],  # zero width
                [2.0, 3.0, 40.0, 60.0],
            ]
        ),  # clipped at bottom/right
        (40, 30),
    )
    b.add_field("labels", torch.tensor([1, 2, 3, 4]))
    kept = b.clip_to_image(remove_empty=True)
    assert kept.bbox.tolist() == [[0, 0, 10, 10], [2, 3, 40, 30]]
    assert kept.get_field("labels").tolist() == [1, 4]
    all_ = b.clip_to_image(remove_empty=False)
    assert len(all_) == 4 and all_.bbox[1].tolist() == [40, 10, 40, 20]
    # Not in place.
    assert b.bbox[0].tolist() == [-5, -5, 10, 10]
    wh = b.convert("xywh").clip_to_image()
    assert wh.mode == "xywh" and torch.allclose(wh.convert("xyxy").bbox, kept.bbox)


def test_getitem_variants_index_fields():
    b = _boxes()
    one = b[1]
    assert isinstance(one, BoxList) and len(one) == 1
    assert one.get_field("labels").tolist() == [2]
    assert b[-1].get_field("labels").tolist() == [3]
    assert b[1:].get_field("labels").tolist() == [2, 3]
    assert b[torch.tensor([True, False, True])].get_field("scores").tolist() == pytest.approx([0.9, 0.1])
    assert b[torch.tensor([2, 0])].bbox[0].tolist() == b.bbox[2].tolist()
    assert b[[2, 0]].get_field("labels").tolist() == [3, 1]
    assert len(b[[]]) == 0
    with pytest.raises(IndexError):
        b[3]


def test_fields_api_and_copy_with_fields():
    b = _boxes()
    assert b.has_field("labels") and not b.has_field("masks")
    with pytest.raises(KeyError, match="masks"):
        b.get_field("masks")
    c = b.copy_with_fields(["labels"])
    assert c.fields() == ["labels"] and torch.equal(c.bbox, b.bbox)
    assert b.copy_with_fields("scores").fields() == ["scores"]
    with pytest.raises(KeyError, match="masks"):
        b.copy_with_fields(["labels", "masks"])
    assert b.copy_with_fields(["labels", "masks"], skip_missing=True).fields() == ["labels"]


def test_to_device_and_repr():
    b = _boxes()
    c = b.to("cpu")
    assert torch.equal(c.bbox, b.bbox) and c.fields() == b.fields()
    assert "num_boxes=3" in repr(b)


def test_mask_field_follows_geometry():
    square = [[10.0, 10.0, 20.0, 10.0, 20.0, 20.0, 10.0, 20.0]]
    b = BoxList(torch.tensor([[10.0, 10.0, 20.0, 20.0]]), (40, 30))
    b.add_field("masks", SegmentationMask([square], (40, 30)))
    for op in (
        lambda x: x.resize((80, 45)),
        lambda x: x.transpose(FLIP_LEFT_RIGHT),
        lambda x: x.transpose(FLIP_TOP_BOTTOM),
        lambda x: x.crop((5, 5, 35, 25)),
    ):
        out = op(b)
        m = out.get_field("masks")
        assert m.size == out.size
        # The raster's bounding box equals the transformed box.
        raster = m.get_mask_tensor()[0]
        ys, xs = torch.nonzero(raster, as_tuple=True)
        x1, y1, x2, y2 = out.bbox[0].tolist()
        assert (xs.min().item(), ys.min().item()) == (round(x1), round(y1))
        assert (xs.max().item() + 1, ys.max().item() + 1) == (round(x2), round(y2))
