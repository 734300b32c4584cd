"""The distributed search on the real RabbitMQ broker (a vhost of the test session's own), with
synthetic-evaluator servers as processes: plain runs, malformed messages, candidates that always fail,
wrong credentials, deleted queues, stale tasks of an earlier run. Killed servers and masters, broker
restarts and the ack timeout are in test_search_faults.py."""

import collections
import json
import os
import subprocess
import sys
import time
import urllib.parse

import pika
import pytest

from distributed_arch_search import messages
from distributed_arch_search.runner import read_evaluation_logs
from distributed_arch_search.report import CHECKPOINT_NAME, RESULTS_NAME
from distributed_arch_search.transport.amqp import (
    BrokerConfigError,
    BrokerUnavailable,
    QueueNames,
    connection_parameters,
)
from distributed_arch_search.transport.rabbitmq_master import RabbitMQTransport

from search_testlib import REPO, MasterThread, child_env, make_cfg, wait_for
from maskrcnn_benchmark.nas.arch import arch_to_str

pytestmark = pytest.mark.rabbitmq


def finishes(output_dir):
    """arch -> number of finished evaluations over all servers' logs."""
    return collections.Counter(e["arch"] for e in read_evaluation_logs(output_dir) if e["event"] == "finish")


def load_results(output_dir):
    with open(os.path.join(output_dir, RESULTS_NAME)) as f:
        return json.load(f)


def check_complete(summary, num_archs):
    archs = [r["arch"] for r in summary["results"]]
    assert len(archs) == num_archs and len(set(archs)) == num_archs, "every candidate exactly once"
    assert summary["finished"]


def test_two_servers_two_generations(amqp_url, experiment, servers, tmp_path):
    out = tmp_path / "out"
    for _ in range(2):
        servers.start(experiment, out, "--delay", "0.05")
    m = MasterThread(make_cfg(experiment, out, amqp_url))
    m.start()
    summary = m.result(60)
    check_complete(summary, 16)
    assert summary == load_results(out)
    assert summary["num_failed"] == 0 and summary["duplicates_ignored"] == 0
    by_server = collections.Counter(r["server_id"] for r in summary["results"])
    assert len(by_server) == 2, f"both servers should have worked: {by_server}"
    assert set(finishes(out).values()) == {1}
    r = summary["results"][0]
    assert r["status"] == "ok" and 0 < r["ap"] < 0.5 and r["attempts"] == 1 and r["seconds"] >= 0.05
    assert r["flops"] == sum((12e6, 14e6, 16e6, 18e6)[int(c)] for c in r["arch"]) <= 300e6
    best = summary["best"]
    assert best["ap"] == max(x["ap"] for x in summary["results"])
    assert best["override"] == f"MODEL.BACKBONE.ARCH {best['arch']}"
    assert [s["generation"] for s in summary["generations"]] == [0, 1]
    assert (out / "search_progress.png").stat().st_size > 10_000
    assert f'ARCH: "{best["arch"]}"' in (out / "best_arch.yaml").read_text()


def test_three_generations_of_fifty_lose_and_duplicate_nothing(amqp_url, experiment, servers, tmp_path):
    out = tmp_path / "out"
    for _ in range(2):
        servers.start(experiment, out, "--delay", "0.01")
    cfg = make_cfg(
        experiment,
        out,
        amqp_url,
        EVOLUTION__POPULATION_SIZE=50,
        EVOLUTION__NUM_GENERATIONS=3,
        EVOLUTION__NUM_PARENTS=10,
        EVOLUTION__NUM_MUTANTS=20,
        EVOLUTION__NUM_CROSSOVERS=20,
    )
    m = MasterThread(cfg)
    m.start()
    summary = m.result(120)
    check_complete(summary, 150)
    assert summary["num_evaluated"] == 150 and summary["duplicates_ignored"] == 0
    counts = finishes(out)
    assert len(counts) == 150 and set(counts.values()) == {1}, "each architecture evaluated exactly once"
    assert set(counts) == {r["arch"] for r in summary["results"]}


def test_malformed_and_unknown_version_tasks_are_dead_lettered(amqp_url, experiment, servers, tmp_path):
    out = tmp_path / "out"
    names = QueueNames.for_experiment(experiment)
    transport = RabbitMQTransport(experiment, amqp_url)  # declares the queues
    try:
        server = servers.start(experiment, out)
        conn = pika.BlockingConnection(connection_parameters(amqp_url))
        ch = conn.channel()
        ch.confirm_delivery()  # each message surely queued (a quorum queue may drop unconfirmed ones on close)
        good = messages.new_task(experiment, "0123", 1)
        bad_bodies = [
            b"not json at all",
            json.dumps(dict(good, schema_version=99)).encode(),
            json.dumps({k: v for k, v in good.items() if k != "arch"}).encode(),
            json.dumps(dict(good, arch="__import__('os')")).encode(),
            b"[" * 20_000 + b"]" * 20_000,
            json.dumps(dict(good, attempt=10**40)).encode(),
        ]
        for body in bad_bodies:
            ch.basic_publish("", names.tasks, body, pika.BasicProperties(delivery_mode=2))
        transport.submit("0123", attempt=1)
        got = []
        deadline = time.monotonic() + 30
        while not any(r.message["type"] == "result" for r in got) and time.monotonic() < deadline:
            got += transport.poll(0.2)
        transport.ack(got)
        result = next(r.message for r in got if r.message["type"] == "result")
        assert result["arch"] == "0123" and result["status"] == "ok"
        assert server.poll() is None, "the server must keep serving"

        # Malformed results are dead-lettered by the master's transport too.
        bad_results = [
            b'{"schema_version": 1',
            b"[" * 20_000,
            messages.encode(result).replace(b'"ap": ', b'"ap": 1e308, "x": '),
        ]
        for body in bad_results:
            ch.basic_publish("", names.results, body, pika.BasicProperties(delivery_mode=2))
        assert transport.poll(1.0) == []

        dead = []
        deadline = time.monotonic() + 10
        while len(dead) < len(bad_bodies) + len(bad_results) and time.monotonic() < deadline:
            method, props, body = ch.basic_get(names.dead, auto_ack=True)
            if method is None:
                time.sleep(0.1)
                continue
            dead.append(body)
        conn.close()
        assert sorted(dead) == sorted(bad_bodies + bad_results)
        assert "rejecting a task" in (tmp_path / "server0.log").read_text()
    finally:
        transport.close()


def test_always_failing_candidates_are_recorded_as_failed(amqp_url, experiment, servers, tmp_path):
    out = tmp_path / "out"
    for _ in range(2):
        servers.start(experiment, out, "--fail-pattern", "^0")
    m = MasterThread(make_cfg(experiment, out, amqp_url, EVOLUTION__MAX_FAILURES=3))
    m.start()
    summary = m.result(60)
    check_complete(summary, 16)
    failed = [r for r in summary["results"] if r["status"] == "failed"]
    assert failed, "the seed should draw some architectures starting with 0"
    assert {r["arch"][0] for r in failed} == {"0"}
    assert all(r["arch"][0] != "0" for r in summary["results"] if r["status"] == "ok")
    for r in failed:
        assert r["ap"] is None and r["attempts"] == 3 and len(r["errors"]) == 3
        assert "synthetic failure" in r["errors"][0]
    counts = finishes(out)
    assert all(counts[r["arch"]] == 3 for r in failed), "a failed candidate is evaluated exactly N times"
    assert summary["num_failed"] == len(failed)
    assert not any(r["arch"].startswith("0") for r in summary["top_k"])


def test_wrong_credentials_and_vhost_fail_fast_and_clearly(amqp_url, experiment, tmp_path):
    parts = urllib.parse.urlsplit(amqp_url)
    wrong_password = parts._replace(netloc=f"{parts.username}:not-the-password@{parts.hostname}:{parts.port or 5672}")
    start = time.monotonic()
    with pytest.raises(BrokerConfigError, match="refused the login"):
        RabbitMQTransport(experiment, urllib.parse.urlunsplit(wrong_password))
    with pytest.raises(BrokerConfigError, match="virtual host"):
        RabbitMQTransport(experiment, urllib.parse.urlunsplit(parts._replace(path="/no-such-vhost")))
    assert time.monotonic() - start < 15, "no retry loop on errors that retrying cannot fix"
    server = subprocess.run(
        [
            sys.executable,
            "-m",
            "distributed_arch_search.test_server",
            "--experiment",
            experiment,
            "--output-dir",
            str(tmp_path),
            "--amqp-url",
            urllib.parse.urlunsplit(wrong_password),
            "--evaluator",
            "synthetic",
        ],
        cwd=REPO,
        env=child_env(amqp_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode == 2 and "refused the login" in server.stderr
    assert "not-the-password" not in server.stderr, "passwords never reach the logs"


def test_unreachable_broker_gives_up_after_the_configured_time(experiment, tmp_path):
    cfg = make_cfg(experiment, tmp_path, "amqp://guest:guest@127.0.0.1:1/%2F", TRANSPORT__RECONNECT_GIVE_UP_S=1.0)
    from distributed_arch_search.master import SearchMaster

    with pytest.raises(BrokerUnavailable, match="still unreachable"):
        SearchMaster.from_config(cfg).run()


def test_server_survives_its_queues_being_deleted(amqp_url, experiment, servers, tmp_path):
    from distributed_arch_search.transport.amqp import delete_topology

    out = tmp_path / "out"
    server = servers.start(experiment, out)
    wait_for(lambda: (out / "servers").is_dir(), 30, "the server to start")
    names = QueueNames.for_experiment(experiment)
    transport = RabbitMQTransport(experiment, amqp_url)
    try:
        transport.submit("0000", attempt=1)
        assert wait_for(lambda: [r for r in transport.poll(0.2) if r.message["type"] == "result"], 30, "a result")
        transport.close()
        delete_topology(amqp_url, experiment)
        log = tmp_path / "server0.log"
        # The server finds the queue gone on its next get (404; or, a get racing the deletion, another
        # channel error), reconnects and declares the queues again by itself.
        try:
            wait_for(lambda: "retrying in" in log.read_text(), 30, "the server to find its tasks queue deleted")
            wait_for(lambda: queue_exists(amqp_url, names.tasks), 30, "the server to declare the tasks queue again")
        except AssertionError as e:
            raise AssertionError(f"{e}; server log:\n{log.read_text()[-3000:]}") from None
        transport = RabbitMQTransport(experiment, amqp_url)
        transport.submit("1111", attempt=1)
        got = wait_for(
            lambda: [r for r in transport.poll(0.2) if r.message["type"] == "result"],
            30,
            "a result after the queues were deleted and declared again",
        )
        assert got[0].message["arch"] == "1111" and server.poll() is None
    finally:
        transport.close()


def queue_exists(url, queue):
    conn = pika.BlockingConnection(connection_parameters(url))
    try:
        conn.channel().queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if conn.is_open:
            conn.close()


def test_a_fresh_run_ignores_tasks_and_results_of_an_earlier_run(amqp_url, experiment, servers, tmp_path):
    from maskrcnn_benchmark.nas.evolution import EvolutionSearch

    from distributed_arch_search.master_settings import evolution_config, search_space

    out = tmp_path / "out"
    cfg = make_cfg(experiment, out, amqp_url, EVOLUTION__NUM_GENERATIONS=1)
    first = arch_to_str(EvolutionSearch(*search_space(cfg), evolution_config(cfg)).next_generation()[0])
    names = QueueNames.for_experiment(experiment)
    RabbitMQTransport(experiment, amqp_url).close()  # declares the queues
    conn = pika.BlockingConnection(connection_parameters(amqp_url))
    ch = conn.channel()
    ch.confirm_delivery()  # each message surely queued before the connection closes
    stale_task = messages.new_task(experiment, "3" * 20, 1, run_id="oldrun")
    stale_result = messages.result_message(dict(stale_task, arch=first), "old-server", {"ap": 0.99}, None, 1.0)
    ch.basic_publish("", names.tasks, messages.encode(stale_task), pika.BasicProperties(delivery_mode=2))
    ch.basic_publish("", names.results, messages.encode(stale_result), pika.BasicProperties(delivery_mode=2))
    conn.close()

    m = MasterThread(cfg)
    m.start()
    wait_for(lambda: (out / CHECKPOINT_NAME).exists(), 60, "the master to issue its tasks")
    servers.start(experiment, out)
    summary = m.result(60)
    check_complete(summary, 8)
    rec = next(r for r in summary["results"] if r["arch"] == first)
    assert rec["ap"] < 0.5 and rec["server_id"] != "old-server", "the stale result must not count"
    assert "3" * 20 not in finishes(out), "the stale task was purged, not evaluated"


def test_a_task_redelivered_past_its_limit_is_not_evaluated(amqp_url, experiment, servers, tmp_path):
    """Servers that die between taking a task and acknowledging it spend its tries too: the broker
    counts the deliveries (x-delivery-count) and the next server refuses the task with an error."""
    out = tmp_path / "out"
    names = QueueNames.for_experiment(experiment)
    transport = RabbitMQTransport(experiment, amqp_url)
    try:
        transport.max_attempts = 2
        task = transport.submit("0123", attempt=1)
        for _ in range(2):  # two "servers" take it and vanish without an ack
            conn = pika.BlockingConnection(connection_parameters(amqp_url))
            method, _, _ = conn.channel().basic_get(names.tasks)
            assert method is not None
            conn.close()
        servers.start(experiment, out)
        got = wait_for(lambda: [r for r in transport.poll(0.2) if r.message["type"] == "result"], 60, "a result")
        result = got[0].message
        assert result["task_id"] == task["task_id"] and result["status"] == "error"
        assert result["tries"] == 3 and "not evaluated" in result["error"]
        assert not [e for e in read_evaluation_logs(out) if e["arch"] == "0123"], "never evaluated"
    finally:
        transport.close()
