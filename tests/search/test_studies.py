"""The two studies end to end at a tiny scale: evolution vs random search (tools/compare_search.py)
and supernet-vs-stand-alone ranking (tools/rank_correlation.py), on the local backend and through
the real broker; their figures recomputed from the raw per-candidate files."""

import argparse
import json
import os
import shlex
import shutil
import statistics

import pytest
from scipy import stats

from distributed_arch_search.evaluators.standalone import StandaloneEvaluator
from distributed_arch_search.runner import read_evaluation_logs
from distributed_arch_search.score_cache import ScoreCache
from maskrcnn_benchmark.data.datasets.synthetic_shapes import make_shapes_dataset

from study_testlib import REPO, RETRAIN_CONFIG, SEARCH_CONFIG, SMALL, TRAIN, read_results, run_tool

# ------------------------------------------------------------------------ evolution vs random
COMPARE = [
    "--seeds",
    "2",
    "--population",
    "6",
    "--generations",
    "4",
    "--parents",
    "3",
    "--mutants",
    "2",
    "--crossovers",
    "2",
    "--top-k",
    "3",
    "--progress-bar",
    "off",
]


def _check_comparison(out, evaluator="synthetic"):
    c = json.loads((out / "comparison.json").read_text())
    assert c["seeds"] == [0, 1] and c["evaluations_per_run"] == 24 and c["evaluator"] == evaluator
    last_quarter = {"evolution": [], "random": []}
    for arm in ("evolution", "random"):
        bests, tops = [], []
        for seed in (0, 1):
            run = read_results(out / f"{arm}_seed{seed}")
            assert run["finished"] and len(run["results"]) == 24
            aps = sorted((r["ap"] for r in run["results"]), reverse=True)
            bests.append(aps[0])
            tops.append(statistics.fmean(aps[:3]))
            last_quarter[arm] += [r["ap"] for r in run["results"] if r["generation"] == 3]
            if arm == "random":  # same seed: the random arm's generation 0 is the evolution's
                evo = read_results(out / f"evolution_seed{seed}")
                assert {r["arch"] for r in run["results"] if r["generation"] == 0} == {
                    r["arch"] for r in evo["results"] if r["generation"] == 0
                }
                assert run["evolution"]["num_mutants"] == run["evolution"]["num_crossovers"] == 0
        assert c[arm]["best_ap"]["values"] == bests and c[arm]["best_ap"]["mean"] == pytest.approx(
            statistics.fmean(bests)
        )
        assert c[arm]["top_k_mean_ap"]["values"] == pytest.approx(tops)
    ref = stats.mannwhitneyu(last_quarter["evolution"], last_quarter["random"], alternative="greater")
    assert c["last_quarter_test"]["p_value"] == pytest.approx(ref.pvalue)
    assert c["last_quarter_test"]["n_a"] == 12 == c["last_quarter_test"]["n_b"]
    assert (out / "comparison.png").stat().st_size > 10_000
    return c


@pytest.mark.slow
def test_compare_search_local_and_resumed_without_evaluating(tmp_path):
    out = tmp_path / "compare"
    args = ["tools/compare_search.py", "--output-dir", str(out), "--server-args", "--evaluator synthetic", *COMPARE]
    stdout = run_tool(args)
    assert "evolution vs random search: 2 seeds x 24 evaluations each" in stdout
    first = _check_comparison(out)
    # Shared cache: 2 seeds x (24 + 24 - 6 shared in generation 0), minus repeats across seeds.
    cache_lines = (out / "scores" / "scores.jsonl").read_text().splitlines()
    assert len(cache_lines) <= 2 * 42
    # Again, with one run's folder gone: the others are reused, the lost one runs again with every
    # score from the cache, and the same figures come out.
    import shutil

    shutil.rmtree(out / "random_seed1")
    run_tool(args)
    assert (out / "scores" / "scores.jsonl").read_text().splitlines() == cache_lines
    assert {e["event"] for e in read_evaluation_logs(str(out / "random_seed1"))} == {"cached"}
    again = _check_comparison(out)
    assert again["evolution"] == first["evolution"] and again["random"] == first["random"]


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_compare_search_through_the_broker(tmp_path, amqp_url, experiment, servers):
    out = tmp_path / "compare"
    for _ in range(2):
        servers.start(experiment, tmp_path / "servers", "--score-cache", str(tmp_path / "scores"))
    run_tool(
        [
            "tools/compare_search.py",
            "--output-dir",
            str(out),
            "--amqp-url",
            amqp_url,
            "--experiment",
            experiment,
            *COMPARE,
        ]
    )
    _check_comparison(out, evaluator="")  # the servers know their evaluator, the master does not
    served = {r["server_id"] for seed in (0, 1) for r in read_results(out / f"evolution_seed{seed}")["results"]}
    assert len(served) == 2


def test_compare_refuses_unequal_budgets():
    from distributed_arch_search.search_comparison import compare
    from distributed_arch_search.studies import StudyError

    def run(n):
        results = [{"arch": f"{i:04d}", "ap": i / 100, "status": "ok", "generation": 0} for i in range(n)]
        return {
            "experiment": "x",
            "results": results,
            "num_failed": 0,
            "evolution": {"num_generations": 1},
            "best": {"arch": results[-1]["arch"]},
        }

    with pytest.raises(StudyError, match="unequal numbers of evaluations"):
        compare({"evolution": {0: run(5), 1: run(5)}, "random": {0: run(5), 1: run(4)}}, top_k=2)


def test_retrained_pairs_each_seeds_bests():
    from distributed_arch_search.search_comparison import format_table, retrained
    from distributed_arch_search.studies import StudyError

    comparison = {
        "seeds": [3, 4, 5],
        "evolution": {"best_arch_per_seed": ["a", "b", "c"], "best_ap": {"values": [0.31, 0.32, 0.33]}},
        "random": {"best_arch_per_seed": ["x", "b", "y"], "best_ap": {"values": [0.30, 0.32, 0.34]}},
    }

    def row(arch, ap0, ap1):
        return {"arch": arch, "standalone_ap": (ap0 + ap1) / 2, "standalone_ap_per_seed": {"0": ap0, "1": ap1}}

    rows = [row("a", 0.5, 0.6), row("x", 0.4, 0.4), row("b", 0.3, 0.2), row("c", 0.2, 0.2), row("y", 0.3, 0.3)]
    r = retrained(comparison, rows)
    assert [p["seed"] for p in r["per_seed"]] == [3, 4, 5] and r["retrain_seeds"] == [0, 1]
    first = r["per_seed"][0]
    assert first["evolution"] == {
        "arch": "a",
        "search_val_ap": 0.31,
        "retrained_ap": 0.55,
        "retrained_ap_per_seed": {"0": 0.5, "1": 0.6},
    }
    assert [p["difference"] for p in r["per_seed"]] == pytest.approx([0.15, 0.0, -0.1])
    assert r["seeds_where_found_is_higher"] == 1 and r["seeds_with_the_same_best"] == 1
    assert r["difference"]["mean"] == pytest.approx(0.05 / 3)
    found, rand = [0.55, 0.25, 0.2], [0.4, 0.25, 0.3]
    assert r["test"]["p_value"] == pytest.approx(stats.wilcoxon(found, rand, alternative="greater").pvalue)
    assert r["test"]["n_nonzero"] == 2
    table = format_table(
        {
            **comparison,
            "top_k": 2,
            "evaluations_per_run": 6,
            "evolution": {**comparison["evolution"], **_figures()},
            "random": {**comparison["random"], **_figures()},
            "last_quarter_test": {"u": 1.0, "n_a": 2, "n_b": 2, "p_value": 0.5},
            "seeds_where_evolution_best_is_higher": 1,
            "retrained": r,
        }
    )
    assert "found higher in 1 of 3 seeds (1 with the same best in both arms)" in table
    with pytest.raises(StudyError, match="no stand-alone result of the random arm's best y"):
        retrained(comparison, rows[:4])


def _figures():
    return {key: {"mean": 0.3, "sd": 0.01} for key in ("best_ap", "top_k_mean_ap", "last_generation_median_ap")}


def _tiny_standalone(max_iter, step):
    """The standalone evaluator's arguments for a tiny training of `max_iter` iterations."""
    return [
        *("--evaluator", "standalone", "--config-file", RETRAIN_CONFIG, "--opts", *SMALL, *TRAIN),
        *("SOLVER.MAX_ITER", str(max_iter), "SOLVER.STEPS", f"({step},)"),
    ]


_RETRAIN = _tiny_standalone(30, 25)


def _retrain_args(out, cache):
    return [
        "tools/compare_search.py",
        "--output-dir",
        str(out),
        "--score-cache",
        cache,
        "--retrain-seeds",
        "2",
        *COMPARE,
    ]


@pytest.fixture(scope="module")
def retrain_setup(tmp_path_factory):
    """A synthetic-evaluator comparison whose per-seed bests are retrained for real (tiny), locally;
    the broker test reuses its score cache."""
    root = tmp_path_factory.mktemp("retrain")
    datasets = str(root / "datasets")
    make_shapes_dataset(os.path.join(datasets, "shapes"), num_train=16, num_minival=4, num_search_val=2, image_size=64)
    out, cache = root / "local", str(root / "scores")
    args = [
        *_retrain_args(out, cache),
        "--workers",
        "2",
        "--server-args",
        "--evaluator synthetic",
        "--retrain-args",
        shlex.join(_RETRAIN),
    ]
    return datasets, cache, out, run_tool(args, datasets)


def _check_retrained(out):
    c = json.loads((out / "comparison.json").read_text())
    retrain = read_results(out / "retrain")
    by_arch = {r["arch"]: r for r in retrain["results"]}
    pairs = [
        [read_results(out / f"{arm}_seed{seed}")["best"]["arch"] for arm in ("evolution", "random")] for seed in (0, 1)
    ]
    assert sorted(by_arch) == sorted({a for pair in pairs for a in pair})  # each architecture trained once
    r = c["retrained"]
    for p, pair in zip(r["per_seed"], pairs):
        for arm, arch in zip(("evolution", "random"), pair):
            metrics = by_arch[arch]["metrics"]
            assert p[arm]["arch"] == arch
            assert p[arm]["retrained_ap_per_seed"] == {"0": metrics["ap_seed0"], "1": metrics["ap_seed1"]}
            assert p[arm]["retrained_ap"] == pytest.approx((metrics["ap_seed0"] + metrics["ap_seed1"]) / 2)
    found = [p["evolution"]["retrained_ap"] for p in r["per_seed"]]
    rand = [p["random"]["retrained_ap"] for p in r["per_seed"]]
    if found != rand:
        assert r["test"]["p_value"] == pytest.approx(stats.wilcoxon(found, rand, alternative="greater").pvalue)
    else:
        assert r["test"]["p_value"] is None
    assert (out / "retrained.png").stat().st_size > 10_000
    return c


@pytest.mark.slow
def test_compare_search_retrains_each_seeds_bests_locally(retrain_setup):
    datasets, cache, out, stdout = retrain_setup
    assert "each seed's best retrained stand-alone (2 seeds each, mean AP)" in stdout
    _check_retrained(out)
    trainings = [e for e in read_evaluation_logs(str(out / "retrain")) if e["event"] == "finish"]
    assert trainings and all(e["status"] == "ok" for e in trainings)


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_compare_search_retrains_through_the_broker_from_the_cache(
    retrain_setup, tmp_path, amqp_url, experiment, servers, monkeypatch
):
    from distributed_arch_search.transport.amqp import delete_topology

    datasets, cache, local, _ = retrain_setup
    before = len(ScoreCache(cache))
    out = tmp_path / "compare"
    monkeypatch.setenv("DETNAS_DATASETS", datasets)  # the servers' environment
    standalone = f"{experiment}-standalone"
    try:
        servers.start(experiment, tmp_path / "servers", "--score-cache", cache)
        servers.start(standalone, tmp_path / "servers", "--score-cache", cache, *_RETRAIN, "--seeds", "0", "1")
        args = [*_retrain_args(out, cache), "--amqp-url", amqp_url, "--experiment", experiment, "--with-retrain"]
        run_tool(args, datasets)
    finally:
        servers.stop_all()
        delete_topology(amqp_url, standalone)
    c = _check_retrained(out)
    assert c["retrained"] == json.loads((local / "comparison.json").read_text())["retrained"]
    assert len(ScoreCache(cache)) == before  # searches and trainings all from the cache


@pytest.mark.slow
def test_compare_search_retrains_one_more_seed_only(retrain_setup, tmp_path):
    """The study run again with --retrain-seeds 3 on its finished folder: the 2-seed retraining is
    moved aside and only seed 2 is trained (seeds 0 and 1 from the score cache, their times too)."""
    datasets, cache, local, _ = retrain_setup
    out = tmp_path / "more"
    shutil.copytree(local, out)
    before = {r["arch"]: r["metrics"] for r in read_results(out / "retrain")["results"]}
    args = _retrain_args(out, cache)
    args[args.index("--retrain-seeds") + 1] = "3"
    run_tool(
        [*args, "--workers", "2", "--server-args", "--evaluator synthetic", "--retrain-args", shlex.join(_RETRAIN)],
        datasets,
    )
    assert read_results(out / "retrain.seeds-0-1")["results"] == read_results(local / "retrain")["results"]
    after = {r["arch"]: r["metrics"] for r in read_results(out / "retrain")["results"]}
    assert sorted(after) == sorted(before)
    for arch, m in after.items():
        for k in ("ap_seed0", "ap_seed1", "seconds_seed0", "seconds_seed1"):
            assert m[k] == before[arch][k]
        assert m["ap"] == pytest.approx(statistics.fmean([m["ap_seed0"], m["ap_seed1"], m["ap_seed2"]]))
    per_seed = json.loads((out / "comparison.json").read_text())["retrained"]["per_seed"]
    assert all(
        sorted(p[arm]["retrained_ap_per_seed"]) == ["0", "1", "2"] for p in per_seed for arm in ("evolution", "random")
    )


# ------------------------------------------------------------------------ stand-alone per-seed cache
class _NoTraining(StandaloneEvaluator):
    trained = []

    def train_and_test(self, key, seed):
        type(self).trained.append((key, seed))
        return 0.1 * seed + int(key[0]) * 0.01


def _standalone(seeds, cache, tmp_path, opts=()):
    args = argparse.Namespace(
        config_file=os.path.join(REPO, RETRAIN_CONFIG),
        seeds=list(seeds),
        pretrain_args="",
        keep_outputs=False,
        opts=list(opts),
    )
    ev = _NoTraining(args, "cpu", str(tmp_path))
    ev.setup()
    ev.score_cache = cache
    return ev


def test_standalone_trains_each_arch_and_seed_once(tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    make_shapes_dataset(str(root / "shapes"), num_train=6, num_minival=2, num_search_val=2, image_size=32, seed=1)
    monkeypatch.setenv("DETNAS_DATASETS", str(root))
    cache = ScoreCache(tmp_path / "scores")
    arch = (1,) * 20
    _NoTraining.trained = []
    m = _standalone([0, 1], cache, tmp_path).evaluate(arch)
    assert m["ap_seed0"] == 0.01 and m["ap_seed1"] == pytest.approx(0.11) and m["ap"] == pytest.approx(0.06)
    assert _NoTraining.trained == [("1" * 20, 0), ("1" * 20, 1)]
    # A killed run resumed with one more seed: only the new seed is trained.
    m = _standalone([0, 1, 2], ScoreCache(tmp_path / "scores"), tmp_path).evaluate(arch)
    assert _NoTraining.trained[2:] == [("1" * 20, 2)] and m["ap"] == pytest.approx(0.11)
    # Another recipe is another fingerprint: trained again.
    _standalone([0], ScoreCache(tmp_path / "scores"), tmp_path, ["SOLVER.MAX_ITER", "7"]).evaluate(arch)
    assert _NoTraining.trained[3:] == [("1" * 20, 0)]


def test_standalone_refuses_flags_it_sets(tmp_path):
    args = argparse.Namespace(
        config_file=RETRAIN_CONFIG, seeds=[0], pretrain_args="--arch 0000", keep_outputs=False, opts=[]
    )
    with pytest.raises(ValueError, match="--arch"):
        StandaloneEvaluator(args, "cpu", str(tmp_path))


# ------------------------------------------------------------------------ ranking
@pytest.fixture(scope="module")
def ranking_setup(tmp_path_factory):
    """(datasets, supernet weights, score cache) for the ranking runs; the cache is shared, so the
    broker run after the local one measures nothing again."""
    root = tmp_path_factory.mktemp("ranking")
    datasets = str(root / "datasets")
    make_shapes_dataset(
        os.path.join(datasets, "shapes"), num_train=48, num_minival=4, num_search_val=8, image_size=64, seed=5
    )
    out = root / "supernet"
    run_tool(
        [
            "tools/train_net.py",
            "--skip-test",
            "--config-file",
            SEARCH_CONFIG,
            *SMALL,
            *TRAIN,
            # 80 iterations left every path of this tiny supernet at AP 0 once its depthwise kernels
            # trained too (README, "What differs"): nothing to rank
            "SOLVER.MAX_ITER",
            "160",
            "SOLVER.STEPS",
            "(140,)",
            "SOLVER.IMS_PER_BATCH",
            "8",
            "SOLVER.BASE_LR",
            "0.04",
            "OUTPUT_DIR",
            str(out),
        ],
        datasets,
    )
    weights, cache = str(out / "model_final.pth"), str(root / "scores")
    local = root / "rank_local"
    args, _, _ = _rank_args(local, datasets, weights, cache)
    stdout = run_tool(args, datasets)  # the local run; the broker test reuses its score cache
    return datasets, weights, cache, local, stdout


def _rank_args(out, datasets, weights, cache):
    supernet = ["--evaluator", "detector", "--config-file", SEARCH_CONFIG, "--weights", weights, "--opts", *SMALL]
    standalone = [*_tiny_standalone(80, 70), "SOLVER.IMS_PER_BATCH", "8", "SOLVER.BASE_LR", "0.04"]
    return (
        [
            "tools/rank_correlation.py",
            "--output-dir",
            str(out),
            "--num-sampled",
            "5",
            "--num-archs",
            "3",
            "--seeds",
            "2",
            "--bootstrap",
            "200",
            "--workers",
            "2",
            "--score-cache",
            cache,
            "--progress-bar",
            "off",
            "--supernet-args",
            shlex.join(supernet),
            "--standalone-args",
            shlex.join(standalone),
        ],
        supernet,
        standalone,
    )


def _check_ranking(out):
    r = json.loads((out / "rank_correlation.json").read_text())
    sampled = read_results(out / "supernet_scores")
    standalone = read_results(out / "standalone")
    assert len(sampled["results"]) == 5 and r["num_sampled"] == 5
    assert {a["arch"] for a in r["archs"]} == {x["arch"] for x in standalone["results"]}
    ranked = sorted(sampled["results"], key=lambda x: (x["ap"], x["arch"]))
    assert [a["arch"] for a in r["archs"]] == [ranked[i]["arch"] for i in (0, 2, 4)]  # lowest, middle, highest
    by_arch = {x["arch"]: x for x in standalone["results"]}
    for a in r["archs"]:
        metrics = by_arch[a["arch"]]["metrics"]
        assert a["standalone_ap_per_seed"] == {"0": metrics["ap_seed0"], "1": metrics["ap_seed1"]}
        assert a["standalone_ap"] == pytest.approx((metrics["ap_seed0"] + metrics["ap_seed1"]) / 2)
        assert 0.0 <= a["standalone_ap"] <= 1.0
    x = [a["supernet_ap"] for a in r["archs"]]
    y = [a["standalone_ap"] for a in r["archs"]]
    if len(set(x)) > 1 and len(set(y)) > 1:
        assert r["kendall_tau"]["value"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert (out / "rank_correlation.png").stat().st_size > 10_000
    return r


@pytest.mark.slow
def test_rank_correlation_local(ranking_setup):
    datasets, weights, cache, out, stdout = ranking_setup
    assert "Kendall tau" in stdout
    _check_ranking(out)
    trainings = [e for e in read_evaluation_logs(str(out / "standalone")) if e["event"] == "finish"]
    assert len(trainings) == 3 and all(e["status"] == "ok" for e in trainings)
    assert len(ScoreCache(cache)) == 5 + 3 * 2 + 3  # supernet scores, (arch, seed) trainings, arch means


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_rank_correlation_through_the_broker_reuses_every_training(
    ranking_setup, tmp_path, amqp_url, experiment, servers, monkeypatch
):
    from distributed_arch_search.transport.amqp import delete_topology

    datasets, weights, cache, _, _ = ranking_setup
    out = tmp_path / "rank"
    args, supernet, standalone = _rank_args(out, datasets, weights, cache)
    before = len(ScoreCache(cache))
    monkeypatch.setenv("DETNAS_DATASETS", datasets)  # the servers' environment
    names = (f"{experiment}-supernet", f"{experiment}-standalone")
    try:
        servers.start(names[0], tmp_path / "servers", "--score-cache", cache, *supernet)
        servers.start(names[1], tmp_path / "servers", "--score-cache", cache, *standalone, "--seeds", "0", "1")
        run_tool([*args, "--amqp-url", amqp_url, "--experiment", experiment], datasets)
    finally:
        servers.stop_all()
        for name in names:
            delete_topology(amqp_url, name)
    _check_ranking(out)
    assert len(ScoreCache(cache)) == before  # every score came from the cache: nothing trained twice
    events = {e["event"] for e in read_evaluation_logs(str(tmp_path / "servers"))}
    assert events == {"cached"}
