#!/usr/bin/env python
"""COCOeval speed of the two TEST.COCO_EVAL_BACKEND choices on the same generated detections:

    python tools/benchmark_coco_eval.py [--images 5000] [--iou-types bbox segm] [--seed 0]

Ground truth: `--images` images with 1-12 objects of 10 categories (polygons, some crowd), in all
three COCO size ranges; detections: each object found with a jittered box/polygon and a score, plus
false positives (about 25 per image). Prints, per iou type, the seconds of
loadRes + evaluate + accumulate + summarize for each backend, the ratio, and the largest difference
of the 12 stats.
"""

import argparse
import contextlib
import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maskrcnn_benchmark.data.datasets.evaluation.coco_backends import run_cocoeval  # noqa: E402

NUM_CATEGORIES = 10


def _polygon(rng, x, y, w, h):
    """A convex-ish polygon inside the box (x, y, w, h): 6-10 points on an ellipse, jittered."""
    n = int(rng.integers(6, 11))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.75, 1.0, n)
    px = x + w / 2 + np.cos(angles) * radius * w / 2
    py = y + h / 2 + np.sin(angles) * radius * h / 2
    return [float(v) for xy in zip(px, py) for v in xy]


def _box_of(poly):
    xs, ys = poly[0::2], poly[1::2]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def make_gt_and_detections(num_images, seed=0, width=640, height=480):
    """(COCO ground-truth dict, bbox result dicts, segm result dicts) drawn with `seed`."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    images, annotations, bbox_results, segm_results = [], [], [], []
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "file_name": f"{image_id:06d}.jpg", "width": width, "height": height})
        objects = []
        for _ in range(int(rng.integers(1, 13))):
            size = float(np.exp(rng.uniform(np.log(8), np.log(300))))  # small, medium and large
            w, h = size * rng.uniform(0.6, 1.4), size * rng.uniform(0.6, 1.4)
            x, y = rng.uniform(0, width - min(w, width - 1)), rng.uniform(0, height - min(h, height - 1))
            w, h = min(w, width - x), min(h, height - y)
            poly = _polygon(rng, x, y, w, h)
            category = int(rng.integers(1, NUM_CATEGORIES + 1))
            crowd = int(rng.uniform() < 0.03)
            rle = mask_utils.merge(mask_utils.frPyObjects([poly], height, width))
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category,
                "bbox": _box_of(poly),
                "area": float(mask_utils.area(rle)),
                "iscrowd": crowd,
            }
            if crowd:
                ann["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
            else:
                ann["segmentation"] = [poly]
            annotations.append(ann)
            objects.append((x, y, w, h, category))
        candidates = []
        for x, y, w, h, category in objects:
            if rng.uniform() < 0.85:  # found, with a localisation error
                j = rng.normal(0, 0.08, 4)
                candidates.append(
                    (
                        x + j[0] * w,
                        y + j[1] * h,
                        w * (1 + j[2]),
                        h * (1 + j[3]),
                        category if rng.uniform() < 0.9 else int(rng.integers(1, 11)),
                        float(rng.uniform(0.3, 1.0)),
                    )
                )
        for _ in range(int(rng.integers(15, 35))):  # false positives, mostly low scores
            size = float(np.exp(rng.uniform(np.log(8), np.log(200))))
            candidates.append(
                (
                    rng.uniform(0, width - size),
                    rng.uniform(0, height - size),
                    size,
                    size * rng.uniform(0.5, 2),
                    int(rng.integers(1, NUM_CATEGORIES + 1)),
                    float(rng.beta(1, 4)),
                )
            )
        for x, y, w, h, category, score in candidates:
            x, y = max(0.0, x), max(0.0, y)
            w, h = max(1.0, min(w, width - x)), max(1.0, min(h, height - y))
            poly = _polygon(rng, x, y, w, h)
            bbox_results.append({"image_id": image_id, "category_id": category, "bbox": [x, y, w, h], "score": score})
            rle = mask_utils.merge(mask_utils.frPyObjects([poly], height, width))
            segm_results.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "score": score,
                    "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")},
                }
            )
    gt = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": f"class{c}"} for c in range(1, NUM_CATEGORIES + 1)],
    }
    return gt, bbox_results, segm_results


def pycocotools_gt(gt):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = gt
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def timed(coco_gt, results, iou_type, backend):
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        stats = run_cocoeval(coco_gt, results, iou_type, backend=backend).stats
    return time.perf_counter() - start, np.asarray(stats[:12], dtype=float)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--iou-types", nargs="+", default=["bbox", "segm"], choices=["bbox", "segm"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    t = time.perf_counter()
    gt, bbox, segm = make_gt_and_detections(args.images, args.seed)
    print(
        f"{args.images} images, {len(gt['annotations'])} objects, {len(bbox)} detections "
        f"(generated in {time.perf_counter() - t:.1f}s)"
    )
    rows = []
    for iou_type in args.iou_types:
        results = bbox if iou_type == "bbox" else segm
        coco_gt = pycocotools_gt(gt)
        slow, ref = timed(coco_gt, results, iou_type, "pycocotools")
        fast, got = timed(coco_gt, results, iou_type, "faster")  # includes building its own gt
        diff = float(np.abs(ref - got).max())
        rows.append((iou_type, slow, fast, slow / fast, diff))
        print(
            f"{iou_type}: pycocotools {slow:.2f}s  faster-coco-eval {fast:.2f}s  "
            f"ratio {slow / fast:.1f}x  max |stat difference| {diff:.2e}  (AP {ref[0]:.4f})"
        )
    return rows


if __name__ == "__main__":
    main()
