"""The real evaluator: a tiny supernet fine-tuned on shapes, evaluated path by path (BN
recalibration + bbox AP), alone and inside a whole local-backend search."""

import argparse
import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch

from distributed_arch_search.runner import read_evaluation_logs
from maskrcnn_benchmark.data.datasets.synthetic_shapes import make_shapes_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_search_shapes.yaml")
OPTS = [
    "INPUT.MIN_SIZE_TRAIN",
    "(64,)",
    "INPUT.MAX_SIZE_TRAIN",
    "96",
    "INPUT.MIN_SIZE_TEST",
    "64",
    "INPUT.MAX_SIZE_TEST",
    "96",
    "DATALOADER.NUM_WORKERS",
    "0",
    "TEST.IMS_PER_BATCH",
    "4",
    "MODEL.RPN.PRE_NMS_TOP_N_TEST",
    "100",
    "MODEL.RPN.POST_NMS_TOP_N_TEST",
    "50",
    "MODEL.RPN.FPN_POST_NMS_TOP_N_TEST",
    "50",
    "NAS.BN_RECAL_IMAGES",
    "16",
    "NAS.BN_RECAL_BATCH",
    "8",
]
RELEASED = (2, 1, 2, 0, 2, 1, 1, 2, 3, 3, 1, 3, 0, 0, 3, 1, 3, 1, 3, 2)
OTHER = (0,) * 20


def _env(datasets):
    return dict(
        os.environ,
        DETNAS_DATASETS=datasets,
        OMP_NUM_THREADS="1",
        PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )


def _run(args, datasets, timeout=600):
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=_env(datasets), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def supernet(tmp_path_factory):
    """(datasets root, checkpoint) of a 300M supernet detector fine-tuned for 80 steps."""
    root = tmp_path_factory.mktemp("detector_search")
    datasets = str(root / "datasets")
    make_shapes_dataset(
        os.path.join(datasets, "shapes"), num_train=48, num_minival=4, num_search_val=12, image_size=64, seed=5
    )
    return datasets, _train_supernet(datasets, root / "supernet", path_seed=0)


@pytest.fixture(scope="module")
def other_supernet(supernet, tmp_path_factory):
    """A second supernet of the same recipe and data, trained with another path seed."""
    datasets, _ = supernet
    return _train_supernet(datasets, tmp_path_factory.mktemp("other_supernet"), path_seed=1)


def _train_supernet(datasets, out, path_seed):
    _run(
        [
            "tools/train_net.py",
            "--skip-test",
            "--config-file",
            CONFIG,
            *OPTS,
            "SOLVER.MAX_ITER",
            "80",
            "SOLVER.IMS_PER_BATCH",
            "8",
            "SOLVER.BASE_LR",
            "0.04",
            "SOLVER.WARMUP_ITERS",
            "10",
            "SOLVER.STEPS",
            "(70,)",
            "SOLVER.CHECKPOINT_PERIOD",
            "1000",
            "MODEL.RPN.PRE_NMS_TOP_N_TRAIN",
            "100",
            "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN",
            "50",
            "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
            "16",
            "NAS.PATH_SEED",
            str(path_seed),
            "OUTPUT_DIR",
            str(out),
        ],
        datasets,
    )
    return str(out / "model_final.pth")


def _evaluator(datasets, weights, scratch, monkeypatch):
    from distributed_arch_search.evaluators.detector import DetectorEvaluator

    monkeypatch.setenv("DETNAS_DATASETS", datasets)
    args = argparse.Namespace(config_file=CONFIG, weights=weights, cache_mb=64.0, opts=list(OPTS))
    evaluator = DetectorEvaluator(args, "cpu", str(scratch))
    evaluator.setup()
    return evaluator


def _bn_buffers(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k}


@pytest.mark.slow
def test_evaluator_matches_a_direct_evaluation_and_is_repeatable(supernet, tmp_path, monkeypatch):
    from maskrcnn_benchmark.config import load_config
    from maskrcnn_benchmark.data import make_data_loader
    from maskrcnn_benchmark.data.datasets.evaluation import evaluate
    from maskrcnn_benchmark.data.num_classes import resolve_num_classes
    from maskrcnn_benchmark.engine.inference import compute_on_dataset
    from maskrcnn_benchmark.engine.supernet import make_bn_recalibration_loader, recalibrate_path
    from maskrcnn_benchmark.modeling.detector import build_detection_model
    from maskrcnn_benchmark.utils.checkpoint import Checkpointer

    datasets, weights = supernet
    ev = _evaluator(datasets, weights, tmp_path / "scratch", monkeypatch)
    first = ev.evaluate(RELEASED)
    buffers = _bn_buffers(ev.model)
    other = ev.evaluate(OTHER)
    again = ev.evaluate(RELEASED)  # from the cached batches this time
    assert ev.recal_batches.cached is not None and ev.test_batches.cached is not None
    assert first == again and 0.0 <= first["ap"] <= 1.0 and set(first) == {"ap", "ap50", "ap75"}
    assert _bn_buffers(ev.model).keys() == buffers.keys()
    assert all(torch.equal(v, buffers[k]) for k, v in _bn_buffers(ev.model).items())
    assert other != first or any(not torch.equal(v, buffers[k]) for k, v in _bn_buffers(ev.model).items())

    # The same path evaluated by hand, from a fresh model and fresh loaders.
    cfg = resolve_num_classes(load_config(CONFIG, OPTS + ["MODEL.DEVICE", "cpu"]))
    model = build_detection_model(cfg)
    Checkpointer(model, save_dir="").load(weights)
    recalibrate_path(model, RELEASED, make_bn_recalibration_loader(cfg), "cpu", progress=False)
    assert all(torch.equal(v, buffers[k]) for k, v in _bn_buffers(model).items())
    loader = make_data_loader(cfg, is_train=False)[0]
    predictions = compute_on_dataset(model, loader, "cpu", arch=RELEASED, progress=False)
    direct = evaluate(loader.dataset, predictions, str(tmp_path / "direct"))["bbox"]
    assert first == {"ap": direct["AP"], "ap50": direct["AP50"], "ap75": direct["AP75"]}
    with open(tmp_path / "direct" / "bbox.json") as f:
        assert len(json.load(f)) > 0  # the supernet detects something after fine-tuning


@pytest.mark.slow
def test_local_search_with_real_evaluations(supernet, tmp_path, monkeypatch):
    datasets, weights = supernet
    out = tmp_path / "search"
    server_args = [
        "--evaluator",
        "detector",
        "--config-file",
        CONFIG,
        "--weights",
        weights,
        "--score-cache",
        str(tmp_path / "scores"),
        "--opts",
        *OPTS,
    ]

    def search(folder):
        return _run(
            [
                "-m",
                "distributed_arch_search.search",
                "--experiment",
                "real",
                "--backend",
                "local",
                "--output-dir",
                str(folder),
                "EVOLUTION.POPULATION_SIZE",
                "4",
                "EVOLUTION.NUM_GENERATIONS",
                "2",
                "EVOLUTION.NUM_PARENTS",
                "2",
                "EVOLUTION.NUM_MUTANTS",
                "1",
                "EVOLUTION.NUM_CROSSOVERS",
                "1",
                "LOCAL.NUM_WORKERS",
                "2",
                "LOCAL.SERVER_ARGS",
                repr(server_args),
                "MASTER.PROGRESS_BAR",
                "off",
            ],
            datasets,
        )

    proc = search(out)
    summary = json.loads((out / "search_results.json").read_text())
    results = summary["results"]
    archs = [r["arch"] for r in results]
    assert len(archs) == 8 == len(set(archs))
    assert all(r["status"] == "ok" and 0.0 <= r["ap"] <= 1.0 for r in results)
    assert all(r["flops"] <= 300e6 for r in results)
    assert summary["synthetic"] is False
    assert len({r["server_id"] for r in results}) == 2
    assert (out / "search_progress.png").stat().st_size > 0
    best = summary["best"]
    assert f"MODEL.BACKBONE.ARCH {best['arch']}" in proc.stdout
    # The AP the search recorded is the AP of that path, recomputed here.
    ev = _evaluator(datasets, weights, tmp_path / "check", monkeypatch)
    # Bit-identical in this process to what a spawned server measured: evaluation is deterministic.
    assert ev.evaluate(tuple(int(c) for c in best["arch"]))["ap"] == best["ap"]

    # The same search again with the same score cache: every score is a lookup, none an evaluation.
    again = tmp_path / "again"
    search(again)
    assert {line["event"] for line in read_evaluation_logs(str(again))} == {"cached"}
    assert json.loads((again / "search_results.json").read_text())["best"] == best


@pytest.mark.slow
def test_evaluator_noise_tool_measures_the_searchs_own_scores(supernet, other_supernet, tmp_path, monkeypatch):
    from scipy import stats

    datasets, weights = supernet
    other_weights = other_supernet
    out = tmp_path / "noise"
    (tmp_path / "archs.txt").write_text("3" * 20 + "\n")  # named architectures come first, whatever their FLOPs
    supernet_args = shlex.join(
        ["--evaluator", "detector", "--config-file", CONFIG, "--weights", weights, "--opts", *OPTS]
    )
    proc = _run(
        ["tools/evaluator_noise.py", "--output-dir", str(out), "--num-archs", "3", "--bootstrap", "200",
         "--archs", f"@{tmp_path / 'archs.txt'}", "--supernet-args", supernet_args, "--other-supernet", other_weights],
        datasets,
    )  # fmt: skip
    result = json.loads((out / "evaluator_noise.json").read_text())
    assert (out / "evaluator_noise.png").stat().st_size > 0
    assert "supernet evaluator noise on shapes_search_val: 4 architectures" in proc.stdout
    rows = result["archs"]
    assert len({r["arch"] for r in rows}) == 4 and rows[0]["arch"] == "3" * 20
    assert rows[0]["flops"] > 300e6 and all(r["flops"] <= 300e6 for r in rows[1:])
    assert result["bn_seeds"] == [0, 1] and result["image_halves"]["half_sizes"] == [6, 6]

    # With the config's BN subset, the whole-split AP is exactly the search's score of that path.
    ev = _evaluator(datasets, weights, tmp_path / "check", monkeypatch)
    for r in rows:
        assert r["bn_seed0"]["all"] == ev.evaluate(tuple(int(c) for c in r["arch"]))["ap"]
    # Another subset gives other BN statistics, hence (for some path) another AP.
    assert any(r["bn_seed1"]["all"] != r["bn_seed0"]["all"] for r in rows)

    # The figures are those of the raw rows.
    even, odd = ([r["bn_seed0"][h] for r in rows] for h in ("even", "odd"))
    assert result["image_halves"]["kendall_tau"]["value"] == pytest.approx(stats.kendalltau(even, odd).statistic)
    assert result["image_halves"]["reliability"]["pearson_r"] == pytest.approx(stats.pearsonr(even, odd).statistic)
    whole = [[r["bn_seed0"]["all"], r["bn_seed1"]["all"]] for r in rows]
    assert result["bn_subsets"]["spread"]["arch_sd"] == pytest.approx(np.std([np.mean(w) for w in whole], ddof=1))
    a, b = zip(*whole)
    assert result["bn_subsets"]["pearson_r"] == pytest.approx(stats.pearsonr(a, b).statistic)
    # Two conditions: the residuals are +-(d - mean d) / 2, so their sd is that of the differences d over sqrt 2.
    d = np.subtract(a, b)
    assert result["bn_subsets"]["spread"]["reorder_sd"] == pytest.approx(np.std(d, ddof=1) / np.sqrt(2))

    # The other supernet's score is exactly what a search on that supernet would get, and the figures
    # between the two supernets are those of the raw rows.
    assert "supernets (another path seed)  Kendall tau" in proc.stdout
    assert result["other_supernet"] == other_weights
    other = _evaluator(datasets, other_weights, tmp_path / "check_other", monkeypatch)
    for r in rows:
        assert r["other_supernet"] == other.evaluate(tuple(int(c) for c in r["arch"]))["ap"]
    a, b = [r["bn_seed0"]["all"] for r in rows], [r["other_supernet"] for r in rows]
    assert result["supernets"]["kendall_tau"]["value"] == pytest.approx(stats.kendalltau(a, b).statistic)
    assert result["supernets"]["pearson_r"] == pytest.approx(stats.pearsonr(a, b).statistic)
    d = np.subtract(a, b)
    assert result["supernets"]["spread"]["reorder_sd"] == pytest.approx(np.std(d, ddof=1) / np.sqrt(2))


@pytest.mark.slow
def test_several_supernets_score_their_mean_ap(supernet, other_supernet, tmp_path, monkeypatch):
    datasets, weights = supernet
    one = _evaluator(datasets, weights, tmp_path / "one", monkeypatch)
    two = _evaluator(datasets, other_supernet, tmp_path / "two", monkeypatch)
    both = _evaluator(datasets, [weights, other_supernet], tmp_path / "both", monkeypatch)
    for arch in (RELEASED, OTHER, RELEASED):
        a, b, mean = one.evaluate(arch), two.evaluate(arch), both.evaluate(arch)
        assert mean["ap_supernet0"] == a["ap"] and mean["ap_supernet1"] == b["ap"]
        for k in ("ap", "ap50", "ap75"):
            assert mean[k] == (a[k] + b[k]) / 2
    assert any(one.evaluate(arch)["ap"] != two.evaluate(arch)["ap"] for arch in (RELEASED, OTHER))
    # The score cache tells the pair from either supernet alone, and a single path string still works.
    assert both.fingerprint() not in (one.fingerprint(), two.fingerprint())
    assert _evaluator(datasets, [weights], tmp_path / "listed", monkeypatch).fingerprint() == one.fingerprint()

    # A file that covers only part of the supernet would mix two supernets' tensors: refused by name.
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    del checkpoint["model"][sorted(checkpoint["model"])[0]]
    partial = tmp_path / "partial.pth"
    torch.save(checkpoint, partial)
    with pytest.raises(ValueError, match="partial.pth: does not cover"):
        _evaluator(datasets, [weights, str(partial)], tmp_path / "partial", monkeypatch)
    with pytest.raises(ValueError, match="twice"):
        _evaluator(datasets, [weights, weights], tmp_path / "twice", monkeypatch)

    # evaluator_noise measures one supernet at a time and says so.
    args = ["--evaluator", "detector", "--config-file", CONFIG, "--weights", weights, other_supernet]
    proc = subprocess.run(
        [sys.executable, "tools/evaluator_noise.py", "--output-dir", str(tmp_path / "noise"),
         "--supernet-args", shlex.join(args)],
        cwd=REPO, env=_env(datasets), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and "evaluator_noise measures one supernet" in proc.stderr
