"""A tiny COCO-format dataset on disk for the catalog and data-check tests."""

import json

import numpy as np
from PIL import Image


def write_tiny_coco(
    folder,
    num_images=3,
    size=(40, 30),
    categories=("a", "b"),
    boxes=None,
    image_dir="images",
    ann_name="ann.json",
    missing=(),
):
    """Write `num_images` images under `folder/image_dir` and their annotations to
    `folder/ann_name`; `boxes` maps image index -> [[x, y, w, h], ...] (default one box each).
    Images whose index is in `missing` are listed but not written. Returns the json path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / image_dir).mkdir(exist_ok=True)
    w, h = size
    images, annotations = [], []
    for i in range(num_images):
        name = f"img{i}.png"
        if i not in missing:
            Image.fromarray(np.full((h, w, 3), 30 * i, dtype=np.uint8)).save(folder / image_dir / name)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for b in (boxes or {}).get(i, [[2, 2, 10, 8]]):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": 1 + len(annotations) % len(categories),
                    "bbox": b,
                    "iscrowd": 0,
                    "area": b[2] * b[3],
                }
            )
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(categories)],
    }
    path = folder / ann_name
    path.write_text(json.dumps(data))
    return str(path)
