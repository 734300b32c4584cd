"""tools/arch_spread.py: which architectures it trains, and end to end at a tiny scale on the local
backend and through the real broker, its figures recomputed from the raw per-candidate file."""

import json
import os
import shlex
import sys

import pytest
from scipy import stats

from distributed_arch_search.runner import read_evaluation_logs
from distributed_arch_search.score_cache import ScoreCache
from distributed_arch_search.studies import StudyError
from maskrcnn_benchmark.data.datasets.synthetic_shapes import make_shapes_dataset
from maskrcnn_benchmark.nas.arch import RELEASED_ARCHS, arch_to_str
from maskrcnn_benchmark.nas.flops import count_flops

from study_testlib import REPO, RETRAIN_CONFIG, SMALL, TRAIN, read_results, run_tool

sys.path.insert(0, os.path.join(REPO, "tools"))
import arch_spread  # noqa: E402

ARCHS = ["0" * 20, "3" * 20]


def test_resolve_archs():
    assert arch_spread.resolve_archs(["uniform"], "300M") == [str(c) * 20 for c in range(4)]
    released = arch_to_str(RELEASED_ARCHS["FPN-300M"][1])
    assert arch_spread.resolve_archs(["FPN-300M", "0" * 20, released], "300M") == [released, "0" * 20]
    with pytest.raises(StudyError, match="'0123'.*20 entries"):
        arch_spread.resolve_archs(["0123", "uniform"], "300M")
    with pytest.raises(StudyError, match="at least 2 distinct"):
        arch_spread.resolve_archs(["1" * 20, "1" * 20], "300M")
    assert arch_spread.describe("2" * 20) == "all shufflenet_7x7" and arch_spread.describe("01" * 10) == "01" * 10


def test_needs_two_seeds(capsys):
    with pytest.raises(SystemExit):
        arch_spread.parse_args(["--output-dir", "x", "--seeds", "1"])
    assert "--seeds >= 2" in capsys.readouterr().err


def _summary(metrics_by_arch):
    """A search_results.json summary of ok results, as a study step returns it."""
    return {"results": [{"arch": a, "status": "ok", "flops": 0, **m} for a, m in metrics_by_arch.items()]}


def test_analysis_with_supernet_scores():
    archs = arch_spread.resolve_archs(["uniform"], "300M")
    per_seed = [[0.50, 0.52], [0.38, 0.37], [0.24, 0.28], [0.17, 0.11]]
    standalone = _summary({a: {"metrics": {"ap_seed0": x, "ap_seed1": y}} for a, (x, y) in zip(archs, per_seed)})
    supernet = _summary({a: {"ap": v} for a, v in zip(archs, [0.05, 0.09, 0.08, 0.12])})
    r = arch_spread.analyse(archs, standalone, [0, 1], supernet, n_resamples=100)
    assert [a["supernet_ap"] for a in r["archs"]] == [0.05, 0.09, 0.08, 0.12]
    assert r["kendall_tau"]["value"] == pytest.approx(
        stats.kendalltau([0.05, 0.09, 0.08, 0.12], [0.51, 0.375, 0.26, 0.14]).statistic
    )
    assert r["anova"]["p_value"] == pytest.approx(stats.f_oneway(*per_seed).pvalue)
    with pytest.raises(StudyError, match="no supernet score"):
        arch_spread.analyse(archs, standalone, [0, 1], _summary({archs[0]: {"ap": 0.1}}))
    with pytest.raises(StudyError, match="no AP for seeds \\[1\\]"):
        arch_spread.analyse(archs, _summary({a: {"metrics": {"ap_seed0": 0.1}} for a in archs}), [0, 1])


@pytest.fixture(scope="module")
def spread_setup(tmp_path_factory):
    """(datasets, score cache, standalone args, local output) after the local run; the broker test
    reuses its cache."""
    root = tmp_path_factory.mktemp("spread")
    datasets = str(root / "datasets")
    make_shapes_dataset(os.path.join(datasets, "shapes"), num_train=16, num_minival=2, image_size=64, seed=3)
    standalone = ["--evaluator", "standalone", "--config-file", RETRAIN_CONFIG, "--opts", *SMALL, *TRAIN]
    # Scored on the training images, so that a few iterations already give APs above 0 that differ.
    standalone += ["SOLVER.MAX_ITER", "60", "SOLVER.STEPS", "(50,)", "DATASETS.TEST", "('shapes_train',)"]
    cache, out = str(root / "scores"), root / "local"
    stdout = run_tool(_args(out, cache, standalone), datasets)
    assert "one-way ANOVA" in stdout and "all xception_3x3" in stdout
    return datasets, cache, standalone, out


def _args(out, cache, standalone):
    return [
        "tools/arch_spread.py",
        "--output-dir",
        str(out),
        "--archs",
        *ARCHS,
        "--seeds",
        "2",
        "--workers",
        "2",
        "--score-cache",
        cache,
        "--progress-bar",
        "off",
        "--standalone-args",
        shlex.join(standalone),
    ]


def _check_spread(out):
    r = json.loads((out / "arch_spread.json").read_text())
    by_arch = {x["arch"]: x for x in read_results(out / "standalone")["results"]}
    assert [a["arch"] for a in r["archs"]] == ARCHS and set(by_arch) == set(ARCHS)
    groups = []
    for a in r["archs"]:
        metrics = by_arch[a["arch"]]["metrics"]
        assert a["standalone_ap_per_seed"] == {"0": metrics["ap_seed0"], "1": metrics["ap_seed1"]}
        assert a["flops"] == count_flops("300M", a["arch"])
        groups.append([metrics["ap_seed0"], metrics["ap_seed1"]])
    ref = stats.f_oneway(*groups)
    assert r["anova"]["f"] == pytest.approx(ref.statistic) and r["anova"]["p_value"] == pytest.approx(ref.pvalue)
    assert r["anova"]["df"] == [1, 2]
    assert (out / "arch_spread.png").stat().st_size > 10_000
    return r


@pytest.mark.slow
def test_arch_spread_local(spread_setup):
    datasets, cache, _, out = spread_setup
    _check_spread(out)
    trainings = [e for e in read_evaluation_logs(str(out / "standalone")) if e["event"] == "finish"]
    assert len(trainings) == 2 and all(e["status"] == "ok" for e in trainings)
    assert len(ScoreCache(cache)) == 2 * 2 + 2  # (arch, seed) trainings and arch means


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_arch_spread_through_the_broker_reuses_every_training(
    spread_setup, tmp_path, amqp_url, experiment, servers, monkeypatch
):
    from distributed_arch_search.transport.amqp import delete_topology

    datasets, cache, standalone, _ = spread_setup
    out = tmp_path / "spread"
    before = len(ScoreCache(cache))
    monkeypatch.setenv("DETNAS_DATASETS", datasets)  # the servers' environment
    name = f"{experiment}-standalone"
    try:
        servers.start(name, tmp_path / "servers", "--score-cache", cache, *standalone, "--seeds", "0", "1")
        run_tool([*_args(out, cache, standalone), "--amqp-url", amqp_url, "--experiment", experiment], datasets)
    finally:
        servers.stop_all()
        delete_topology(amqp_url, name)
    _check_spread(out)
    assert len(ScoreCache(cache)) == before  # nothing trained twice
    assert {e["event"] for e in read_evaluation_logs(str(tmp_path / "servers"))} == {"cached"}
