"""TEST.COCO_EVAL_BACKEND: faster-coco-eval gives pycocotools' 12 stats on the same detections."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.data.datasets import COCODataset
from maskrcnn_benchmark.data.datasets.evaluation import evaluate
from maskrcnn_benchmark.data.datasets.evaluation.coco_backends import check_backend, run_cocoeval
from maskrcnn_benchmark.structures.bounding_box import BoxList

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "benchmark_coco_eval.py")


def _tool():
    spec = importlib.util.spec_from_file_location("benchmark_coco_eval", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated():
    tool = _tool()
    gt, bbox, segm = tool.make_gt_and_detections(150, seed=1)
    return tool, gt, bbox, segm


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("subset", [False, True])
def test_all_twelve_stats_agree(generated, iou_type, subset):
    tool, gt, bbox, segm = generated
    results = bbox if iou_type == "bbox" else segm
    image_ids = list(range(1, 151, 3)) if subset else None
    coco_gt = tool.pycocotools_gt(gt)
    before = [dict(r) for r in results[:5]]
    ref = np.asarray(run_cocoeval(coco_gt, results, iou_type, image_ids, "pycocotools").stats[:12])
    got = np.asarray(run_cocoeval(coco_gt, results, iou_type, image_ids, "faster").stats[:12])
    assert ref.shape == got.shape == (12,)
    assert (ref > 0.01).sum() >= 10  # a case with something to measure in nearly every stat
    assert np.abs(ref - got).max() <= 1e-4, np.stack([ref, got])
    assert results[:5] == before  # the caller's result dicts are left as they were


def test_evaluate_through_a_dataset_with_both_backends(shapes_root, tmp_path):
    d = shapes_root / "shapes"
    dataset = COCODataset(str(d / "annotations" / "minival.json"), str(d / "images"), False)
    g = torch.Generator().manual_seed(0)
    preds = {}
    for idx in range(len(dataset)):
        info = dataset.get_img_info(idx)
        anns = [a for a in dataset.coco.imgToAnns[info["id"]] if not a["iscrowd"]]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes += torch.rand(boxes.shape, generator=g) * 6 - 3
        b = BoxList(boxes, (info["width"], info["height"]), "xywh").convert("xyxy")
        b.add_field("scores", torch.rand(len(b), generator=g))
        b.add_field("labels", torch.tensor([dataset.json_category_id_to_contiguous_id[a["category_id"]] for a in anns]))
        preds[idx] = b
    slow = evaluate(dataset, preds, str(tmp_path / "a"), backend="pycocotools")["bbox"]
    fast = evaluate(dataset, preds, str(tmp_path / "b"), backend="faster")["bbox"]
    assert 0.05 < slow["AP"] < 0.99
    assert slow.keys() == fast.keys() and all(abs(slow[k] - fast[k]) <= 1e-4 for k in slow)
    empty = {i: p[:0] for i, p in preds.items()}
    assert evaluate(dataset, empty, None, backend="faster")["bbox"]["AP"] == 0.0


def test_backend_key_and_errors():
    assert load_config("").TEST.COCO_EVAL_BACKEND == "pycocotools"
    assert check_backend("faster") == "faster"
    with pytest.raises(ValueError, match="TEST.COCO_EVAL_BACKEND must be one of .*'fast'"):
        check_backend("fast")


def test_benchmark_tool_prints_both_timings():
    run = subprocess.run(
        [sys.executable, TOOL, "--images", "30", "--iou-types", "bbox"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    line = [x for x in run.stdout.splitlines() if x.startswith("bbox:")][0]
    assert "pycocotools" in line and "faster-coco-eval" in line and "ratio" in line
    assert "max |stat difference| 0.00e+00" in line
