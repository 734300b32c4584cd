#!/usr/bin/env python
"""Detections drawn on images: `python demo/predictor.py --config-file F --input a.jpg [b.jpg ...]
--output-dir D [--weights W] [--threshold 0.5] [KEY VALUE ...]`.

Weights: --weights, else the last checkpoint in OUTPUT_DIR, else MODEL.WEIGHT. Each input image is
written to the output folder as <name>_detections.png with its boxes, class names and scores. With
`--annotations a.json` (COCO format) an image listed there (matched by file name) is drawn twice,
side by side: its ground-truth boxes on the left, the detections on the right.
"""

import argparse
import colorsys
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from maskrcnn_benchmark.config import default_config, load_config  # noqa: E402
from maskrcnn_benchmark.data.num_classes import resolve_num_classes  # noqa: E402
from maskrcnn_benchmark.data.transforms import build_transforms  # noqa: E402
from maskrcnn_benchmark.structures.image_list import to_image_list  # noqa: E402
from maskrcnn_benchmark.utils.cli import config_key_predicate, parse_args_with_overrides  # noqa: E402


class DetectionPredictor:
    """Runs a detector on PIL images and returns boxes in the image's own coordinates."""

    def __init__(self, cfg, model, device, arch=None, category_names=None):
        self.model = model.eval()
        self.device = device
        self.arch = arch
        self.transforms = build_transforms(cfg, is_train=False)
        self.size_divisible = cfg.DATALOADER.SIZE_DIVISIBILITY
        self.category_names = category_names or {}

    @torch.no_grad()
    def predict(self, image):
        """BoxList of detections (fields scores, labels) in `image`'s pixel coordinates."""
        tensor, _ = self.transforms(image.convert("RGB"), None)
        batch = to_image_list([tensor], self.size_divisible).to(self.device)
        kwargs = {"arch": tuple(self.arch)} if self.arch is not None else {}
        detections = self.model(batch, **kwargs)[0].to("cpu")
        return detections.resize(image.size)

    def draw(self, image, detections, threshold=0.5):
        """A copy of `image` with the detections scoring at least `threshold` drawn on it."""
        canvas = image.convert("RGB").copy()
        pen = ImageDraw.Draw(canvas)
        scores = detections.get_field("scores").tolist()
        labels = detections.get_field("labels").tolist()
        width = max(1, round(max(canvas.size) / 200))
        for box, score, label in zip(detections.bbox.tolist(), scores, labels):
            if score < threshold:
                continue
            colour = _colour(label)
            pen.rectangle(box, outline=colour, width=width)
            text = f"{self.category_names.get(label, f'class {label}')} {score:.2f}"
            left, top = box[0], max(0, box[1] - 11)
            pen.rectangle(pen.textbbox((left, top), text), fill=colour)
            pen.text((left, top), text, fill=(0, 0, 0))
        return canvas


def load_ground_truth(ann_file):
    """{image file basename: [(x1, y1, x2, y2, category name), ...]} of a COCO json (no crowds)."""
    try:
        with open(ann_file) as f:
            data = json.load(f)
        names = {c["id"]: c.get("name", str(c["id"])) for c in data["categories"]}
        by_id = {im["id"]: os.path.basename(im["file_name"]) for im in data["images"]}
        boxes = {name: [] for name in by_id.values()}
        for a in data.get("annotations", []):
            if not a.get("iscrowd", 0):
                x, y, w, h = a["bbox"]
                boxes[by_id[a["image_id"]]].append((x, y, x + w, y + h, names[a["category_id"]]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"--annotations {ann_file}: not a readable COCO annotation file ({e!r})")
    return boxes


def draw_ground_truth(image, boxes):
    """A copy of `image` with ground-truth boxes (white outline, category name)."""
    canvas = image.convert("RGB").copy()
    pen = ImageDraw.Draw(canvas)
    width = max(1, round(max(canvas.size) / 200))
    for x1, y1, x2, y2, name in boxes:
        pen.rectangle((x1, y1, x2, y2), outline=(255, 255, 255), width=width)
        left, top = x1, max(0, y1 - 11)
        pen.rectangle(pen.textbbox((left, top), f"gt {name}"), fill=(255, 255, 255))
        pen.text((left, top), f"gt {name}", fill=(0, 0, 0))
    return canvas


def side_by_side(left, right, gap=4):
    sheet = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), (128, 128, 128))
    sheet.paste(left, (0, 0))
    sheet.paste(right, (left.width + gap, 0))
    return sheet


def _colour(label):
    r, g, b = colorsys.hsv_to_rgb((label * 0.618034) % 1.0, 0.75, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def category_names_of(cfg):
    """Contiguous label -> name, from the annotation file of DATASETS.TEST[0] (if any)."""
    if not cfg.DATASETS.TEST:
        return {}
    from maskrcnn_benchmark.data.build import dataset_catalog

    ann_file = dataset_catalog(cfg).get(cfg.DATASETS.TEST[0])["args"]["ann_file"]
    if not os.path.isfile(ann_file):
        return {}
    with open(ann_file) as f:
        categories = sorted(json.load(f)["categories"], key=lambda c: c["id"])
    return {i + 1: c["name"] for i, c in enumerate(categories)}


def build_predictor(cfg, weights=""):
    from maskrcnn_benchmark.engine.launch import resolve_device
    from maskrcnn_benchmark.engine.supernet import prepare_supernet_path
    from maskrcnn_benchmark.modeling.detector import build_detection_model
    from maskrcnn_benchmark.utils.checkpoint import Checkpointer

    cfg = resolve_num_classes(cfg)
    device = resolve_device(cfg.MODEL.DEVICE)
    model = build_detection_model(cfg).to(device)
    checkpointer = Checkpointer(model, save_dir="" if weights else cfg.OUTPUT_DIR)
    checkpointer.load(weights or cfg.MODEL.WEIGHT)
    arch = prepare_supernet_path(cfg, model, device, distributed=False)
    return DetectionPredictor(cfg, model, device, arch=arch, category_names=category_names_of(cfg))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Draw a detector's detections on images.")
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--input", nargs="+", required=True, help="image files")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--weights", default="", help="checkpoint (default: see the module doc)")
    parser.add_argument("--threshold", type=float, default=0.5, help="minimum score drawn")
    parser.add_argument(
        "--annotations",
        default="",
        metavar="JSON",
        help="COCO annotations: draw each listed image's ground truth beside it",
    )
    return parse_args_with_overrides(parser, argv, config_key_predicate(default_config()))


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config_file, args.opts)
    predictor = build_predictor(cfg, args.weights)
    ground_truth = load_ground_truth(args.annotations) if args.annotations else None
    os.makedirs(args.output_dir, exist_ok=True)
    written = []
    for path in args.input:
        try:
            image = Image.open(path)
            image.load()
        except (OSError, ValueError) as e:
            raise SystemExit(f"cannot read image {path}: {e}")
        detections = predictor.predict(image)
        name = os.path.splitext(os.path.basename(path))[0]
        out = os.path.join(args.output_dir, f"{name}_detections.png")
        drawn = predictor.draw(image, detections, args.threshold)
        gt_note = ""
        if ground_truth is not None:
            gt = ground_truth.get(os.path.basename(path))
            if gt is None:
                gt_note = f" (not in {args.annotations}: no ground truth drawn)"
            else:
                drawn = side_by_side(draw_ground_truth(image, gt), drawn)
                gt_note = f", {len(gt)} ground-truth boxes on the left"
        drawn.save(out)
        kept = int((detections.get_field("scores") >= args.threshold).sum())
        print(f"{path}: {kept} detections >= {args.threshold}{gt_note} -> {out}")
        written.append(out)
    return written


if __name__ == "__main__":
    main()
