"""Vertical flips and 90-degree rotations move boxes and polygons exactly as they move the pixels.

The reference is the image itself: each object is painted into its own channel of a label image,
the image goes through the transform, and the painted pixels' extent must equal the transformed
boxes. For polygons, the pixel centres inside each polygon (matplotlib's point-in-polygon, which
maps exactly under flips and right-angle turns) are flipped / rotated with numpy and compared
with the pixel centres inside the transformed polygon.
"""

from matplotlib.path import Path
import numpy as np
import pytest
import torch
from PIL import Image

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.data.transforms import RandomRotate90, RandomVerticalFlip, build_transforms
from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask

W, H = 37, 23
RECTS = [(2, 3, 12, 9), (20, 1, 36, 22), (0, 15, 5, 23)]  # xyxy, integer pixel edges
# Vertices off the half-pixel grid, so that no pixel centre lies exactly on an edge.
POLYS = [
    [[v + (0.23 if k % 2 == 0 else 0.11) for k, v in enumerate(p)] for p in inst]
    for inst in [[[3, 2, 15, 4, 8, 14]], [[22, 5, 34, 5, 34, 18, 28, 12, 22, 18]], [[1, 16, 4, 21, 1, 21]]]
]


def _target():
    t = BoxList(torch.tensor(RECTS, dtype=torch.float32), (W, H), "xyxy")
    t.add_field("labels", torch.tensor([1, 2, 3]))
    t.add_field("masks", SegmentationMask(POLYS, (W, H)))
    return t


def _painted():
    """An RGB image whose channel c holds rectangle c as 255 (and 0 elsewhere)."""
    a = np.zeros((H, W, 3), dtype=np.uint8)
    for c, (x1, y1, x2, y2) in enumerate(RECTS):
        a[y1:y2, x1:x2, c] = 255
    return Image.fromarray(a)


def _inside(polygons, size):
    """bool [H, W]: pixel centres inside any of the flat polygons."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    out = np.zeros(h * w, dtype=bool)
    for p in polygons:
        out |= Path(np.asarray(p, dtype=float).reshape(-1, 2)).contains_points(centres)
    return out.reshape(h, w)


def _extents(image):
    a = np.asarray(image)
    out = []
    for c in range(3):
        ys, xs = np.nonzero(a[:, :, c])
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return out


@pytest.mark.parametrize(
    "transform, reference",
    [
        (RandomVerticalFlip(1.0), np.flipud),
        (RandomRotate90(1.0), np.rot90),  # numpy's rot90 turns counter-clockwise
    ],
)
def test_boxes_and_polygons_follow_the_pixels(transform, reference):
    target = _target()
    image, out = transform(_painted(), target)
    assert out.size == image.size
    assert out.bbox.tolist() == _extents(image)
    assert out.get_field("labels").tolist() == [1, 2, 3]
    masks = out.get_field("masks")
    assert masks.size == out.size
    raster = masks.get_mask_tensor().numpy()
    for i, (poly, moved) in enumerate(zip(POLYS, masks.polygons)):
        expected = reference(_inside(poly, (W, H)))
        got = _inside(moved, masks.size)
        assert got.sum() > 0 and np.array_equal(got, expected), f"instance {i}"
        # pycocotools' raster (what the mask loss sees) agrees up to its edge rounding.
        iou = (raster[i].astype(bool) & expected).sum() / (raster[i].astype(bool) | expected).sum()
        assert iou > 0.85, f"instance {i}: IoU {iou:.2f}"


def test_rotation_on_tensors_matches_pil():
    image = _painted()
    pil, _ = RandomRotate90(1.0)(image, None)
    tensor, _ = RandomRotate90(1.0)(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1), None)
    assert np.array_equal(tensor.permute(1, 2, 0).numpy(), np.asarray(pil))


def test_four_rotations_and_two_flips_are_the_identity():
    target = _target()
    out = target
    for _ in range(4):
        out = out.rotate90()
    assert out.size == (W, H) and torch.allclose(out.bbox, target.bbox)
    assert all(
        np.allclose(a, b)
        for pa, pb in zip(out.get_field("masks").polygons, target.get_field("masks").polygons)
        for a, b in zip(pa, pb)
    )
    _, flipped = RandomVerticalFlip(1.0)(_painted(), target)
    _, back = RandomVerticalFlip(1.0)(_painted().transpose(Image.Transpose.FLIP_TOP_BOTTOM), flipped)
    assert torch.allclose(back.bbox, target.bbox)


def test_probability_zero_never_and_probability_half_sometimes():
    target = _target()
    _, same = RandomRotate90(0.0)(_painted(), target)
    assert same is target
    torch.manual_seed(0)
    sizes = {RandomRotate90(0.5)(_painted(), target)[1].size for _ in range(40)}
    assert sizes == {(W, H), (H, W)}


def test_config_keys_build_the_steps():
    base = ["INPUT.MIN_SIZE_TRAIN", (H,), "INPUT.MAX_SIZE_TRAIN", 100]
    names = [type(t).__name__ for t in build_transforms(load_config("", base), True).transforms]
    assert "RandomVerticalFlip" not in names and "RandomRotate90" not in names
    cfg = load_config(
        "",
        base
        + [
            "INPUT.VERTICAL_FLIP_PROB_TRAIN",
            1.0,
            "INPUT.ROTATE90_PROB_TRAIN",
            1.0,
            "INPUT.HORIZONTAL_FLIP_PROB_TRAIN",
            0.0,
        ],
    )
    tf = build_transforms(cfg, True)
    image, out = tf(_painted(), _target())
    assert image.shape[1:] == (W, H) and out.size == (H, W)  # rotated: height and width swap
    # Test-time pipelines never flip or rotate.
    assert not any(
        type(t).__name__.startswith("Random") and t.prob > 0 for t in build_transforms(cfg, False).transforms
    )
    with pytest.raises(ValueError, match=r"INPUT.ROTATE90_PROB_TRAIN must be a probability in \[0, 1\]"):
        build_transforms(load_config("", base + ["INPUT.ROTATE90_PROB_TRAIN", 1.5]), True)
