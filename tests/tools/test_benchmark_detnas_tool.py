import torch
from tool_loading import load_tool

from maskrcnn_benchmark.nas import count_flops, flops_range


def test_flops_table_rows():
    rows = {r["size"]: r for r in load_tool("benchmark_detnas").flops_table()}
    assert set(rows) == {"300M", "1.3G", "3.8G"}
    assert rows["300M"]["released"] == {
        "FPN-300M": count_flops("300M", "FPN-300M"),
        "RetinaNet-300M": count_flops("300M", "RetinaNet-300M"),
    }
    assert (rows["3.8G"]["min"], rows["3.8G"]["max"]) == flops_range("3.8G")


def test_timing_runs_both_models_on_the_same_path():
    tool = load_tool("benchmark_detnas")
    r = tool.time_supernet_vs_fixed(
        "300M", "FPN-300M", batch=2, input_size=32, iters=1, warmup=0, device=torch.device("cpu")
    )
    assert r["arch"] == "21202112331300313132"
    assert r["fixed_s"] > 0 and r["supernet_s"] > 0 and r["ratio"] > 0
