"""metrics.jsonl + TensorBoard events from MetricsWriter and the training loop; plot_metrics.py."""

import os
import subprocess
import sys

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from maskrcnn_benchmark.engine.trainer import do_train
from maskrcnn_benchmark.utils.metrics_writer import MetricsWriter, peak_memory_mb, read_metrics

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _scalars(run_dir):
    acc = EventAccumulator(os.path.join(run_dir, "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_jsonl_and_tensorboard_hold_the_same_numbers(tmp_path):
    with MetricsWriter(str(tmp_path)) as w:
        w.write(10, loss=1.5, lr=0.1, eval={"ap": 0.25, "per_class": [1, 2]}, arch="0123")
        w.write(20, loss=1.0, lr=0.05, flag=True)
    assert read_metrics(str(tmp_path)) == [
        {"iteration": 10, "loss": 1.5, "lr": 0.1, "eval": {"ap": 0.25, "per_class": [1, 2]}, "arch": "0123"},
        {"iteration": 20, "loss": 1.0, "lr": 0.05, "flag": True},
    ]
    scalars = _scalars(str(tmp_path))
    assert set(scalars) == {"loss", "lr", "eval/ap"}  # strings, lists and bools stay in the jsonl
    assert scalars["loss"] == [(10, 1.5), (20, 1.0)]
    assert scalars["eval/ap"] == [(10, 0.25)]


def test_disabled_writer_writes_nothing(tmp_path):
    w = MetricsWriter(str(tmp_path / "run"), enabled=False)
    assert w.write(1, loss=1.0) is None
    w.close()
    assert not (tmp_path / "run").exists()


def test_resumed_writer_drops_records_after_the_resume_step(tmp_path):
    with MetricsWriter(str(tmp_path), tensorboard=False) as w:
        for step in (10, 20, 30):
            w.write(step, loss=float(step))
    with MetricsWriter(str(tmp_path), start_step=20, tensorboard=False) as w:
        w.write(30, loss=0.5)
    assert [(r["iteration"], r["loss"]) for r in read_metrics(str(tmp_path))] == [(10, 10.0), (20, 20.0), (30, 0.5)]
    with MetricsWriter(str(tmp_path), step_key="candidate", filename="search.jsonl", tensorboard=False) as w:
        w.write(3, ap=0.4, best_ap=0.4)
    assert read_metrics(str(tmp_path / "search.jsonl")) == [{"candidate": 3, "ap": 0.4, "best_ap": 0.4}]


def test_peak_memory_is_positive_on_cpu():
    assert peak_memory_mb("cpu") > 10


class _TwoLosses(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))

    def forward(self, images, targets):
        return {"loss_a": (self.w**2).sum() * images.mean(), "loss_b": self.w.abs().sum()}


class _NoCheckpoints:
    def save(self, name, **kwargs):
        pass


def test_training_loop_writes_one_record_per_log_period(tmp_path):
    model = _TwoLosses()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 1.0 / (1 + it))
    batches = [(torch.ones(1, 3, 4, 4), [torch.zeros(1)], (0,)) for _ in range(7)]
    with MetricsWriter(str(tmp_path)) as metrics:
        do_train(
            model,
            batches,
            optimizer,
            scheduler,
            _NoCheckpoints(),
            "cpu",
            0,
            {"iteration": 0},
            log_period=3,
            metrics=metrics,
        )
    records = read_metrics(str(tmp_path))
    assert [r["iteration"] for r in records] == [3, 6, 7]  # every 3rd and the last
    for r in records:
        assert set(r) == {"iteration", "loss", "loss_a", "loss_b", "lr", "time", "data_time", "peak_mem_mb"}
        assert r["loss"] == pytest.approx(r["loss_a"] + r["loss_b"], rel=1e-5)
        assert r["time"] > 0 and r["data_time"] >= 0 and r["peak_mem_mb"] > 0
    assert records[0]["lr"] == pytest.approx(0.1 / 4) and records[2]["lr"] == pytest.approx(0.1 / 8)
    assert records[2]["loss_b"] < records[0]["loss_b"] + 1e-6
    assert [s for s, _ in _scalars(str(tmp_path))["loss_b"]] == [3, 6, 7]


def test_plot_metrics_draws_a_png(tmp_path):
    with MetricsWriter(str(tmp_path), tensorboard=False) as w:
        for step in range(1, 6):
            w.write(step * 10, loss=1.0 / step, loss_cls=0.5 / step, lr=0.02, time=0.3)
    run = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "plot_metrics.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    png = tmp_path / "metrics.png"
    assert run.stdout.strip() == str(png)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 600
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "plot_metrics.py"), str(empty)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "no metrics.jsonl in" in bad.stderr


def test_plot_curves_keep_the_last_value_of_a_repeated_step():
    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        from plot_metrics import curves
    finally:
        sys.path.pop(0)
    series = curves(
        [
            {"iteration": 1, "loss": 3.0, "lr": 0.1},
            {"iteration": 2, "loss": 2.0},
            {"iteration": 2, "loss": 1.5},
            {"iteration": 3, "eval": [1]},
        ]
    )
    assert series == {"loss": ([1, 2], [3.0, 1.5]), "lr": ([1], [0.1])}
