"""tools/benchmark_detector.py and the helpers of tools/benchmarking/ it shares with the other benchmarks."""

import json
import subprocess
import time

import pytest
import torch
from tool_loading import load_tool
from torch import nn

from maskrcnn_benchmark.layers import FrozenBatchNorm2d
from maskrcnn_benchmark.modeling.detector import build_detection_model
from tools.benchmarking.memory import MIB, cpu_peak_memory
from tools.benchmarking.random_weights import calibrate_norm_statistics, spread_class_scores
from tools.benchmarking.synthetic_inputs import model_targets, synthetic_batch
from tools.benchmarking.timing import medians, time_alternating
from tools.benchmarking.torchvision_peer import (
    build_torchvision,
    count_params,
    our_config,
    ours_to_torchvision_state,
)

# both sides > 0 at this size with these selection sizes (the defaults need a larger image for the
# RPN to keep 1000 proposals per image after NMS)
SMALL = [
    "--size",
    "128",
    "160",
    "--pre-nms-test",
    "300",
    "--post-nms-test",
    "64",
    "--pre-nms-train",
    "300",
    "--post-nms-train",
    "64",
    "--rois-per-image",
    "64",
    "--num-classes",
    "5",
    "--boxes-per-image",
    "2",
]


@pytest.fixture(scope="module")
def tool():
    return load_tool("benchmark_detector")


@pytest.fixture(scope="module")
def both_models(tool):
    args = tool.parse_args(SMALL)
    torch.manual_seed(0)
    return build_detection_model(our_config(args)), build_torchvision(args)


def test_key_mapping_loads_every_tensor_of_ours_into_torchvision(both_models):
    ours, tv = both_models
    state = ours.state_dict()
    mapped = ours_to_torchvision_state(state)
    assert len(mapped) == len(state)  # no two of our keys land on the same torchvision key
    tv.load_state_dict(mapped, strict=True)
    loaded = tv.state_dict()
    for key, value in mapped.items():
        assert torch.equal(loaded[key], value), key


def test_both_models_have_the_same_parameters_and_the_same_ones_frozen(both_models):
    ours, tv = both_models
    assert count_params(ours) == count_params(tv)
    mapped = ours_to_torchvision_state({name: p for name, p in ours.named_parameters()})
    assert {n for n, p in mapped.items() if p.requires_grad} == {n for n, p in tv.named_parameters() if p.requires_grad}
    assert set(mapped) == {n for n, _ in tv.named_parameters()}


def test_calibrate_norm_statistics_sets_each_layer_from_its_own_input():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 5, 1),
        FrozenBatchNorm2d(5),
        nn.Flatten(),
        nn.Linear(5 * 6 * 6, 7),
        nn.BatchNorm1d(7),
    )
    model.eval()
    x = torch.randn(2, 3, 8, 8) * 3 + 1
    assert calibrate_norm_statistics(model, lambda: model(x)) == 3

    def check(bn, inp):
        dims = [d for d in range(inp.dim()) if d != 1]
        mean = inp.mean(dims, keepdim=True)
        var = ((inp - mean) ** 2).mean(dims)  # biased, as BN normalises with
        torch.testing.assert_close(bn.running_mean, mean.flatten())
        torch.testing.assert_close(bn.running_var, var)

    with torch.no_grad():
        # recomputed layer by layer: each layer sees the output of the already calibrated ones
        y = model[0](x)
        check(model[1], y)
        y = model[3](model[2](model[1](y)))
        check(model[4], y)
        y = model[6](model[5](model[4](y)))
        check(model[7], y)
        # and the last layer now normalises its input to mean 0 and variance var / (var + eps)
        out = model[7](y)
    var = y.var(0, unbiased=False)
    torch.testing.assert_close(out.mean(0), torch.zeros(7), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(0, unbiased=False), var / (var + model[7].eps))


def test_spread_class_scores_gives_logits_of_the_asked_spread():
    torch.manual_seed(0)
    cls_score = nn.Linear(16, 5)
    features = torch.randn(30, 16)
    spread_class_scores(cls_score, lambda: cls_score(features), logit_std=2.5)
    with torch.no_grad():
        logits = features @ cls_score.weight.t() + cls_score.bias
    assert abs(logits.std().item() - 2.5) < 1e-4
    assert torch.count_nonzero(cls_score.bias) == 0
    with pytest.raises(RuntimeError, match="no features"):
        spread_class_scores(cls_score, lambda: cls_score(torch.zeros(0, 16)))


def test_alternating_timer_reverses_the_order_every_other_round():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = time_alternating(fns, warmup=1, repeats=3)
    assert "".join(calls) == "abc" + "abc" + "cba" + "abc"
    assert all(len(t["wall"]) == len(t["cpu"]) == 3 for t in times.values())
    calls.clear()
    time_alternating(fns, warmup=0, repeats=3, reverse=False)
    assert "".join(calls) == "abc" * 3


def test_alternating_timer_measures_wall_and_process_cpu_time():
    times = time_alternating({"sleep": lambda: time.sleep(0.05)}, warmup=0, repeats=2)
    assert min(times["sleep"]["wall"]) >= 0.05
    assert max(times["sleep"]["cpu"]) < 0.04  # sleeping costs no CPU
    assert medians({"x": {"wall": [3.0, 1.0, 2.0], "cpu": [0.0]}}) == {"x": 2.0}
    assert medians({"x": {"wall": [3.0], "cpu": [4.0, 1.0]}}, "cpu") == {"x": 2.5}


def test_cpu_peak_memory_sees_a_large_allocation():
    size = 200 * MIB
    peak, method = cpu_peak_memory(lambda: torch.ones(size // 4))  # float32, every page written
    if method == "ru_maxrss delta":
        pytest.skip("no /proc/self/clear_refs: the peak is above an unknown earlier high-water mark")
    assert method == "VmHWM - VmRSS"
    assert 0.8 * size <= peak < 1.5 * size


def test_synthetic_batch_is_deterministic_and_targets_fit_both_models():
    images, targets = synthetic_batch(2, 96, 128, 7, [10.0, 20.0, 30.0], [2.0, 2.0, 2.0], num_boxes=3, num_classes=5)
    again, _ = synthetic_batch(2, 96, 128, 7, [10.0, 20.0, 30.0], [2.0, 2.0, 2.0], num_boxes=3, num_classes=5)
    assert all(torch.equal(a, b) for a, b in zip(images, again))
    assert [tuple(i.shape) for i in images] == [(3, 96, 128)] * 2
    for boxes, labels in targets:
        assert boxes.shape == (3, 4) and (boxes[:, 2:] > boxes[:, :2]).all()
        assert (boxes[:, 2] <= 128).all() and (boxes[:, 3] <= 96).all()
        assert ((labels >= 1) & (labels < 5)).all()
    ours = model_targets("ours", targets, 96, 128, torch.device("cpu"))
    tv = model_targets("torchvision", targets, 96, 128, torch.device("cpu"))
    for box_list, d, (boxes, labels) in zip(ours, tv, targets):
        assert box_list.size == (128, 96) and torch.equal(box_list.bbox, boxes)
        assert torch.equal(box_list.get_field("labels"), labels)
        assert torch.equal(d["boxes"], boxes) and torch.equal(d["labels"], labels)


def test_size_below_the_lower_bound_is_refused(tool):
    with pytest.raises(SystemExit):
        tool.parse_args(["--size", "63", "160"])
    assert tool.parse_args(["--size", "64", "64"]).size == [64, 64]


def test_timed_run_reports_both_detectors(tool, tmp_path, capsys):
    out = tmp_path / "detector.json"
    rows = tool.main(SMALL + ["--repeats", "1", "--warmup", "0", "--no-memory", "--threads", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "| measure | ours | torchvision | ours / torchvision |" in printed
    assert [r[0] for r in rows] == [
        f"{phase} {clock} {unit}, {stat}"
        for phase, unit in (("inference", "s/image"), ("training", "s/iter"))
        for clock, stat in (("wall", "median"), ("CPU (process_time)", "median"), ("wall", "min"))
    ]
    for name, ours, tv, unit in rows:
        assert ours > 0 and tv > 0 and unit == "s", name
    result = json.loads(out.read_text())
    assert set(result) == {"args", "times", "memory", "table"}
    assert set(result["times"]) == {"inference", "training"} and result["memory"] == {}
    assert result["times"]["training"]["ours"]["wall"][0] == rows[3][1]


@pytest.mark.slow
def test_memory_child_measures_one_step_of_the_mapped_model(tool, both_models, tmp_path):
    """The subprocess that re-invokes the script: torchvision's model from our saved state."""
    args = tool.parse_args(SMALL + ["--threads", "1"])
    state_file = tmp_path / "ours.pth"
    torch.save(both_models[0].state_dict(), state_file)
    proc = subprocess.run(
        tool.child_argv(args, "torchvision:inference", str(state_file)), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY_RESULT "))
    result = json.loads(line[len("MEMORY_RESULT ") :])
    assert result["kind"] == "torchvision" and result["phase"] == "inference"
    assert result["bytes"] > 0 and result["method"] in ("VmHWM - VmRSS", "ru_maxrss delta")
