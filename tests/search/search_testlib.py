"""Helpers of the search tests (the fixtures in conftest.py use them): broker checks, evaluation
servers as processes, small search configs, the master in a thread."""

import collections
import os
import signal
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child_env(amqp_url):
    env = dict(
        os.environ,
        PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
        DETNAS_AMQP_URL=amqp_url,
        PYTHONUNBUFFERED="1",
    )
    return env


class Servers:
    """Evaluation servers started as processes; all are stopped at teardown."""

    def __init__(self, amqp_url, tmp_path):
        self.amqp_url = amqp_url
        self.tmp_path = tmp_path
        self.procs = []

    def start(self, experiment, output_dir, *args, reconnect_max_s=1.0):
        log = open(self.tmp_path / f"server{len(self.procs)}.log", "w")
        cmd = [
            sys.executable,
            "-m",
            "distributed_arch_search.test_server",
            "--experiment",
            experiment,
            "--output-dir",
            str(output_dir),
            "--amqp-url",
            self.amqp_url,
            "--reconnect-max-s",
            str(reconnect_max_s),
            "--progress-s",
            "0.5",
            "--evaluator",
            "synthetic",
            *args,
        ]
        p = subprocess.Popen(cmd, cwd=REPO, env=child_env(self.amqp_url), stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def search_opts(experiment, output_dir, amqp_url=None, **overrides):
    """KEY VALUE overrides of a small, fast search with the toy linear FLOPs model."""
    opts = {
        "EXPERIMENT": experiment,
        "OUTPUT_DIR": str(output_dir),
        "SPACE.FLOPS_MODEL": "linear",
        "EVOLUTION.POPULATION_SIZE": 8,
        "EVOLUTION.NUM_GENERATIONS": 2,
        "EVOLUTION.NUM_PARENTS": 4,
        "EVOLUTION.NUM_MUTANTS": 3,
        "EVOLUTION.NUM_CROSSOVERS": 3,
        "MASTER.PLOT_EACH_GENERATION": False,
        "MASTER.PROGRESS_BAR": "off",
        "MASTER.POLL_INTERVAL_S": 0.2,
        "MASTER.SERVER_LOST_S": 6.0,
        "TRANSPORT.RECONNECT_INITIAL_S": 0.2,
        "TRANSPORT.RECONNECT_MAX_S": 1.0,
    }
    if amqp_url:
        opts.update({"TRANSPORT.BACKEND": "rabbitmq", "TRANSPORT.AMQP_URL": amqp_url})
    opts.update({k.replace("__", "."): v for k, v in overrides.items()})
    flat = []
    for k, v in opts.items():
        flat += [k, repr(v)]  # yacs literal_evals override values
    return flat


def make_cfg(*args, **kw):
    from distributed_arch_search.arch_search_config import load_search_config

    return load_search_config("", search_opts(*args, **kw))


class MasterThread(threading.Thread):
    """The master in a thread of the test process, so the test can act while it runs."""

    def __init__(self, cfg):
        super().__init__(daemon=True)
        from distributed_arch_search.master import SearchMaster

        self.master = SearchMaster.from_config(cfg)
        self.summary = None
        self.error = None

    def run(self):
        try:
            self.summary = self.master.run()
        except BaseException as e:  # reported by result()
            self.error = e

    def result(self, timeout):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"the search did not finish within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.summary


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def evaluation_counts(output_dir):
    """(starts, finishes): arch -> number of evaluations begun / finished, over all servers' logs."""
    from distributed_arch_search.runner import read_evaluation_logs

    events = read_evaluation_logs(output_dir)
    starts = collections.Counter(e["arch"] for e in events if e["event"] == "start")
    finishes = collections.Counter(e["arch"] for e in events if e["event"] == "finish")
    return starts, finishes


def assert_exactly_once(summary, output_dir, num_archs, failed=()):
    """The issue-12 invariants: the search finished; every candidate is recorded once (0 lost); none
    finished an evaluation twice; none failed except those in `failed` (0 wrongly failed)."""
    archs = [r["arch"] for r in summary["results"]]
    assert summary["finished"], "the search must finish"
    assert len(archs) == num_archs and len(set(archs)) == num_archs, "every candidate recorded exactly once"
    wrongly_failed = [r["arch"] for r in summary["results"] if r["status"] == "failed" and r["arch"] not in failed]
    assert not wrongly_failed, f"wrongly failed: {wrongly_failed}"
    assert {r["arch"] for r in summary["results"] if r["status"] == "failed"} == set(failed)
    _, finishes = evaluation_counts(output_dir)
    twice = {a: n for a, n in finishes.items() if n > 1}
    assert not twice, f"evaluated more than once: {twice}"
    ok = {r["arch"] for r in summary["results"] if r["status"] == "ok"}
    assert {a for a in finishes if a in ok} == ok, "every ok candidate has its one evaluation logged"
