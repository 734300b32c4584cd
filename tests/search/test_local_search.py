"""The local backend (no broker): a whole search, a worker killed mid-evaluation, the task timeout."""

import collections
import os
import signal

from distributed_arch_search.runner import read_evaluation_logs

from search_testlib import MasterThread, make_cfg, wait_for


def synthetic(*args):
    return ["--evaluator", "synthetic", *args]


def test_local_search(tmp_path, monkeypatch):
    from distributed_arch_search import report

    titles = []
    plot = report.plot_progress
    monkeypatch.setattr(report, "plot_progress", lambda *a, **kw: (titles.append(kw["title"]), plot(*a, **kw)))
    out = tmp_path / "out"
    cfg = make_cfg(
        "local-test",
        out,
        TRANSPORT__BACKEND="local",
        LOCAL__NUM_WORKERS=2,
        LOCAL__SERVER_ARGS=synthetic("--delay", "0.02"),
    )
    m = MasterThread(cfg)
    m.start()
    summary = m.result(120)
    archs = [r["arch"] for r in summary["results"]]
    assert len(archs) == 16 == len(set(archs)) and summary["num_evaluated"] == 16
    finishes = collections.Counter(e["arch"] for e in read_evaluation_logs(out) if e["event"] == "finish")
    assert set(finishes) == set(archs) and set(finishes.values()) == {1}
    assert len(os.listdir(out / "servers")) == 2, "one scratch folder per worker"
    assert summary["best"]["ap"] == max(r["ap"] for r in summary["results"])
    # Made-up scores say so wherever a reader meets them.
    assert summary["synthetic"] is True and summary["evaluators"] == ["synthetic"]
    assert all(r["evaluator"] == "synthetic" for r in summary["results"])
    assert titles and all("SYNTHETIC" in t for t in titles)
    assert "SYNTHETIC evaluator" in (out / "best_arch.yaml").read_text()
    # The search's curve: one record per final candidate, in that order, AP and the best so far.
    from maskrcnn_benchmark.utils.metrics_writer import read_metrics

    curve = read_metrics(out)
    assert [c["candidate"] for c in curve] == list(range(1, 17))
    assert [c["arch"] for c in curve] == archs
    assert [c["ap"] for c in curve] == [r["ap"] for r in summary["results"]]
    assert [c["best_ap"] for c in curve] == [max(c2["ap"] for c2 in curve[: i + 1]) for i in range(16)]
    assert os.listdir(out / "tensorboard"), "TensorBoard events beside the jsonl"


def test_search_curve_resumes_where_the_checkpoint_left_off(tmp_path):
    from distributed_arch_search.report import SearchCurves
    from maskrcnn_benchmark.utils.metrics_writer import read_metrics

    def rec(arch, status, ap):
        return {"arch": arch, "generation": 0, "flops": 1.0, "status": status, "ap": ap}

    done = [rec("1", "ok", 0.2), rec("2", "failed", None), rec("3", "ok", 0.1)]
    curves = SearchCurves(str(tmp_path), [])
    for r in done:
        curves.add(r)
    curves.close()
    # The master died after writing candidate 3 but before its checkpoint, which holds 2 results.
    curves = SearchCurves(str(tmp_path), done[:2])
    curves.add(rec("4", "ok", 0.3))
    curves.close()
    curve = read_metrics(str(tmp_path))
    assert [(c["candidate"], c["arch"], c.get("ap"), c["best_ap"]) for c in curve] == [
        (1, "1", 0.2, 0.2),
        (2, "2", None, 0.2),
        (3, "4", 0.3, 0.3),
    ]


def test_local_backend_refuses_to_guess_the_evaluator(tmp_path):
    import subprocess
    import sys

    import pytest

    from distributed_arch_search.arch_search_config import SearchConfigError
    from distributed_arch_search.master import SearchMaster
    from search_testlib import REPO

    cfg = make_cfg("local-none", tmp_path / "a", TRANSPORT__BACKEND="local")  # LOCAL.SERVER_ARGS left default
    with pytest.raises(SearchConfigError, match="names no evaluator.*LOCAL.SERVER_ARGS \"\\['--evaluator'"):
        SearchMaster.from_config(cfg).run()
    env = {k: v for k, v in os.environ.items() if k != "DETNAS_AMQP_URL"}
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "distributed_arch_search.search",
            "--experiment",
            "x",
            "--output-dir",
            str(tmp_path / "b"),
            "SPACE.FLOPS_MODEL",
            "linear",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2 and "names no evaluator" in cli.stderr and "synthetic" in cli.stderr
    assert not (tmp_path / "b" / "search_results.json").exists()


def test_local_worker_killed_mid_evaluation(tmp_path):
    out = tmp_path / "out"
    cfg = make_cfg(
        "local-kill",
        out,
        TRANSPORT__BACKEND="local",
        LOCAL__NUM_WORKERS=1,
        EVOLUTION__NUM_GENERATIONS=1,
        EVOLUTION__POPULATION_SIZE=3,
        EVOLUTION__NUM_MUTANTS=0,
        EVOLUTION__NUM_CROSSOVERS=0,
        LOCAL__SERVER_ARGS=synthetic("--delay", "0.5"),
    )
    m = MasterThread(cfg)
    m.start()
    first = wait_for(lambda: read_evaluation_logs(out), 60, "the worker to start evaluating")[0]
    os.kill(int(first["server_id"].split("-")[-2]), signal.SIGKILL)
    summary = m.result(120)
    assert summary["num_evaluated"] == 3 and summary["num_failed"] == 0
    rec = next(r for r in summary["results"] if r["arch"] == first["arch"])
    assert rec["status"] == "ok" and "local worker died" in rec["errors"][0]
    assert len(os.listdir(out / "servers")) == 2, "a new worker replaced the killed one"


def test_task_timeout_reissues_and_counts_an_attempt(tmp_path):
    out = tmp_path / "out"
    cfg = make_cfg(
        "local-timeout",
        out,
        TRANSPORT__BACKEND="local",
        LOCAL__NUM_WORKERS=1,
        EVOLUTION__NUM_GENERATIONS=1,
        EVOLUTION__POPULATION_SIZE=1,
        EVOLUTION__NUM_PARENTS=1,
        EVOLUTION__NUM_MUTANTS=0,
        EVOLUTION__NUM_CROSSOVERS=0,
        MASTER__TASK_TIMEOUT_S=0.4,
        LOCAL__SERVER_ARGS=synthetic("--delay", "1.5"),
    )
    m = MasterThread(cfg)
    m.start()
    summary = m.result(60)
    (rec,) = summary["results"]
    # Timed out once (re-issued: the copy waits behind the running one), then the first result came.
    assert rec["status"] == "ok" and len(rec["errors"]) == 1 and rec["errors"][0].startswith("timeout")


def test_bad_worker_arguments_and_workers_dying_at_start_are_clear_errors(tmp_path):
    import pytest

    from distributed_arch_search.arch_search_config import SearchConfigError
    from distributed_arch_search.master import SearchMaster
    from distributed_arch_search.transport.local import LocalWorkerError

    bad_args = make_cfg(
        "local-bad", tmp_path / "a", TRANSPORT__BACKEND="local", LOCAL__SERVER_ARGS=synthetic("--no-such-option")
    )
    with pytest.raises(SearchConfigError, match="LOCAL.SERVER_ARGS"):
        SearchMaster.from_config(bad_args).run()
    # Valid arguments, but the evaluator cannot be built (negative delay): the worker dies at start.
    dying = make_cfg(
        "local-dying", tmp_path / "b", TRANSPORT__BACKEND="local", LOCAL__SERVER_ARGS=synthetic("--delay", "-1")
    )
    with pytest.raises(LocalWorkerError, match="died 3 times in a row"):
        SearchMaster.from_config(dying).run()
