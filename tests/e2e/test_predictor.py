"""demo/predictor.py: detections in the input image's coordinates, drawn into a PNG."""
import os

import torch
from PIL import Image

from conftest import ROOT, TINY, as_args, run_tool

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
    proc = run_tool(["demo/predictor.py", "--config-file", CONFIG, "--input",
                     os.path.join(tiny_datasets, "shapes", "images", "minival_000001.jpg"),
                     "--output-dir", str(out), "--weights", str(tmp_path / "model_final.pth"),
                     "--threshold", "0.0", *opts], tiny_datasets)
    png = out / "minival_000001_detections.png"
    assert png.exists() and Image.open(png).size == image.size and "detections" in proc.stdout
