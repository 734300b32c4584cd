import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

from maskrcnn_benchmark.structures.bounding_box import FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM, BoxList
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask

W, H = 40, 30


def _coco_mask(polys, h, w):
    """Reference: exactly what COCO.annToMask does for a polygon segmentation."""
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))


def _random_polygon(rng, n_points=7, decimals=2):
    cx, cy = rng.uniform(5, W - 5), rng.uniform(5, H - 5)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n_points))
    radii = rng.uniform(2, 12, n_points)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    return np.round(pts, decimals).reshape(-1).tolist()


def _instances(seed=0, n=5, decimals=2):
    rng = np.random.default_rng(seed)
    # Instance 1 has two parts, as COCO objects split by occlusion do.
    return [
        [_random_polygon(rng, decimals=decimals)]
        if i != 1
        else [_random_polygon(rng, decimals=decimals), _random_polygon(rng, 4, decimals)]
        for i in range(n)
    ]


def test_rasterisation_matches_pycocotools():
    inst = _instances()
    got = SegmentationMask(inst, (W, H)).get_mask_tensor()
    assert got.dtype == torch.uint8 and got.shape == (5, H, W)
    for i, polys in enumerate(inst):
        np.testing.assert_array_equal(got[i].numpy(), _coco_mask(polys, H, W))
    assert torch.equal(SegmentationMask(inst, (W, H)).convert("mask"), got)


def test_pixel_convention_is_continuous():
    m = SegmentationMask([[[0, 0, 2, 0, 2, 2, 0, 2]]], (4, 3)).get_mask_tensor()[0]
    expected = torch.zeros(3, 4, dtype=torch.uint8)
    expected[:2, :2] = 1
    assert torch.equal(m, expected)


def test_degenerate_polygons_dropped_not_read_as_boxes():
    # A 4-number "polygon" is a line; pycocotools would take a list of them for a bbox.
    sm = SegmentationMask([[[1, 1, 5, 5]], [[1, 1, 5, 1, 5, 5], [0, 0, 1, 1]]], (8, 8))
    masks = sm.get_mask_tensor()
    assert masks[0].sum() == 0
    np.testing.assert_array_equal(masks[1].numpy(), _coco_mask([[1, 1, 5, 1, 5, 5]], 8, 8))
    assert len(sm.polygons[1]) == 1


def test_empty_and_bad_input():
    assert SegmentationMask([], (W, H)).get_mask_tensor().shape == (0, H, W)
    with pytest.raises(ValueError, match="even"):
        SegmentationMask([[[1, 2, 3, 4, 5, 6, 7]]], (W, H))
    with pytest.raises(TypeError, match="instance 0"):
        SegmentationMask([np.zeros(6)], (W, H))
    with pytest.raises(ValueError, match="poly"):
        SegmentationMask([], (W, H), mode="mask")
    with pytest.raises(ValueError, match="mode"):
        SegmentationMask([], (W, H)).convert("rle")


def test_resize_hand_computation():
    sm = SegmentationMask([[[2, 4, 10, 4, 10, 8]]], (20, 10))
    r = sm.resize((40, 5))
    assert r.size == (40, 5)
    np.testing.assert_allclose(r.polygons[0][0], [4, 2, 20, 2, 20, 4])
    # Integer scaling of an axis-aligned square is exact in pixel space.
    sq = SegmentationMask([[[1, 1, 4, 1, 4, 3, 1, 3]]], (5, 4))
    big = sq.resize((10, 8)).get_mask_tensor()[0]
    small = sq.get_mask_tensor()[0]
    assert torch.equal(big, small.repeat_interleave(2, 0).repeat_interleave(2, 1))


def test_flips_hand_and_raster():
    inst = [[[0, 0, 10, 0, 10, 5, 0, 5]], [[12, 3, 30, 3, 30, 20, 20, 27, 12, 20]]]
    sm = SegmentationMask(inst, (W, H))
    lr = sm.transpose(FLIP_LEFT_RIGHT)
    np.testing.assert_allclose(lr.polygons[0][0], [40, 0, 30, 0, 30, 5, 40, 5])
    tb = sm.transpose(FLIP_TOP_BOTTOM)
    np.testing.assert_allclose(tb.polygons[0][0], [0, 30, 10, 30, 10, 25, 0, 25])
    # Axis-aligned integer vertices: the flipped raster is exactly the mirrored raster. Slanted
    # edges are drawn by COCO's scanline rule, which is not exactly mirror-symmetric, so there the
    # two may differ on edge pixels only.
    base = sm.get_mask_tensor()
    assert torch.equal(lr.get_mask_tensor()[0], base[0].flip(-1))
    assert torch.equal(tb.get_mask_tensor()[0], base[0].flip(-2))
    for flipped, dim in ((lr, -1), (tb, -2)):
        a, b = flipped.get_mask_tensor()[1].bool(), base[1].flip(dim).bool()
        assert (a & b).sum() / (a | b).sum() > 0.9
        np.testing.assert_array_equal(
            flipped.get_mask_tensor()[1].numpy(), _coco_mask([flipped.polygons[1][0].tolist()], H, W)
        )
    np.testing.assert_allclose(lr.transpose(FLIP_LEFT_RIGHT).polygons[1][0], inst[1][0])
    with pytest.raises(ValueError):
        sm.transpose(5)


def _bounds(polys):
    pts = np.concatenate([np.reshape(p, (-1, 2)) for p in polys])
    return [
        int(np.floor(pts[:, 0].min())),
        int(np.floor(pts[:, 1].min())),
        int(np.ceil(pts[:, 0].max())),
        int(np.ceil(pts[:, 1].max())),
    ]


def _inside_instances(seed, n):
    """Integer-vertex instances inside the image: COCO's rounding is then shift-invariant. (Where a
    polygon crosses the frame, pycocotools clamps it to the border row, so a crop of a raster and a
    raster of the cropped polygon can differ on a few pixels there, as in maskrcnn-benchmark.)"""
    inst = []
    rng = np.random.default_rng(seed)
    while len(inst) < n:
        cand = [_random_polygon(rng, decimals=0)]
        x1, y1, x2, y2 = _bounds(cand)
        if x1 >= 1 and y1 >= 1 and x2 <= W - 1 and y2 <= H - 1:
            inst.append(cand)
    return inst


def test_crop_is_a_window_of_the_raster():
    inst = _inside_instances(seed=1, n=5)
    sm = SegmentationMask(inst, (W, H))
    x1, y1, x2, y2 = _bounds([p for polys in inst for p in polys])
    box = (x1 - 1, y1 - 1, x2 + 1, y2 + 1)
    c = sm.crop(box)
    assert c.size == (box[2] - box[0], box[3] - box[1])
    np.testing.assert_allclose(c.polygons[0][0][:2], np.array(inst[0][0][:2]) - box[:2])
    assert torch.equal(c.get_mask_tensor(), sm.get_mask_tensor()[:, box[1] : box[3], box[0] : box[2]])
    assert sm.crop(torch.tensor(box)).size == c.size
    # A crop cutting through objects is the COCO raster of the shifted polygons.
    cut = sm.crop((10, 8, 30, 22))
    for i, polys in enumerate(inst):
        shifted = [(np.reshape(p, (-1, 2)) - [10, 8]).reshape(-1).tolist() for p in polys]
        np.testing.assert_array_equal(cut.get_mask_tensor()[i].numpy(), _coco_mask(shifted, 14, 20))


def test_indexing():
    inst = _instances(n=5)
    sm = SegmentationMask(inst, (W, H))
    full = sm.get_mask_tensor()
    assert torch.equal(sm[2].get_mask_tensor(), full[2:3])
    assert torch.equal(sm[-1].get_mask_tensor(), full[4:5])
    assert torch.equal(sm[1:4].get_mask_tensor(), full[1:4])
    keep = torch.tensor([True, False, True, False, True])
    assert torch.equal(sm[keep].get_mask_tensor(), full[keep])
    idx = torch.tensor([4, 0, 0])
    assert torch.equal(sm[idx].get_mask_tensor(), full[idx])
    assert torch.equal(sm[[3, 1]].get_mask_tensor(), full[[3, 1]])
    assert len(sm[torch.zeros(0, dtype=torch.long)]) == 0
    assert len(sm[[]]) == 0
    with pytest.raises(IndexError):
        sm[5]
    with pytest.raises(IndexError):
        sm[torch.tensor([True, False])]
    with pytest.raises(IndexError):
        sm[torch.tensor([7])]
    with pytest.raises(IndexError):
        sm[torch.tensor([0.5])]


def test_to_and_cat():
    sm = SegmentationMask(_instances(n=2), (W, H)).to("cpu")
    assert sm.get_mask_tensor().device.type == "cpu"
    both = SegmentationMask.cat([sm, sm[0]])
    assert len(both) == 3
    assert torch.equal(both.get_mask_tensor()[2], sm.get_mask_tensor()[0])
    with pytest.raises(ValueError, match="sizes differ"):
        SegmentationMask.cat([sm, SegmentationMask([], (W + 1, H))])


def test_crop_and_resize_targets_equals_window_when_scale_is_one():
    inst = _inside_instances(seed=2, n=4)
    sm = SegmentationMask(inst, (W, H))
    full = sm.get_mask_tensor()
    # A square box holding the whole instance, drawn at its own size: a window of the raster.
    boxes, sides = [], []
    for polys in inst:
        x1, y1, x2, y2 = _bounds(polys)
        side = max(x2 - x1, y2 - y1) + 2
        bx, by = min(x1 - 1, W - side), min(y1 - 1, H - side)
        boxes.append([bx, by, bx + side, by + side])
        sides.append(side)
    for i, (box, side) in enumerate(zip(boxes, sides)):
        t = sm[i].crop_and_resize_targets(BoxList(torch.tensor([box], dtype=torch.float32), (W, H)), side)
        assert t.dtype == torch.float32 and t.shape == (1, side, side)
        assert torch.equal(t[0], full[i, box[1] : box[3], box[0] : box[2]].float())
    # Several instances at once give the per-instance results, in order.
    same = [b for b, s in zip(boxes, sides) if s == sides[0]]
    idx = [i for i, s in enumerate(sides) if s == sides[0]]
    t = sm[idx].crop_and_resize_targets(torch.tensor(same, dtype=torch.float32), sides[0])
    for k, i in enumerate(idx):
        box = boxes[i]
        assert torch.equal(t[k], full[i, box[1] : box[3], box[0] : box[2]].float())


def test_crop_and_resize_targets_hand_cases():
    # Instance 0 fills its box exactly; instance 1 covers the left half of its box.
    inst = [[[4, 6, 12, 6, 12, 10, 4, 10]], [[10, 10, 15, 10, 15, 20, 10, 20]]]
    sm = SegmentationMask(inst, (W, H))
    boxes = torch.tensor([[4.0, 6.0, 12.0, 10.0], [10.0, 10.0, 20.0, 20.0]])
    t = sm.crop_and_resize_targets(boxes, 28)
    assert torch.equal(t[0], torch.ones(28, 28))
    expected = torch.zeros(28, 28)
    expected[:, :14] = 1
    assert torch.equal(t[1], expected)
    # Same as crop -> resize -> rasterise done by hand with the COCO API.
    b = [10.5, 9.25, 17.75, 21.0]
    polys = [
        ((np.array(inst[1][0]).reshape(-1, 2) - b[:2]) * [28 / (b[2] - b[0]), 28 / (b[3] - b[1])]).reshape(-1).tolist()
    ]
    t2 = sm[1].crop_and_resize_targets(torch.tensor([b]), 28)
    np.testing.assert_array_equal(t2[0].numpy(), _coco_mask(polys, 28, 28).astype(np.float32))


def test_crop_and_resize_targets_checks_counts():
    sm = SegmentationMask(_instances(n=2), (W, H))
    with pytest.raises(ValueError, match="one box per instance"):
        sm.crop_and_resize_targets(torch.zeros(3, 4), 14)
    with pytest.raises(ValueError, match="image size"):
        sm.crop_and_resize_targets(BoxList(torch.zeros(2, 4), (W, H + 1)), 14)
    assert sm[[]].crop_and_resize_targets(torch.zeros(0, 4), 7).shape == (0, 7, 7)
