"""Split a COCO annotation file by images into two files (the DetNAS search-train / search-val split).

The paper holds out 5,000 images of COCO trainval35k as the search validation set and uses the rest to
fine-tune the supernet. Annotations follow their images; "info", "licenses" and "categories" (and any
other top-level key) are kept in both files.
"""

import json
import os

import numpy as np

from maskrcnn_benchmark.utils.atomic_file import atomic_write_json, atomic_write_text


def _load(input_ann):
    if not os.path.isfile(input_ann):
        raise FileNotFoundError(f"split_coco: annotation file not found: {input_ann}")
    with open(input_ann) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"split_coco: {input_ann} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"split_coco: {input_ann} has no 'images' list (expected a COCO detection file)")
    return data


def merge_coco(input_anns):
    """One COCO dict from several files of the same categories (e.g. trainval35k = train2014 +
    valminusminival2014); image ids must be unique across them."""
    merged = _load(input_anns[0])
    merged = dict(merged, images=list(merged["images"]), annotations=list(merged.get("annotations", [])))
    seen = {im["id"] for im in merged["images"]}
    for path in input_anns[1:]:
        data = _load(path)
        if data.get("categories") != merged.get("categories"):
            raise ValueError(f"split_coco: {path} has other categories than {input_anns[0]}")
        clash = seen & {im["id"] for im in data["images"]}
        if clash:
            raise ValueError(
                f"split_coco: image ids {sorted(clash)[:5]} of {path} also appear in an earlier input file"
            )
        seen |= {im["id"] for im in data["images"]}
        merged["images"] += data["images"]
        merged["annotations"] += data.get("annotations", [])
    return merged


def split_coco(input_ann, output_dir, num_val, seed=0, train_name="search_train.json", val_name="search_val.json"):
    """Write `output_dir/train_name` and `output_dir/val_name`; return their paths.

    `input_ann` is one annotation file or a list of them (merged first, see `merge_coco`).
    `num_val` images, drawn with `seed`, go to the validation file, the rest to the training file.
    Images keep their order from the input. Raises ValueError when `num_val` is not between 1
    and the number of images - 1, or when the input is not a COCO detection file.
    """
    inputs = [input_ann] if isinstance(input_ann, str) else list(input_ann)
    data = merge_coco(inputs)
    input_ann = " + ".join(inputs)
    images = data["images"]
    annotations = data.get("annotations", [])
    num_val = int(num_val)
    if not 1 <= num_val < len(images):
        raise ValueError(
            f"split_coco: num_val must be between 1 and {len(images) - 1} for {input_ann} "
            f"({len(images)} images), got {num_val}"
        )

    order = np.random.default_rng(seed).permutation(len(images))
    val_positions = set(order[:num_val].tolist())
    val_ids = {images[i]["id"] for i in val_positions}
    header = {k: v for k, v in data.items() if k not in ("images", "annotations")}

    def subset(in_val):
        return dict(
            header,
            images=[im for i, im in enumerate(images) if (i in val_positions) == in_val],
            annotations=[a for a in annotations if (a["image_id"] in val_ids) == in_val],
        )

    os.makedirs(output_dir, exist_ok=True)
    train_path = os.path.join(output_dir, train_name)
    val_path = os.path.join(output_dir, val_name)
    if os.path.abspath(train_path) == os.path.abspath(val_path):
        raise ValueError(f"split_coco: train and val outputs are the same file {train_path}")
    atomic_write_json(train_path, subset(False))
    atomic_write_json(val_path, subset(True))
    return train_path, val_path


def register_split(catalog_path, name, train_path, val_path, image_roots):
    """Add (or replace) `<name>_search_train` and `<name>_search_val` in the yaml catalog
    `catalog_path` (created when missing), paths relative to its folder. Returns the two names."""
    import yaml

    data = {}
    if os.path.isfile(catalog_path):
        with open(catalog_path) as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict):
            raise ValueError(f"split_coco: {catalog_path} is not a dataset catalog (a yaml mapping)")
    base = os.path.dirname(os.path.abspath(catalog_path))

    def rel(path):
        return os.path.relpath(os.path.abspath(path), base)

    roots = [rel(r) for r in image_roots]
    names = (f"{name}_search_train", f"{name}_search_val")
    for key, ann in zip(names, (train_path, val_path)):
        data[key] = {"ann_file": rel(ann), "image_root": roots[0] if len(roots) == 1 else roots}
    os.makedirs(base, exist_ok=True)
    atomic_write_text(catalog_path, yaml.safe_dump(data, sort_keys=False))
    return names
