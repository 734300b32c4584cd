"""The quick Faster R-CNN schedule end to end: tools/train_net.py (log with ETA, checkpoints, resume)
and tools/test_net.py (COCO json + metrics) as subprocesses on a small generated shapes dataset."""

import json
import os
import re

import pytest
import torch

from e2e_testing import as_args, run_tool

from maskrcnn_benchmark.data.datasets.synthetic_shapes import make_shapes_dataset

CONFIG = "configs/quick_schedules/e2e_faster_rcnn_R_18_FPN_shapes.yaml"
# The config as shipped, cut to a few iterations; only the schedule and the output change.
SHORT = [
    "SOLVER.WARMUP_ITERS",
    2,
    "SOLVER.CHECKPOINT_PERIOD",
    4,
    "SOLVER.LOG_PERIOD",
    2,
    "SOLVER.IMS_PER_BATCH",
    4,
    "DATALOADER.NUM_WORKERS",
    0,
]
ETA_LINE = re.compile(r"eta: (\d+:\d\d:\d\d)\s+iter: (\d+)/(\d+)\s+loss: [\d.]+")


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    """40 train and 10 minival images at the generator's default sizes (96-160 px)."""
    root = tmp_path_factory.mktemp("quick_datasets")
    make_shapes_dataset(str(root / "shapes"), num_train=40, num_minival=10, seed=3)
    return str(root)


def _train(root, out, max_iter):
    opts = as_args(SHORT + ["SOLVER.MAX_ITER", max_iter, "SOLVER.STEPS", f"({max_iter - 2},)", "OUTPUT_DIR", out])
    run_tool(["tools/train_net.py", "--config-file", CONFIG, "--skip-test", *opts], root)
    return (out / "train_log.txt").read_text()


def _run_since_last_start(log):
    """The part of an appended log written by the latest training run."""
    return log[log.rindex("start training at iteration") :]


def test_quick_schedule_trains_resumes_and_evaluates(shapes_root, tmp_path):
    out = tmp_path / "quick"

    first = _run_since_last_start(_train(shapes_root, out, 8))
    assert first.startswith("start training at iteration 0 of 8")
    etas = ETA_LINE.findall(first)
    assert [int(i) for _, i, _ in etas] == [2, 4, 6, 8] and {n for _, _, n in etas} == {"8"}
    assert etas[-1][0] == "0:00:00"
    assert (out / "model_0000004.pth").exists() and (out / "model_final.pth").exists()
    assert (out / "last_checkpoint").read_text().strip().endswith("model_final.pth")

    # A second call with a longer schedule continues from the saved iteration, not from 0.
    second = _run_since_last_start(_train(shapes_root, out, 12))
    assert second.startswith("start training at iteration 8 of 12")
    assert [int(i) for _, i, _ in ETA_LINE.findall(second)] == [10, 12]
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=True)
    assert final["iteration"] == 12
    assert final["scheduler"]["last_epoch"] == 12
    # Training curves: one record per log period across both runs, and TensorBoard events.
    records = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert [r["iteration"] for r in records] == [2, 4, 6, 8, 10, 12]
    assert all({"loss", "loss_classifier", "lr", "time", "data_time", "peak_mem_mb"} <= set(r) for r in records)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(out / "tensorboard"))

    # test_net loads the last checkpoint of OUTPUT_DIR and writes the COCO results and metrics.
    proc = run_tool(
        ["tools/test_net.py", "--config-file", CONFIG, *as_args(["OUTPUT_DIR", out, "DATALOADER.NUM_WORKERS", 0])],
        shapes_root,
    )
    test_log = (out / "test_log.txt").read_text()
    assert "model_final.pth" in test_log
    folder = out / "inference" / "shapes_minival"
    detections = json.loads((folder / "bbox.json").read_text())
    assert isinstance(detections, list)
    for det in detections:
        assert set(det) >= {"image_id", "category_id", "bbox", "score"}
        assert 1 <= det["category_id"] <= 4 and len(det["bbox"]) == 4
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {"bbox"}
    assert set(metrics["bbox"]) >= {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert all(-1.0 <= v <= 1.0 for v in metrics["bbox"].values())
    assert "Traceback" not in proc.stderr
