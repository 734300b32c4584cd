"""demo/predictor.py: detections in the input image's coordinates, drawn into a PNG."""

import os

import pytest
import torch
from PIL import Image

from e2e_testing import ROOT, TINY, as_args, run_tool

CONFIG = "configs/quick_schedules/e2e_faster_rcnn_R_18_FPN_shapes.yaml"


def test_predictor_draws_detections_in_image_coordinates(tiny_datasets, tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, os.path.join(ROOT, "demo"))
    from predictor import build_predictor

    from maskrcnn_benchmark.config import load_config
    from maskrcnn_benchmark.data.num_classes import resolve_num_classes
    from maskrcnn_benchmark.modeling.detector import build_detection_model
    from maskrcnn_benchmark.utils.checkpoint import Checkpointer

    monkeypatch.setenv("DETNAS_DATASETS", tiny_datasets)
    opts = as_args(TINY + ["MODEL.ROI_HEADS.SCORE_THRESH", 0.0, "MODEL.DEVICE", "cpu"])
    cfg = resolve_num_classes(load_config(os.path.join(ROOT, CONFIG), opts))
    torch.manual_seed(0)
    Checkpointer(build_detection_model(cfg), save_dir=str(tmp_path)).save("model_final")

    predictor = build_predictor(cfg, str(tmp_path / "model_final.pth"))
    assert predictor.category_names == {1: "circle", 2: "square", 3: "triangle", 4: "star"}
    image = Image.open(os.path.join(tiny_datasets, "shapes", "images", "minival_000001.jpg"))
    big = image.resize((150, 110))
    detections = predictor.predict(big)
    assert detections.size == (150, 110) and len(detections) > 0
    assert float(detections.bbox[:, 2].max()) <= 150 and float(detections.bbox[:, 3].max()) <= 110
    drawn = predictor.draw(big, detections, threshold=0.0)
    assert drawn.size == big.size and drawn.tobytes() != big.convert("RGB").tobytes()

    out = tmp_path / "drawn"
    proc = run_tool(
        [
            "demo/predictor.py",
            "--config-file",
            CONFIG,
            "--input",
            os.path.join(tiny_datasets, "shapes", "images", "minival_000001.jpg"),
            "--output-dir",
            str(out),
            "--weights",
            str(tmp_path / "model_final.pth"),
            "--threshold",
            "0.0",
            *opts,
        ],
        tiny_datasets,
    )
    png = out / "minival_000001_detections.png"
    assert png.exists() and Image.open(png).size == image.size and "detections" in proc.stdout

    # With the annotation file, ground truth is drawn on the left of the detections; the flag may
    # come after the overrides.
    ann = os.path.join(tiny_datasets, "shapes", "annotations", "minival.json")
    proc = run_tool(
        [
            "demo/predictor.py",
            "--config-file",
            CONFIG,
            "--input",
            os.path.join(tiny_datasets, "shapes", "images", "minival_000001.jpg"),
            "--output-dir",
            str(out),
            "--weights",
            str(tmp_path / "model_final.pth"),
            *opts,
            "--threshold",
            "0.0",
            "--annotations",
            ann,
        ],
        tiny_datasets,
    )
    sheet = Image.open(png)
    assert sheet.size == (2 * image.width + 4, image.height)
    assert "ground-truth boxes on the left" in proc.stdout


def test_ground_truth_drawn_beside_the_detections(tmp_path):
    import json
    import sys

    sys.path.insert(0, os.path.join(ROOT, "demo"))
    from predictor import draw_ground_truth, load_ground_truth, side_by_side

    ann = tmp_path / "a.json"
    ann.write_text(
        json.dumps(
            {
                "images": [{"id": 7, "file_name": "sub/x.png", "width": 60, "height": 40}],
                "categories": [{"id": 3, "name": "tile"}],
                "annotations": [
                    {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 20, 30, 15]},
                    {"id": 2, "image_id": 7, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1},
                ],
            }
        )
    )
    gt = load_ground_truth(str(ann))
    assert gt == {"x.png": [(10, 20, 40, 35, "tile")]}
    image = Image.new("RGB", (60, 40), (0, 0, 0))
    drawn = draw_ground_truth(image, gt["x.png"])
    assert drawn.getpixel((25, 35)) == (255, 255, 255)  # bottom edge of the box
    assert drawn.getpixel((25, 28)) == (0, 0, 0)  # inside stays untouched
    assert drawn.getpixel((2, 2)) == (0, 0, 0)  # the crowd box is not drawn
    assert side_by_side(drawn, image).size == (124, 40)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SystemExit, match="not a readable COCO annotation file"):
        load_ground_truth(str(bad))
