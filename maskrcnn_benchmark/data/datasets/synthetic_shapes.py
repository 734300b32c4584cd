"""A synthetic COCO-format detection dataset of coloured shapes on textured backgrounds.

It stands in for COCO in tests, quick configs and the demo: nothing is downloaded, it is written in
seconds, and a small detector trained from scratch on a CPU learns it in minutes. Each image holds 1 to
`max_objects` shapes of four classes with clearly different geometry (circle, square, triangle,
star), sized 12%-50% of the shorter image side, randomly rotated and coloured, on a background made of
a colour gradient, low-frequency blotches and pixel noise. Objects may overlap a little (at most 25% of
the smaller box); later shapes are drawn over earlier ones and every annotation is the full outline.

With style "outline" the same shapes are drawn as closed outlines only (the inside is background)
among clutter: open strokes (polylines and arcs) of the same colours and thickness. A stroke looks
locally like a piece of an outline, so neither edges nor corners nor colour tell an object from
clutter or one class from another; only the closed contour at the object's own scale does. That is
structure at a large scale: a detector needs a receptive field reaching across the object, so block
choices that widen it (larger kernels, deeper blocks) could pay off. Measured with the demo's short
retraining (README, "Does the search work?"), they do not: the smaller kernels still win, as on
the filled shapes, so the demo keeps those.

Everything is a function of the seed: image i of a split is drawn from its own generator
(seed, split, i), so the minival images do not change when the number of training images does.
"""

import os

import cv2
import numpy as np

from maskrcnn_benchmark.utils.atomic_file import atomic_write_json

from .split_coco import split_coco

CATEGORIES = ("circle", "square", "triangle", "star")
STYLES = ("filled", "outline")
_SPLIT_CODES = {"train": 1, "minival": 2}
_MAX_OVERLAP = 0.25  # intersection / smaller box area
_MIN_COLOUR_DISTANCE = 90.0


def _shape_polygon(kind, radius, angle):
    """Vertices [K, 2] of a shape centred on the origin."""
    if kind == "circle":
        t = np.linspace(0.0, 2 * np.pi, 32, endpoint=False)
        r = np.full_like(t, radius)
    elif kind == "square":
        t = np.arange(4) * (np.pi / 2) + np.pi / 4
        r = np.full(4, radius)
    elif kind == "triangle":
        t = np.arange(3) * (2 * np.pi / 3) - np.pi / 2
        r = np.full(3, radius)
    elif kind == "star":
        t = np.arange(10) * (np.pi / 5) - np.pi / 2
        r = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
    else:
        raise ValueError(f"unknown shape kind {kind!r}; known: {CATEGORIES}")
    t = t + angle
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _background(rng, height, width):
    base = rng.uniform(40, 215, size=3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * xx / width + np.sin(direction) * yy / height)[..., None]
    gradient = ramp * rng.uniform(-35, 35, size=3)
    blotches = cv2.resize(
        rng.uniform(-25, 25, size=(4, 4, 3)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
    )
    return base, base + gradient + blotches


def _distinct_colour(rng, avoid):
    for _ in range(50):
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - avoid) >= _MIN_COLOUR_DISTANCE:
            return colour
    return 255.0 - avoid


def _overlap_ok(box, boxes):
    x1, y1, x2, y2 = box
    area = (x2 - x1) * (y2 - y1)
    for bx1, by1, bx2, by2 in boxes:
        iw = min(x2, bx2) - max(x1, bx1)
        ih = min(y2, by2) - max(y1, by1)
        if iw > 0 and ih > 0:
            smaller = min(area, (bx2 - bx1) * (by2 - by1))
            if iw * ih > _MAX_OVERLAP * smaller:
                return False
    return True


def _inset(pts, distance):
    """The polygon shrunk towards its centroid so that its vertices move `distance` pixels."""
    centre = pts.mean(axis=0)
    radii = np.linalg.norm(pts - centre, axis=1, keepdims=True)
    return centre + (pts - centre) * np.maximum(radii - distance, 1.0) / radii


def _polygon_area(pts):
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _paint(canvas, colour, draw):
    """`canvas` with `colour` blended in where `draw(coverage mask)` paints (anti-aliased)."""
    coverage = np.zeros(canvas.shape[:2], dtype=np.uint8)
    draw(coverage)
    alpha = (coverage.astype(np.float32) / 255.0)[..., None]
    return canvas * (1 - alpha) + colour * alpha


def _fixed_point(pts):
    # cv2 puts pixel centres on integers, our continuous coordinates on integers + 0.5;
    # shift=4 draws with 1/16-pixel vertex precision.
    return np.round((pts - 0.5) * 16).astype(np.int32)


def _stroke_width(rng, short_side):
    return max(2, int(round(rng.uniform(0.02, 0.035) * short_side)))


def _clutter_stroke(rng, width, height):
    """Vertices [K, 2] of an open stroke: a polyline of 2-3 segments or an arc of 60-240 degrees,
    about as long as an object's outline pieces."""
    short_side = min(width, height)
    start = rng.uniform([0, 0], [width, height])
    if rng.random() < 0.5:
        pts, angle = [start], rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(2, 4))):
            length = rng.uniform(0.08, 0.3) * short_side
            pts.append(pts[-1] + length * np.array([np.cos(angle), np.sin(angle)]))
            angle += rng.choice([-1, 1]) * rng.uniform(np.pi / 5, np.pi * 0.75)
        return np.array(pts)
    radius = rng.uniform(0.06, 0.25) * short_side
    t0 = rng.uniform(0, 2 * np.pi)
    t = t0 + np.linspace(0, np.radians(rng.uniform(60, 240)), 16)
    return start + radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def draw_shapes_image(rng, width, height, max_objects, style="filled"):
    """One image (H x W x 3 uint8, RGB) and its objects [(category index, vertices [K, 2])]."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    base, canvas = _background(rng, height, width)
    objects, boxes = [], []
    wanted = int(rng.integers(1, max_objects + 1))
    short_side = min(width, height)
    min_size = 0.12 if style == "filled" else 0.2  # an outline smaller than that is a blob
    if style == "outline":
        for _ in range(int(rng.integers(3, 9))):
            stroke = _fixed_point(_clutter_stroke(rng, width, height))
            thickness = _stroke_width(rng, short_side)
            colour = _distinct_colour(rng, base)
            canvas = _paint(canvas, colour, lambda m: cv2.polylines(m, [stroke], False, 255, thickness, cv2.LINE_AA, 4))
    for _ in range(wanted * 10):
        if len(objects) == wanted:
            break
        cls = int(rng.integers(len(CATEGORIES)))
        size = rng.uniform(min_size, 0.5) * short_side  # the shape's diameter
        pts = _shape_polygon(CATEGORIES[cls], size / 2, rng.uniform(0, 2 * np.pi))
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        # Keep every vertex at least a pixel inside the image.
        cx = rng.uniform(1 - lo[0], width - 1 - hi[0])
        cy = rng.uniform(1 - lo[1], height - 1 - hi[1])
        pts = np.round(pts + [cx, cy], 2)
        box = (*pts.min(axis=0), *pts.max(axis=0))
        if not _overlap_ok(box, boxes):
            continue
        colour = _distinct_colour(rng, base)
        fixed = _fixed_point(pts)
        if style == "filled":
            canvas = _paint(canvas, colour, lambda m: cv2.fillPoly(m, [fixed], 255, cv2.LINE_AA, shift=4))
        else:
            # The stroke lies inside the outline, so the box is still the polygon's extent.
            thickness = _stroke_width(rng, short_side)
            inner = _fixed_point(_inset(pts, thickness / 2))
            canvas = _paint(canvas, colour, lambda m: cv2.polylines(m, [inner], True, 255, thickness, cv2.LINE_AA, 4))
        objects.append((cls, pts))
        boxes.append(box)
    canvas = canvas + rng.normal(0, 8, size=canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8), objects


def _annotation(ann_id, image_id, cls, pts):
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": cls + 1,
        "bbox": [round(float(x1), 2), round(float(y1), 2), round(float(x2 - x1), 2), round(float(y2 - y1), 2)],
        "area": round(_polygon_area(pts), 2),
        "iscrowd": 0,
        "segmentation": [[round(float(v), 2) for v in pts.reshape(-1)]],
    }


def _fixed_size(image_size):
    """(width, height) of `image_size`: one side for square images, or a (width, height) pair."""
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be a side or a (width, height) pair, got {image_size!r}")
        return int(image_size[0]), int(image_size[1])
    return int(image_size), int(image_size)


def _image_size(rng, image_size, min_image_size, max_image_size):
    if image_size:
        return _fixed_size(image_size)
    return (
        int(rng.integers(min_image_size, max_image_size + 1)),
        int(rng.integers(min_image_size, max_image_size + 1)),
    )


def _write_split(split, num_images, image_dir, seed, first_image_id, first_ann_id, sizes, drawing, image_format):
    images, annotations = [], []
    ann_id = first_ann_id
    for i in range(num_images):
        rng = np.random.default_rng([seed, _SPLIT_CODES[split], i])
        width, height = _image_size(rng, *sizes)
        pixels, objects = draw_shapes_image(rng, width, height, *drawing)
        image_id = first_image_id + i
        file_name = f"{split}_{i:06d}.{image_format}"
        path = os.path.join(image_dir, file_name)
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if image_format == "jpg" else []
        if not cv2.imwrite(path, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"could not write image {path}")
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for cls, pts in objects:
            annotations.append(_annotation(ann_id, image_id, cls, pts))
            ann_id += 1
    return images, annotations


def make_shapes_dataset(
    output_dir,
    num_train=200,
    num_minival=50,
    num_search_val=0,
    image_size=None,
    min_image_size=96,
    max_image_size=160,
    max_objects=4,
    seed=0,
    image_format="jpg",
    style="filled",
):
    """Write the dataset under `output_dir` and return {split name: annotation file path}.

    Layout (what `paths_catalog` expects of `<datasets root>/shapes`): `images/` holding
    `train_*.jpg` and `minival_*.jpg`, and `annotations/train.json`, `annotations/minival.json`, plus
    `annotations/search_train.json` / `search_val.json` (train split by `split_coco`, `num_search_val`
    images in search-val) when `num_search_val` > 0. Image sides are drawn between `min_image_size`
    and `max_image_size`, or are all `image_size` when given (a side, or a (width, height) pair).
    `style` is "filled" (solid shapes) or "outline" (outlines among clutter strokes).
    """
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {image_format!r}")
    if num_train < 1 or num_minival < 0:
        raise ValueError(f"need num_train >= 1 and num_minival >= 0, got {num_train} and {num_minival}")
    if image_size is None and not 32 <= min_image_size <= max_image_size:
        raise ValueError(f"need 32 <= min_image_size <= max_image_size, got {min_image_size}, {max_image_size}")
    if image_size is not None and min(_fixed_size(image_size)) < 32:
        raise ValueError(f"image sides must be at least 32, got image_size {image_size}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if max_objects < 1:
        raise ValueError(f"max_objects must be >= 1, got {max_objects}")
    if num_search_val and not 0 < num_search_val < num_train:
        raise ValueError(f"num_search_val must be between 1 and num_train - 1 ({num_train - 1}), got {num_search_val}")
    image_dir = os.path.join(output_dir, "images")
    ann_dir = os.path.join(output_dir, "annotations")
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    sizes = (image_size, min_image_size, max_image_size)
    header = {
        "info": {
            "description": "DetNAS-PyTorch synthetic shapes",
            "version": "1.0",
            "year": 2024,
            "seed": seed,
            "style": style,
        },
        "licenses": [{"id": 1, "name": "generated", "url": ""}],
        "categories": [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CATEGORIES)],
    }
    paths = {}
    next_image_id, next_ann_id = 1, 1
    for split, count in (("train", num_train), ("minival", num_minival)):
        images, annotations = _write_split(
            split, count, image_dir, seed, next_image_id, next_ann_id, sizes, (max_objects, style), image_format
        )
        next_image_id += count
        next_ann_id += len(annotations)
        paths[split] = os.path.join(ann_dir, f"{split}.json")
        atomic_write_json(paths[split], dict(header, images=images, annotations=annotations))
    if num_search_val:
        paths["search_train"], paths["search_val"] = split_coco(paths["train"], ann_dir, num_search_val, seed=seed)
    return paths
