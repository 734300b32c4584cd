"""tools/benchmark_ops.py runs its cases side by side with torchvision and reports each ratio."""

import json
import os
import subprocess
import sys

from tool_loading import tool_path

TOOL = tool_path("benchmark_ops")


def test_nms_cases_match_torchvision_and_are_reported(tmp_path):
    out = tmp_path / "ops.json"
    proc = subprocess.run(
        [sys.executable, TOOL, "--only", "nms", "--repeats", "1", "--warmup", "0", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["case"] for r in rows] == [
        f"{n} {kind} boxes iou 0.5" for n in (2000, 10000) for kind in ("random", "clustered")
    ]
    for r in rows:
        assert r["op"] == "nms" and r["difference"] == "identical"
        assert r["ours_ms"] > 0 and r["torchvision_ms"] > 0
        assert abs(r["ratio"] - r["ours_ms"] / r["torchvision_ms"]) < 1e-9
    worst = max(rows, key=lambda r: r["ratio"])
    assert f"largest ratio ours/torchvision: {worst['ratio']:.2f} ({worst['op']}, {worst['case']})" in proc.stdout
