"""COCO evaluation of detections (bbox, segm) and of proposals (average recall)."""

import contextlib
import io
import json
import logging
import os

import numpy as np
import pycocotools.mask as mask_utils
import torch

from .coco_backends import run_cocoeval
from .proposal_recall import evaluate_box_proposals

logger = logging.getLogger(__name__)

# COCOeval.stats[0:6] in order.
COCO_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
_PROPOSAL_AREAS = {"all": "", "small": "s", "medium": "m", "large": "l"}


def _json_category(dataset, label, idx):
    try:
        return dataset.contiguous_category_id_to_json_id[int(label)]
    except KeyError:
        raise ValueError(
            f"prediction for image index {idx} has label {int(label)}, not one of the "
            f"dataset's classes 1..{len(dataset.contiguous_category_id_to_json_id)}"
        ) from None


def prepare_for_coco_detection(predictions, dataset):
    """COCO result dicts {image_id, category_id, bbox (xywh), score} from resized predictions."""
    results = []
    for idx, prediction in predictions.items():
        image_id = dataset.get_img_info(idx)["id"]
        boxes = prediction.convert("xywh").bbox.tolist()
        scores = prediction.get_field("scores").tolist()
        labels = prediction.get_field("labels").tolist()
        for box, score, label in zip(boxes, scores, labels):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": _json_category(dataset, label, idx),
                    "bbox": [float(v) for v in box],
                    "score": float(score),
                }
            )
    return results


def _binary_masks(prediction, height, width):
    """[N, H, W] uint8 masks in the original image from the prediction's "mask" field."""
    masks = prediction.get_field("mask")
    if tuple(masks.shape[-2:]) != (height, width):
        # Mask-head output ([N, 1, M, M] probabilities): paste each into its box. Imported here so
        # that box evaluation does not load the modeling package.
        from maskrcnn_benchmark.structures.mask_paste import Masker

        masks = Masker(threshold=0.5, padding=1)([masks], [prediction])[0]
    if masks.is_floating_point():
        masks = masks > 0.5
    return masks.reshape(-1, height, width).to("cpu", torch.uint8)


def prepare_for_coco_segmentation(predictions, dataset):
    """COCO result dicts {image_id, category_id, segmentation (RLE), score}."""
    results = []
    for idx, prediction in predictions.items():
        info = dataset.get_img_info(idx)
        if not prediction.has_field("mask"):
            raise ValueError(
                f"segm evaluation needs a 'mask' field in the predictions; image index {idx} has {prediction.fields()}"
            )
        if len(prediction) == 0:
            continue
        masks = _binary_masks(prediction, info["height"], info["width"])
        rles = mask_utils.encode(np.asfortranarray(masks.permute(1, 2, 0).numpy()))
        scores = prediction.get_field("scores").tolist()
        labels = prediction.get_field("labels").tolist()
        for rle, score, label in zip(rles, scores, labels):
            rle["counts"] = rle["counts"].decode("ascii")
            results.append(
                {
                    "image_id": info["id"],
                    "category_id": _json_category(dataset, label, idx),
                    "segmentation": rle,
                    "score": float(score),
                }
            )
    return results


def evaluate_predictions_on_coco(coco_gt, results, iou_type, image_ids=None, backend="pycocotools"):
    """Run COCOeval (`backend`: see coco_backends.py) on result dicts; returns (metrics dict, the
    evaluator). No results -> AP 0."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        coco_eval = run_cocoeval(coco_gt, results, iou_type, image_ids, backend)
    logger.info("COCO %s evaluation (%s):\n%s", iou_type, backend, printed.getvalue())
    metrics = {name: float(coco_eval.stats[i]) for i, name in enumerate(COCO_METRICS)}
    if not results:
        # COCOeval reports -1 where nothing was there to measure; with no detections at all every
        # AP is simply 0.
        metrics = {name: 0.0 for name in metrics}
    return metrics, coco_eval


def _write_json(obj, folder, name):
    if folder:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name), "w") as f:
            json.dump(obj, f)


def resize_to_original(dataset, predictions):
    """{dataset index: BoxList} in the network's input size -> the same in each original image size,
    which is what COCO evaluates."""
    resized = {}
    for idx in sorted(predictions):
        info = dataset.get_img_info(idx)
        resized[idx] = predictions[idx].resize((info["width"], info["height"]))
    return resized


def do_coco_evaluation(dataset, predictions, output_folder, iou_types, box_only, backend="pycocotools"):
    resized = resize_to_original(dataset, predictions)

    if box_only:
        metrics = {}
        for limit in (100, 1000):
            for area, suffix in _PROPOSAL_AREAS.items():
                stats = evaluate_box_proposals(resized, dataset, area=area, limit=limit)
                metrics[f"AR{suffix}@{limit}"] = stats["ar"]
        _write_json(metrics, output_folder, "box_proposals.json")
        return {"box_proposal": metrics}

    image_ids = [dataset.get_img_info(idx)["id"] for idx in resized] or None
    out = {}
    for iou_type in iou_types:
        if iou_type == "bbox":
            results = prepare_for_coco_detection(resized, dataset)
        elif iou_type == "segm":
            results = prepare_for_coco_segmentation(resized, dataset)
        else:
            raise ValueError(f"unsupported iou_type {iou_type!r}; expected 'bbox' or 'segm'")
        _write_json(results, output_folder, f"{iou_type}.json")
        out[iou_type], _ = evaluate_predictions_on_coco(dataset.coco, results, iou_type, image_ids, backend)
    return out
