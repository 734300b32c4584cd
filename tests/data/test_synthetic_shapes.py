import filecmp
import json
import os
import subprocess
import sys
import time

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from PIL import Image

import cv2

from maskrcnn_benchmark.data.datasets.synthetic_shapes import CATEGORIES, draw_shapes_image, make_shapes_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_layout_matches_catalog(shapes_env):
    from maskrcnn_benchmark.config.paths_catalog import DatasetCatalog

    for name in ("shapes_train", "shapes_minival", "shapes_search_train", "shapes_search_val"):
        args = DatasetCatalog.get(name)["args"]
        assert os.path.isfile(args["ann_file"]), name
        assert all(os.path.isdir(r) for r in args["root"]), name


def test_annotation_format(shapes_root):
    ann_dir = shapes_root / "shapes" / "annotations"
    train = _load(ann_dir / "train.json")
    assert set(train) == {"info", "licenses", "images", "annotations", "categories"}
    assert [c["name"] for c in train["categories"]] == list(CATEGORIES)
    assert len(train["images"]) == 24 and len(_load(ann_dir / "minival.json")["images"]) == 8
    images = {im["id"]: im for im in train["images"]}
    per_image = {}
    for ann in train["annotations"]:
        im = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert ann["iscrowd"] == 0 and 1 <= ann["category_id"] <= len(CATEGORIES)
        assert 0 <= x and 0 <= y and x + w <= im["width"] and y + h <= im["height"]
        (poly,) = ann["segmentation"]
        pts = np.array(poly).reshape(-1, 2)
        # The box is the polygon's extent.
        np.testing.assert_allclose([x, y, x + w, y + h], [*pts.min(0), *pts.max(0)], atol=0.011)
        # Area is the polygon's area; COCO's raster of it agrees up to edge pixels.
        raster_area = mask_utils.area(mask_utils.merge(mask_utils.frPyObjects([poly], im["height"], im["width"])))
        assert abs(raster_area - ann["area"]) <= 0.1 * ann["area"] + 6
        # Object size: 12%-50% of the shorter side (the polygon's extent is at most its diameter).
        short = min(im["width"], im["height"])
        assert 0.08 * short <= max(w, h) <= 0.5 * short + 0.02
        per_image.setdefault(ann["image_id"], []).append([x, y, x + w, y + h])
    # Every image has an object; overlaps stay small (at most 25% of the smaller box).
    assert set(per_image) == set(images)
    for boxes in per_image.values():
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                iw = min(a[2], b[2]) - max(a[0], b[0])
                ih = min(a[3], b[3]) - max(a[1], b[1])
                if iw > 0 and ih > 0:
                    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
                    assert iw * ih <= 0.25 * smaller + 1e-3
    ids = [a["id"] for a in train["annotations"] + _load(ann_dir / "minival.json")["annotations"]]
    assert len(ids) == len(set(ids))


def test_pixels_show_the_annotated_shapes(tmp_path):
    paths = make_shapes_dataset(str(tmp_path), num_train=10, num_minival=0, seed=5, image_format="png", max_objects=1)
    data = _load(paths["train"])
    for im, ann in zip(data["images"], data["annotations"]):
        pixels = np.asarray(Image.open(tmp_path / "images" / im["file_name"]), dtype=np.float32)
        mask = mask_utils.decode(mask_utils.frPyObjects(ann["segmentation"], im["height"], im["width"]))[..., 0]
        inside = pixels[mask.astype(bool)]
        x, y, w, h = (int(round(v)) for v in ann["bbox"])
        # The shape is one flat colour plus noise, unlike the textured background around it.
        assert inside.std(axis=0).max() < 20
        ring = np.zeros_like(mask)
        ring[max(y - 4, 0) : y + h + 4, max(x - 4, 0) : x + w + 4] = 1
        ring[mask.astype(bool)] = 0
        ring[y + 1 : y + h - 1, x + 1 : x + w - 1] = 0
        outside = pixels[ring.astype(bool)]
        assert np.abs(inside.mean(0) - outside.mean(0)).max() > 25


def _stroke_fraction(pixels, boxes):
    """Fraction of the pixels away from every box (beyond the blur's reach) that stand out from the
    smoothed image by more than five times the pixel noise: strokes, not background."""
    smooth = cv2.GaussianBlur(pixels, (0, 0), 4)
    outside = np.ones(pixels.shape[:2], dtype=bool)
    for x1, y1, x2, y2 in boxes:
        outside[max(int(y1) - 12, 0) : int(y2) + 13, max(int(x1) - 12, 0) : int(x2) + 13] = False
    return (np.abs(pixels - smooth).max(axis=2) > 40)[outside].mean()


def test_outline_style_draws_outlines_among_clutter():
    for i in range(8):
        pixels, objects = draw_shapes_image(np.random.default_rng([4, i]), 128, 128, 1, style="outline")
        (cls, pts), pixels = objects[0], pixels.astype(np.float32)
        box = (*pts.min(axis=0), *pts.max(axis=0))
        assert min(box[2] - box[0], box[3] - box[1]) >= 0.2 * 128 * 0.4  # no blob-sized outline
        # Drawn last, the outline is one flat colour; the inside is background, a different colour.
        centre = pts.mean(axis=0)
        on_stroke = [centre + (p - centre) * 0.97 for p in pts]
        along = np.array([pixels[int(y), int(x)] for x, y in on_stroke])
        inner = np.zeros((128, 128), dtype=np.uint8)
        cv2.fillPoly(inner, [np.round(centre + (pts - centre) * 0.4).astype(np.int32)], 1)
        inside = np.median(pixels[inner.astype(bool)], axis=0)
        assert along.std(axis=0).max() < 20 and np.abs(along.mean(axis=0) - inside).max() > 20, (i, CATEGORIES[cls])
        # Clutter strokes around it; the filled style has none.
        assert _stroke_fraction(pixels, [box]) > 0.01
        filled, filled_objects = draw_shapes_image(np.random.default_rng([4, i]), 128, 128, 1)
        filled_boxes = [(*p.min(axis=0), *p.max(axis=0)) for _, p in filled_objects]
        assert _stroke_fraction(filled.astype(np.float32), filled_boxes) < 0.002
    with pytest.raises(ValueError, match="style"):
        draw_shapes_image(np.random.default_rng(0), 64, 64, 1, style="dotted")


def test_deterministic_and_seed_dependent(tmp_path):
    a = make_shapes_dataset(str(tmp_path / "a"), num_train=5, num_minival=3, seed=11)
    b = make_shapes_dataset(str(tmp_path / "b"), num_train=5, num_minival=3, seed=11)
    c = make_shapes_dataset(str(tmp_path / "c"), num_train=5, num_minival=3, seed=12)
    assert _load(a["train"]) == _load(b["train"]) and _load(a["minival"]) == _load(b["minival"])
    names = sorted(os.listdir(tmp_path / "a" / "images"))
    assert len(names) == 8
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a" / "images", tmp_path / "b" / "images", names, shallow=False)
    assert not mismatch and not errors
    assert _load(a["train"])["annotations"] != _load(c["train"])["annotations"]


def test_minival_images_do_not_depend_on_num_train(tmp_path):
    a = make_shapes_dataset(str(tmp_path / "a"), num_train=3, num_minival=4, seed=1)
    b = make_shapes_dataset(str(tmp_path / "b"), num_train=7, num_minival=4, seed=1)
    strip = [
        {k: v for k, v in ann.items() if k not in ("id", "image_id")} for ann in _load(a["minival"])["annotations"]
    ]
    assert strip == [
        {k: v for k, v in ann.items() if k not in ("id", "image_id")} for ann in _load(b["minival"])["annotations"]
    ]


def test_fixed_and_ranged_image_sizes(tmp_path):
    fixed = _load(make_shapes_dataset(str(tmp_path / "f"), 6, 0, image_size=64)["train"])
    assert {(im["width"], im["height"]) for im in fixed["images"]} == {(64, 64)}
    pair = _load(make_shapes_dataset(str(tmp_path / "p"), 3, 0, image_size=(80, 48))["train"])
    assert {(im["width"], im["height"]) for im in pair["images"]} == {(80, 48)}
    ranged = _load(make_shapes_dataset(str(tmp_path / "r"), 30, 0, min_image_size=96, max_image_size=160)["train"])
    sides = [s for im in ranged["images"] for s in (im["width"], im["height"])]
    assert min(sides) >= 96 and max(sides) <= 160
    # Both orientations occur, so aspect-ratio grouping has two groups.
    assert any(im["width"] > im["height"] for im in ranged["images"])
    assert any(im["width"] < im["height"] for im in ranged["images"])


def test_search_split_written(shapes_root):
    ann_dir = shapes_root / "shapes" / "annotations"
    train = _load(ann_dir / "train.json")
    st, sv = _load(ann_dir / "search_train.json"), _load(ann_dir / "search_val.json")
    assert len(sv["images"]) == 6 and len(st["images"]) == 18
    assert sorted(a["id"] for a in st["annotations"] + sv["annotations"]) == sorted(
        a["id"] for a in train["annotations"]
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_train=0), "num_train"),
        (dict(num_search_val=10), "num_search_val"),
        (dict(image_size=8), "image_size"),
        (dict(image_size=(64, 8)), "image_size"),
        (dict(min_image_size=100, max_image_size=90), "min_image_size"),
        (dict(image_format="bmp"), "image_format"),
        (dict(max_objects=0), "max_objects"),
        (dict(style="dotted"), "style"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(num_train=5, num_minival=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_shapes_dataset(str(tmp_path), **args)


def test_fast_enough(tmp_path):
    start = time.perf_counter()
    make_shapes_dataset(str(tmp_path), num_train=200, num_minival=0)
    # About 4 ms per image on one core; 2000 images take well under a minute.
    assert time.perf_counter() - start < 15


def test_command_line(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "make_shapes_dataset.py"),
            "--output-dir",
            str(tmp_path),
            "--num-train",
            "4",
            "--num-minival",
            "2",
            "--num-search-val",
            "1",
            "--image-size",
            "64",
            "--seed",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "search_val" in out.stdout
    assert len(_load(tmp_path / "annotations" / "search_val.json")["images"]) == 1
    assert len(os.listdir(tmp_path / "images")) == 6
