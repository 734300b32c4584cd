import contextlib
import io
import json

import numpy as np
import pytest
import torch
from pycocotools.cocoeval import COCOeval

from maskrcnn_benchmark.data.datasets import COCODataset
from maskrcnn_benchmark.data.datasets.evaluation import evaluate
from maskrcnn_benchmark.data.datasets.evaluation.proposal_recall import evaluate_box_proposals, greedy_match_overlaps
from maskrcnn_benchmark.structures.bounding_box import BoxList


@pytest.fixture(scope="module")
def dataset(shapes_root):
    d = shapes_root / "shapes"
    return COCODataset(str(d / "annotations" / "minival.json"), str(d / "images"), False)


def _gt_predictions(dataset, scale=2.0, shift=0.0, seed=0):
    """Ground truth as detections, in a model input `scale` times the original size."""
    g = torch.Generator().manual_seed(seed)
    preds = {}
    for idx in range(len(dataset)):
        info = dataset.get_img_info(idx)
        anns = [a for a in dataset.coco.imgToAnns[info["id"]] if not a["iscrowd"]]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, :2] += shift
        b = BoxList(boxes, (info["width"], info["height"]), "xywh").convert("xyxy")
        b = b.resize((info["width"] * scale, info["height"] * scale))
        b.add_field("scores", torch.rand(len(b), generator=g) * 0.5 + 0.5)
        b.add_field(
            "labels",
            torch.tensor(
                [dataset.json_category_id_to_contiguous_id[a["category_id"]] for a in anns], dtype=torch.int64
            ),
        )
        preds[idx] = b
    return preds


def _cocoeval_by_hand(coco_gt, json_path, iou_type):
    with contextlib.redirect_stdout(io.StringIO()):
        dt = coco_gt.loadRes(str(json_path))
        e = COCOeval(coco_gt, dt, iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def test_perfect_boxes_give_ap_one(dataset, tmp_path):
    results = evaluate(dataset, _gt_predictions(dataset), str(tmp_path))
    assert set(results) == {"bbox"}
    assert set(results["bbox"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert results["bbox"]["AP"] == pytest.approx(1.0)
    assert results["bbox"]["AP50"] == pytest.approx(1.0)


def test_shifted_boxes_match_cocoeval_by_hand(dataset, tmp_path):
    preds = _gt_predictions(dataset, scale=1.5, shift=3.0)
    results = evaluate(dataset, preds, str(tmp_path), iou_types=("bbox",))
    written = json.loads((tmp_path / "bbox.json").read_text())
    # The json holds the predictions in original image coordinates, xywh, json category ids.
    first = preds[0].resize((dataset.get_img_info(0)["width"], dataset.get_img_info(0)["height"]))
    box = first.convert("xywh").bbox[0].tolist()
    assert written[0]["image_id"] == dataset.get_img_info(0)["id"]
    assert written[0]["bbox"] == pytest.approx(box, abs=1e-4)
    assert written[0]["category_id"] == dataset.contiguous_category_id_to_json_id[int(first.get_field("labels")[0])]
    assert written[0]["score"] == pytest.approx(float(first.get_field("scores")[0]))
    assert len(written) == sum(len(p) for p in preds.values())
    stats = _cocoeval_by_hand(dataset.coco, tmp_path / "bbox.json", "bbox")
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
    assert results["bbox"] == pytest.approx(dict(zip(names, stats[:6])))
    assert 0.05 < results["bbox"]["AP"] < 0.95


def test_list_predictions_and_partial_sets(dataset):
    preds = _gt_predictions(dataset)
    as_list = evaluate(dataset, [preds[i] for i in range(len(dataset))], None)
    assert as_list["bbox"]["AP"] == pytest.approx(1.0)
    # Only the images that have predictions are evaluated.
    subset = {i: preds[i] for i in (0, 2)}
    assert evaluate(dataset, subset, None)["bbox"]["AP"] == pytest.approx(1.0)


def test_empty_predictions_give_zero(dataset, tmp_path):
    empty = {}
    for idx in range(len(dataset)):
        info = dataset.get_img_info(idx)
        b = BoxList(torch.zeros(0, 4), (info["width"], info["height"]))
        b.add_field("scores", torch.zeros(0))
        b.add_field("labels", torch.zeros(0, dtype=torch.int64))
        empty[idx] = b
    for preds in (empty, {}):
        results = evaluate(dataset, preds, str(tmp_path))
        assert all(v == 0.0 for v in results["bbox"].values())
    assert json.loads((tmp_path / "bbox.json").read_text()) == []


def test_bad_labels_and_types(dataset):
    preds = _gt_predictions(dataset)
    preds[0].get_field("labels")[0] = 99
    with pytest.raises(ValueError, match="label 99"):
        evaluate(dataset, preds, None)
    with pytest.raises(ValueError, match="iou_type"):
        evaluate(dataset, _gt_predictions(dataset), None, iou_types=("keypoints",))
    with pytest.raises(TypeError):
        evaluate(dataset, "predictions", None)
    with pytest.raises(NotImplementedError):
        evaluate(object(), {}, None)


def _with_full_masks(dataset, preds):
    """Attach [N, 1, H, W] masks rasterised from the ground truth (already image-sized)."""
    out = {}
    for idx, p in preds.items():
        info = dataset.get_img_info(idx)
        p = p.resize((info["width"], info["height"]))
        anns = [a for a in dataset.coco.imgToAnns[info["id"]] if not a["iscrowd"]]
        masks = np.stack([dataset.coco.annToMask(a) for a in anns])[:, None]
        p.add_field("mask", torch.from_numpy(masks).float())
        out[idx] = p
    return out


def test_perfect_masks_give_segm_ap_one(dataset, tmp_path):
    preds = _with_full_masks(dataset, _gt_predictions(dataset))
    results = evaluate(dataset, preds, str(tmp_path), iou_types=("bbox", "segm"))
    assert results["segm"]["AP"] == pytest.approx(1.0)
    assert results["bbox"]["AP"] == pytest.approx(1.0)
    stats = _cocoeval_by_hand(dataset.coco, tmp_path / "segm.json", "segm")
    assert results["segm"]["AP"] == pytest.approx(stats[0])
    with pytest.raises(ValueError, match="'mask' field"):
        evaluate(dataset, _gt_predictions(dataset), None, iou_types=("segm",))


def test_mask_head_output_is_pasted(dataset, tmp_path):
    """[N, 1, M, M] probabilities go through structures' Masker into the image."""
    preds = _gt_predictions(dataset, scale=1.0)
    for p in preds.values():
        p.add_field("mask", torch.ones(len(p), 1, 28, 28))  # the whole box
    results = evaluate(dataset, preds, str(tmp_path), iou_types=("segm",))
    written = json.loads((tmp_path / "segm.json").read_text())
    assert len(written) == sum(len(p) for p in preds.values())
    stats = _cocoeval_by_hand(dataset.coco, tmp_path / "segm.json", "segm")
    assert results["segm"]["AP"] == pytest.approx(stats[0])
    # Box-shaped masks overlap the true shapes well at IoU 0.5 but not perfectly.
    assert 0.2 < results["segm"]["AP50"] <= 1.0 and results["segm"]["AP"] < 0.9


# ---- proposals: average recall ----------------------------------------------------------------------


def test_greedy_matching_hand_case():
    iou = torch.tensor([[0.9, 0.8, 0.0], [0.85, 0.1, 0.0], [0.0, 0.0, 0.0]])
    # Best pair (0, 0) = 0.9 first; then proposal 1 or 2 for box 1: 0.1; box 2 gets 0.
    assert greedy_match_overlaps(iou).tolist() == pytest.approx([0.9, 0.1, 0.0])
    # More boxes than proposals: the unmatched box gets 0.
    assert greedy_match_overlaps(torch.tensor([[0.3, 0.6]])).tolist() == pytest.approx([0.0, 0.6])
    assert greedy_match_overlaps(torch.zeros(0, 2)).tolist() == [0.0, 0.0]


def _proposals(dataset, shift):
    preds = _gt_predictions(dataset, scale=1.0, shift=shift)
    out = {}
    for idx, p in preds.items():
        q = p.copy_with_fields([])
        q.add_field("objectness", p.get_field("scores"))
        out[idx] = q
    return out


def test_average_recall_hand_and_against_cocoeval(dataset, tmp_path):
    # Exact boxes: every threshold recalled.
    results = evaluate(dataset, _proposals(dataset, 0.0), None, box_only=True)["box_proposal"]
    assert results["AR@100"] == pytest.approx(1.0) and results["AR@1000"] == pytest.approx(1.0)
    assert set(results) == {f"AR{a}@{n}" for a in ("", "s", "m", "l") for n in (100, 1000)}

    # Shifted boxes, one per object, far apart: the greedy matching equals COCO's, so AR equals
    # COCOeval's class-agnostic recall averaged over thresholds.
    preds = _proposals(dataset, 2.0)
    ar = evaluate(dataset, preds, None, box_only=True)["box_proposal"]["AR@100"]
    # (proposals already in the original size, so the function can be called directly)
    assert ar == pytest.approx(evaluate_box_proposals(preds, dataset, limit=100)["recalls"].mean().item())
    dets = []
    for idx, p in preds.items():
        for box, s in zip(p.convert("xywh").bbox.tolist(), p.get_field("objectness").tolist()):
            dets.append({"image_id": dataset.get_img_info(idx)["id"], "category_id": 1, "bbox": box, "score": s})
    path = tmp_path / "props.json"
    path.write_text(json.dumps(dets))
    with contextlib.redirect_stdout(io.StringIO()):
        e = COCOeval(dataset.coco, dataset.coco.loadRes(str(path)), "bbox")
        e.params.useCats = 0
        e.params.maxDets = [1, 10, 100]
        e.evaluate()
        e.accumulate()
        e.summarize()
    assert ar == pytest.approx(e.stats[8], abs=1e-6)
    assert 0.1 < ar < 0.99


def test_average_recall_limit_and_area(dataset):
    preds = _proposals(dataset, 0.0)
    # Keep only the best proposal per image: recall = images / objects.
    one = evaluate_box_proposals(preds, dataset, limit=1)
    n_objects = sum(len(p) for p in preds.values())
    assert one["num_pos"] == n_objects
    assert one["ar"] == pytest.approx(len(preds) / n_objects)
    assert evaluate_box_proposals(preds, dataset, area="large")["num_pos"] == 0
    with pytest.raises(ValueError, match="area"):
        evaluate_box_proposals(preds, dataset, area="huge")
