"""scripts/run_detnas_demo.sh at its tiny scale: every stage runs, every output exists and is
well-formed, and a second run resumes without redoing anything."""
import json
import os
import statistics
import subprocess

import pytest
from PIL import Image

from conftest import ROOT

SUMMARY_KEYS = {
    "best_arch", "best_flops", "best_search_val_ap", "random_search_val_ap_best",
    "random_search_val_ap_median", "search_val_ap_median_per_generation", "final_minival_ap_best",
    "final_minival_ap_released", "seconds_per_stage",
}
STAGES = {"data", "pretrain_supernet", "finetune_supernet", "search", "random_search", "retrain"}


def _demo(out, *extra):
    proc = subprocess.run(["bash", "scripts/run_detnas_demo.sh", "--scale", "tiny", "--quiet",
                           "--output-dir", str(out), *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _check_outputs(out):
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert len(summary["best_arch"]) == 20 and set(summary["best_arch"]) <= set("0123")
    assert 0 < summary["best_flops"] <= 300e6
    for key in ("best_search_val_ap", "random_search_val_ap_best", "random_search_val_ap_median",
                "final_minival_ap_best", "final_minival_ap_released"):
        assert 0.0 <= summary[key] <= 1.0, key
    assert set(summary["seconds_per_stage"]) == STAGES
    results = json.loads((out / "search" / "search_results.json").read_text())
    assert results["best"]["arch"] == summary["best_arch"]
    assert results["best"]["ap"] == summary["best_search_val_ap"]
    archs = [r["arch"] for r in results["results"]]
    assert len(archs) == len(set(archs)) == 6
    generations = sorted({r["generation"] for r in results["results"]})
    assert generations == [0, 1]
    assert summary["search_val_ap_median_per_generation"] == [
        statistics.median(r["ap"] for r in results["results"]
                          if r["generation"] == g and r["status"] == "ok")
        for g in generations]
    for png in ("search_progress.png", "detections_minival.png"):
        with Image.open(out / png) as im:
            assert im.width > 100 and im.height > 50
    return summary


@pytest.mark.slow
def test_tiny_demo_runs_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "demo"
    stdout = _demo(out)
    assert "[7/7] report" in stdout and "DetNAS demo results" in stdout
    summary = _check_outputs(out)
    again = _demo(out)
    assert again.count("already done, skipped") == 6
    assert json.loads((out / "summary.json").read_text())["best_arch"] == summary["best_arch"]


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_tiny_demo_through_the_broker(tmp_path, amqp_url):
    out = tmp_path / "demo"
    stdout = _demo(out, "--broker", amqp_url)
    assert "evaluation servers stopped" in stdout
    summary = _check_outputs(out)
    assert summary["transport"] == "rabbitmq"
    servers = {r["server_id"] for r in json.loads(
        (out / "search" / "search_results.json").read_text())["results"]}
    assert len(servers) == 2
