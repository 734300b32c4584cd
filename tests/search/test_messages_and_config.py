"""Message validation, broker URL handling, search settings, evaluator interface, atomic writes."""

import argparse
import json
import os

import pytest

from distributed_arch_search import messages
from distributed_arch_search.arch_search_config import SearchConfigError, load_search_config, parse_flops
from distributed_arch_search.evaluators import EVALUATORS, EvaluationError, check_metrics
from distributed_arch_search.report import write_json_atomic
from distributed_arch_search.master_settings import search_space
from distributed_arch_search.server_args import parse_server_args
from distributed_arch_search.transport.amqp import (
    DEFAULT_URL,
    URL_ENV,
    BrokerConfigError,
    QueueNames,
    connection_parameters,
    redact,
    resolve_url,
)


def task():
    return messages.new_task("exp", "0123", 1)


def test_messages_round_trip():
    t = task()
    assert messages.decode(messages.encode(t), ("task",), "exp") == t
    r = messages.result_message(t, "host-1-cpu", {"ap": 0.3}, None, 1.5)
    assert messages.decode(messages.encode(r)) == r
    e = messages.result_message(t, "host-1-cpu", error="boom")
    assert messages.decode(messages.encode(e))["status"] == "error"
    s = messages.started_message(t, "host-1-cpu", True)
    assert messages.decode(messages.encode(s), ("started",))["redelivered"] is True


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda m: dict(m, schema_version=1), "unknown schema_version 1 \\(this code speaks 2\\)"),
        (lambda m: {k: v for k, v in m.items() if k != "schema_version"}, "unknown schema_version None"),
        (lambda m: dict(m, type="result"), "unexpected message type 'result'"),
        (lambda m: {k: v for k, v in m.items() if k != "arch"}, "missing \\['arch'\\]"),
        (lambda m: dict(m, type="bogus"), "unexpected message type"),
        (lambda m: dict(m, arch="01a3"), "digit string"),
        (lambda m: dict(m, arch=""), "digit string"),
        (lambda m: dict(m, attempt="1"), "wrong type"),
        (lambda m: dict(m, attempt=True), "wrong type"),
        (lambda m: dict(m, attempt=0), "attempt = 0 is outside"),
        (lambda m: dict(m, attempt=10**30), "attempt = 1000000000000000000000000000000 is outside"),
        (lambda m: dict(m, issued_at=1e308), "issued_at = 1e\\+308 is outside"),
        (lambda m: dict(m, issued_at=-1.0), "issued_at = -1.0 is outside"),
        (lambda m: dict(m, task_id="a b"), "'task_id' must be"),
        (lambda m: dict(m, task_id="x" * 300), "'task_id' must be"),
        (lambda m: dict(m, experiment=["exp"]), "wrong type"),
        (lambda m: dict(m, arch=[[["0"]]]), "wrong type"),
        (lambda m: dict(m, extra=1), "unexpected \\['extra'\\]"),
        (lambda m: dict(m, experiment="other"), "not 'exp'"),
    ],
)
def test_bad_task_messages(mutate, match):
    body = json.dumps(mutate(task())).encode()
    with pytest.raises(messages.MessageError, match=match):
        messages.decode(body, ("task",), "exp")


@pytest.mark.parametrize(
    "body, match",
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"a": NaN}', "not UTF-8 JSON"),
        (b"x" * (messages.MAX_BODY_BYTES + 1), "exceeds"),
        ("text", "must be bytes"),
    ],
)
def test_bad_bodies(body, match):
    with pytest.raises(messages.MessageError, match=match):
        messages.decode(body)


def nested(depth, inner=b""):
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize(
    "body, match",
    [
        (nested(20_000), "nested too deeply"),  # 20 kB: under the size limit, over the recursion limit
        (b"[" * 60_000, "nested too deeply"),  # not even closed
        (b'{"schema_version": 1, "arch": ' + nested(30_000) + b"}", "nested too deeply"),
        (b'{"ap": ' + b"9" * 5000 + b"}", "not UTF-8 JSON"),  # longer than int() accepts
        (b'{"ap": 1e999}', "JSON object|wrong|schema"),  # parses to inf; the schema check refuses it
    ],
)
def test_bodies_that_used_to_crash_the_parser(body, match):
    with pytest.raises(messages.MessageError, match=match):
        messages.decode(body)


@pytest.mark.parametrize(
    "metrics, match",
    [
        ({"ap": 1e308}, "metrics\\['ap'\\] = 1e\\+308 is outside \\[0, 1\\]"),
        ({"ap": -0.01}, "is outside \\[0, 1\\]"),
        ({"ap": 0.5, "seconds_gpu": 1e300}, "is outside"),
        ({"ap": "0.5"}, "finite number"),
        ({"ap": True}, "finite number"),
        ({"ap": [0.5]}, "finite number"),
        ({"ap": 0.5, **{f"m{i}": 0.0 for i in range(70)}}, "at most 64 metrics"),
    ],
)
def test_result_numbers_out_of_range(metrics, match):
    r = messages.result_message(task(), "host-1-cpu", {"ap": 0.3}, None, 1.0)
    with pytest.raises(messages.MessageError, match=match):
        messages.decode(json.dumps(dict(r, metrics=metrics)).encode())
    for bad in (dict(r, seconds=1e300), dict(r, finished_at=float(2**80)), dict(r, server_id="a/b")):
        with pytest.raises(messages.MessageError):
            messages.decode(json.dumps(bad).encode())


def test_an_evaluator_result_out_of_range_becomes_an_error_result(tmp_path):
    from distributed_arch_search.runner import EvaluationRunner

    class Evaluator:
        def evaluate(self, arch):
            return {"ap": 12.5}  # a percentage where a fraction belongs

    result = EvaluationRunner(Evaluator(), "host-1-cpu", str(tmp_path)).run(task())
    assert result["status"] == "error" and "is outside [0, 1]" in result["error"]
    assert messages.decode(messages.encode(result))["metrics"] == {}


def test_result_validation():
    r = messages.result_message(task(), "s", {"ap": 0.3}, None, 1.0)
    with pytest.raises(messages.MessageError, match="metrics\\['ap'\\]"):
        messages.validate(dict(r, metrics={"ap50": 0.5}))
    with pytest.raises(messages.MessageError, match="finite"):
        messages.validate(dict(r, metrics={"ap": float("inf")}))
    with pytest.raises(messages.MessageError, match="Infinity is not allowed"):
        messages.decode(json.dumps(dict(r, metrics={"ap": float("inf")})).encode())


def test_urls(monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    assert resolve_url("", use_default=False) == ""
    assert resolve_url("") == DEFAULT_URL
    monkeypatch.setenv(URL_ENV, "amqp://u:p@h:5673/v")
    assert resolve_url("") == "amqp://u:p@h:5673/v"
    assert resolve_url("amqps://a:b@c/d") == "amqps://a:b@c/d"
    with pytest.raises(BrokerConfigError, match="amqp:// or amqps://"):
        resolve_url("http://h/")
    assert redact("amqp://user:s3cret@host:5672/vh") == "amqp://user:***@host:5672/vh"
    p = connection_parameters("amqp://user:pw@broker.example:5673/detnas")
    assert (p.host, p.port, p.virtual_host, p.credentials.username, p.heartbeat) == (
        "broker.example",
        5673,
        "detnas",
        "user",
        60,
    )
    tls = connection_parameters("amqps://user:pw@broker.example/%2F?heartbeat=30")
    assert tls.ssl_options is not None and tls.port == 5671 and tls.heartbeat == 30 and tls.virtual_host == "/"


def test_queue_names():
    n = QueueNames.for_experiment("coco300m")
    assert (n.tasks, n.results, n.dead, n.dlx) == (
        "detnas.coco300m.tasks",
        "detnas.coco300m.results",
        "detnas.coco300m.dead",
        "detnas.coco300m.dlx",
    )
    for bad in ("", "a b", "x/y", "-lead", "a" * 101):
        with pytest.raises(BrokerConfigError, match="experiment name"):
            QueueNames.for_experiment(bad)


def test_parse_flops():
    assert parse_flops("300M") == 300e6 and parse_flops("1.3G") == 1.3e9 and parse_flops("2.5e8") == 2.5e8
    assert parse_flops("12k") == 12e3 and parse_flops(5) == 5.0
    with pytest.raises(SearchConfigError, match="EVOLUTION.MAX_FLOPS"):
        parse_flops("300 MFLOPs", "EVOLUTION.MAX_FLOPS")


def test_search_config(tmp_path):
    cfg = load_search_config()
    assert cfg.EVOLUTION.POPULATION_SIZE == 50 and cfg.EVOLUTION.MAX_FLOPS == "300M"
    num_blocks, num_choices, flops = search_space(cfg)
    assert (num_blocks, num_choices) == (20, 4) and 2e8 < flops((0,) * 20) < 3e8
    y = tmp_path / "s.yaml"
    y.write_text("EXPERIMENT: abc\nEVOLUTION:\n  MAX_FLOPS: 330M\nSPACE:\n  SIZE: 1.3G\n")
    cfg = load_search_config(str(y), ["EVOLUTION.SEED", "3"])
    assert (cfg.EXPERIMENT, cfg.EVOLUTION.MAX_FLOPS, cfg.EVOLUTION.SEED) == ("abc", "330M", 3)
    assert search_space(cfg)[:2] == (40, 4)
    with pytest.raises(SearchConfigError, match="NOT_A_KEY"):
        load_search_config("", ["EVOLUTION.NOT_A_KEY", "1"])
    with pytest.raises(SearchConfigError, match="BACKEND"):
        load_search_config("", ["TRANSPORT.BACKEND", "kafka"])
    with pytest.raises(SearchConfigError, match="not found"):
        load_search_config(str(tmp_path / "missing.yaml"))
    with pytest.raises(SearchConfigError, match="disagree"):
        search_space(load_search_config("", ["SPACE.NUM_BLOCKS", "19"]))
    with pytest.raises(SearchConfigError, match="SPACE.SIZE"):
        search_space(load_search_config("", ["SPACE.SIZE", "2G"]))


def test_master_settings_translate_every_master_key():
    from distributed_arch_search.master_settings import evolution_config, master_settings

    opts = [
        "EXPERIMENT",
        "exp1",
        "RESUME",
        "False",
        "MASTER.POLL_INTERVAL_S",
        "0.25",
        "MASTER.TASK_TIMEOUT_S",
        "99.0",
        "MASTER.SERVER_LOST_S",
        "7.0",
        "MASTER.TOP_K",
        "3",
        "MASTER.PLOT_EACH_GENERATION",
        "False",
        "MASTER.PROGRESS_BAR",
        "off",
        "SPACE.FLOPS_INPUT_SIZE",
        "320",
        "EVOLUTION.SEED",
        "5",
    ]
    cfg = load_search_config("", opts)
    s = master_settings(cfg)
    assert (s.experiment, s.output_dir, s.resume) == ("exp1", os.path.join("output", "search", "exp1"), False)
    assert (s.poll_interval_s, s.task_timeout_s, s.server_lost_s, s.top_k) == (0.25, 99.0, 7.0, 3)
    assert (s.plot_each_generation, s.progress_bar) == (False, "off")
    assert s.evolution == evolution_config(cfg) and s.evolution.seed == 5
    assert s.space.summary() == {
        "size": "300M",
        "num_blocks": 20,
        "num_choices": 4,
        "flops_model": "detnas",
        "flops_input_size": 320,
    }
    assert s.space.flops_fn((0,) * 20) == search_space(cfg)[2]((0,) * 20)
    assert "EXPERIMENT: exp1" in s.config_dump
    assert master_settings(load_search_config("", ["OUTPUT_DIR", "/tmp/x"])).output_dir == "/tmp/x"


def test_idle_server_polls_eagerly_only_just_after_a_task(monkeypatch):
    from distributed_arch_search.transport import rabbitmq_server as rs

    server = rs.RabbitMQServer("x", DEFAULT_URL, runner=None, poll_s=0.2)  # connects only in serve()
    assert server._idle_wait() == 0.2  # no task yet
    now = [100.0]
    monkeypatch.setattr(rs.time, "monotonic", lambda: now[0])
    server._idle_since = 100.0
    assert server._idle_wait() == rs.EAGER_POLL_S
    now[0] += rs.EAGER_WINDOW_S + 0.01
    assert server._idle_wait() == 0.2
    fast = rs.RabbitMQServer("x", DEFAULT_URL, runner=None, poll_s=0.001)
    fast._idle_since = now[0]
    assert fast._idle_wait() == 0.001  # never slower than asked


def test_server_arguments_and_evaluator_registry(tmp_path):
    args = parse_server_args(["--evaluator", "synthetic", "--delay", "0.5", "--gpu", "1"])
    assert (args.delay, args.gpu, args.poll_s) == (0.5, 1, 0.2)
    with pytest.raises(SystemExit):
        parse_server_args(["--evaluator", "no-such-evaluator"])
    with pytest.raises(SystemExit):
        parse_server_args(["--evaluator", "synthetic", "--weights", "x"])  # not a synthetic option
    ev = EVALUATORS["synthetic"](
        argparse.Namespace(delay=0, synthetic_seed=0, flops_weight=0.5, fail_pattern="^3"), "cpu", str(tmp_path)
    )
    a = ev.evaluate((1, 2, 0, 1))
    assert a == ev.evaluate((1, 2, 0, 1)) and 0 < a["ap"] < 0.5 and a != ev.evaluate((1, 2, 0, 2))
    with pytest.raises(RuntimeError, match="synthetic failure"):
        ev.evaluate((3, 0, 0, 0))
    with pytest.raises(KeyError, match="known: .*synthetic"):
        EVALUATORS["detector-that-is-not-registered"]
    assert check_metrics({"ap": 1, "ap50": 0.5}) == {"ap": 1.0, "ap50": 0.5}
    for bad in ({"ap50": 0.5}, {"ap": float("nan")}, {"ap": "high"}, [0.3]):
        with pytest.raises(EvaluationError):
            check_metrics(bad)


def test_atomic_json_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomic(str(path), {"a": 1})
    with pytest.raises(ValueError):
        write_json_atomic(str(path), {"a": float("nan")})  # not JSON: nothing replaced
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["state.json"], "no temporary file left behind"


def test_search_config_defaults_are_the_evolutions_own():
    from maskrcnn_benchmark.nas.evolution import EvolutionConfig

    from distributed_arch_search.master_settings import evolution_config

    assert evolution_config(load_search_config("", [])) == EvolutionConfig()
