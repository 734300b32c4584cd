"""scripts/run_detnas_demo.sh at its tiny scale: every stage runs, every output exists and is
well-formed, and a second run resumes without redoing anything."""

import json
import os
import statistics
import subprocess

import pytest
from PIL import Image

from e2e_testing import ROOT

SUMMARY_KEYS = {
    "best_arch",
    "best_flops",
    "best_search_val_ap",
    "random_best_arch",
    "random_search_val_ap_best",
    "search_val_ap_median_per_generation",
    "final_minival_ap_best",
    "final_minival_ap_random_best",
    "final_minival_ap_released",
    "search_vs_random",
    "seconds_per_stage",
}
STAGES = {"data", "pretrain_supernet", "finetune_supernet", "search", "retrain"}


def _demo(out, *extra):
    proc = subprocess.run(
        ["bash", "scripts/run_detnas_demo.sh", "--scale", "tiny", "--quiet", "--output-dir", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _runs(out, arm):
    return {
        seed: json.loads((out / "search" / f"{arm}_seed{seed}" / "search_results.json").read_text()) for seed in (0, 1)
    }


def _check_outputs(out):
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert len(summary["best_arch"]) == 20 and set(summary["best_arch"]) <= set("0123")
    assert 0 < summary["best_flops"] <= 300e6
    for key in (
        "best_search_val_ap",
        "random_search_val_ap_best",
        "final_minival_ap_best",
        "final_minival_ap_random_best",
    ):
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["final_minival_ap_released"] is None  # only with --with-released
    assert set(summary["seconds_per_stage"]) == STAGES
    # Every run of both arms is on disk in the master's format; the summary is recomputed from them.
    evo, rnd = _runs(out, "evolution"), _runs(out, "random")
    for runs in (evo, rnd):
        for r in runs.values():
            assert r["finished"] and len(r["results"]) == 6 == len({x["arch"] for x in r["results"]})
            assert sorted({x["generation"] for x in r["results"]}) == [0, 1]
    best = max((r["best"] for r in evo.values()), key=lambda b: (b["ap"], b["arch"]))
    assert (summary["best_arch"], summary["best_search_val_ap"]) == (best["arch"], best["ap"])
    best_random = max((r["best"] for r in rnd.values()), key=lambda b: (b["ap"], b["arch"]))
    assert summary["random_best_arch"] == best_random["arch"]
    c = summary["search_vs_random"]
    assert c["evolution"]["best_ap"]["values"] == [evo[s]["best"]["ap"] for s in (0, 1)]
    assert c["random"]["best_ap"]["values"] == [rnd[s]["best"]["ap"] for s in (0, 1)]
    assert 0.0 <= c["last_quarter_test"]["p_value"] <= 1.0
    assert summary["search_val_ap_median_per_generation"] == [
        statistics.median(r["ap"] for r in evo[0]["results"] if r["generation"] == g and r["status"] == "ok")
        for g in (0, 1)
    ]
    # Retrained: both architectures, 2 seeds each, from the retrain stage's raw results.
    retrain = json.loads((out / "retrain" / "search_results.json").read_text())
    by_arch = {r["arch"]: r for r in retrain["results"]}
    for name in ("best_found", "best_random"):
        row = c["retrained"][name]
        metrics = by_arch[row["arch"]]["metrics"]
        assert row["ap_per_seed"] == [metrics["ap_seed0"], metrics["ap_seed1"]]
        assert row["ap"] == pytest.approx(statistics.fmean(row["ap_per_seed"]))
    for png in ("search_vs_random.png", "search_progress.png", "detections_minival.png", "supernet_curves.png"):
        with Image.open(out / png) as im:
            assert im.width > 100 and im.height > 50
    return summary


@pytest.mark.slow
def test_tiny_demo_runs_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "demo"
    stdout = _demo(out)
    assert "[6/6] report" in stdout and "DetNAS demo results" in stdout
    summary = _check_outputs(out)
    again = _demo(out)
    assert again.count("already done, skipped") == 5
    assert json.loads((out / "summary.json").read_text())["best_arch"] == summary["best_arch"]


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_tiny_demo_through_the_broker(tmp_path, amqp_url):
    out = tmp_path / "demo"
    stdout = _demo(out, "--broker", amqp_url)
    assert "evaluation servers stopped" in stdout
    summary = _check_outputs(out)
    assert summary["transport"] == "rabbitmq"
    servers = {r["server_id"] for run in _runs(out, "evolution").values() for r in run["results"]}
    assert len(servers) == 2
