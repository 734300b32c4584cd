"""A tiny ImageFolder classification set standing in for ImageNet in supernet pre-training tests.

Class k is a (shape, fill pattern) pair, shape k mod 8 and fill k mod 3 (plain, stripes, checker):
the 24 pairs are all different, and classes with nearby indices differ in both shape and fill, so a
small network separates them quickly. Colours, size, position and rotation
are random per image, on a noisy background, so the net has to learn geometry and texture rather
than colour. Image i of class k in a split comes from its own generator (seed, split, k, i).
"""

import os

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring", "bar", "diamond")
FILLS = ("plain", "stripes", "checker")
_SPLIT_CODES = {"train": 1, "val": 2}


def class_names(num_classes):
    """Folder names, in class-index order (ImageFolder sorts them, and the zero-padded index leads)."""
    if not 2 <= num_classes <= len(SHAPES) * len(FILLS):
        raise ValueError(f"num_classes must be between 2 and {len(SHAPES) * len(FILLS)}, got {num_classes}")
    return [f"{k:02d}_{SHAPES[k % len(SHAPES)]}_{FILLS[k % len(FILLS)]}" for k in range(num_classes)]


def _shape_mask(shape, size, rng):
    """uint8 [size, size] coverage of a shape at a random scale, position and rotation."""
    mask = np.zeros((size, size), dtype=np.uint8)
    r = rng.uniform(0.25, 0.42) * size
    c = rng.uniform(r + 1, size - r - 1, size=2)
    angle = rng.uniform(0, 2 * np.pi)

    def poly(angles, radii):
        a = angles + angle
        pts = np.stack([c[0] + radii * np.cos(a), c[1] + radii * np.sin(a)], axis=1)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)

    if shape == "circle":
        poly(np.linspace(0, 2 * np.pi, 32, endpoint=False), np.full(32, r))
    elif shape == "square":
        poly(np.arange(4) * np.pi / 2, np.full(4, r))
    elif shape == "triangle":
        poly(np.arange(3) * 2 * np.pi / 3, np.full(3, r))
    elif shape == "star":
        poly(np.arange(10) * np.pi / 5, np.where(np.arange(10) % 2 == 0, r, 0.45 * r))
    elif shape == "cross":
        # A plus sign: twelve vertices alternating between arm tips and inner corners.
        arm = 0.22
        base = np.array(
            [
                [arm, 1],
                [arm, arm],
                [1, arm],
                [1, -arm],
                [arm, -arm],
                [arm, -1],
                [-arm, -1],
                [-arm, -arm],
                [-1, -arm],
                [-1, arm],
                [-arm, arm],
                [-arm, 1],
            ]
        )
        poly(np.arctan2(base[:, 1], base[:, 0]), np.hypot(base[:, 0], base[:, 1]) * r * 0.8)
    elif shape == "ring":
        cv2.circle(
            mask,
            tuple(np.round(c * 16).astype(int)),
            int(round(r * 0.75 * 16)),
            255,
            thickness=max(2, int(r * 0.45)),
            lineType=cv2.LINE_AA,
            shift=4,
        )
    elif shape == "bar":
        w, h = r, 0.3 * r
        corners = np.array([[w, h], [-w, h], [-w, -h], [w, -h]])
        poly(np.arctan2(corners[:, 1], corners[:, 0]), np.hypot(corners[:, 0], corners[:, 1]))
    elif shape == "diamond":
        poly(np.arange(4) * np.pi / 2, np.array([r, 0.55 * r, r, 0.55 * r]))
    return mask


def _fill(fill, size, rng, colour_a, colour_b):
    yy, xx = np.mgrid[0:size, 0:size]
    period = rng.uniform(4, 7)
    if fill == "plain":
        on = np.ones((size, size), dtype=bool)
    elif fill == "stripes":
        theta = rng.uniform(0, np.pi)
        on = np.floor((xx * np.cos(theta) + yy * np.sin(theta)) / period) % 2 == 0
    else:
        on = (np.floor(xx / period) + np.floor(yy / period)) % 2 == 0
    return np.where(on[..., None], colour_a, colour_b)


def draw_classification_image(rng, class_index, size):
    shape = SHAPES[class_index % len(SHAPES)]
    fill = FILLS[class_index % len(FILLS)]
    # Colours vary freely in hue but the shape is always lighter than the background, and the
    # pattern's second colour a darker shade of the first: contrast is reliable, colour is no cue.
    background = rng.uniform(0, 110, size=3)
    colour_a = rng.uniform(150, 255, size=3)
    colour_b = colour_a * 0.35
    alpha = (_shape_mask(shape, size, rng).astype(np.float32) / 255.0)[..., None]
    pattern = _fill(fill, size, rng, colour_a, colour_b)
    image = background * (1 - alpha) + pattern * alpha + rng.normal(0, 6, size=(size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def make_classification_dataset(
    output_dir, num_classes=10, train_per_class=50, val_per_class=10, image_size=32, seed=0
):
    """Write `output_dir/{train,val}/<class>/<i>.png`; return the class folder names."""
    names = class_names(num_classes)
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16, got {image_size}")
    if train_per_class < 1 or val_per_class < 0:
        raise ValueError(f"need train_per_class >= 1 and val_per_class >= 0, got {train_per_class} and {val_per_class}")
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for k, name in enumerate(names):
            folder = os.path.join(output_dir, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                rng = np.random.default_rng([seed, _SPLIT_CODES[split], k, i])
                image = draw_classification_image(rng, k, image_size)
                path = os.path.join(folder, f"{i:05d}.png")
                if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                    raise OSError(f"could not write image {path}")
    return names
