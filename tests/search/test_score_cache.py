"""The score cache: a score measured once is found again by every reader, malformed lines never enter,
and a server with --score-cache returns a cached score without evaluating."""

import argparse
import json
import multiprocessing
import os

import pytest

from distributed_arch_search import messages
from distributed_arch_search.evaluators.synthetic import SyntheticEvaluator
from distributed_arch_search.runner import EvaluationRunner, read_evaluation_logs
from distributed_arch_search.score_cache import CACHE_FILE, ScoreCache, file_digest, fingerprint


def test_fingerprint_depends_on_every_part_and_on_nothing_else():
    assert fingerprint("a", 1, {"x": [1, 2]}) == fingerprint("a", 1, {"x": [1, 2]})
    assert fingerprint("a", 1) != fingerprint("a", 2)
    assert fingerprint("a", 1) != fingerprint("a", "1")
    assert fingerprint({"x": 1, "y": 2}) == fingerprint({"y": 2, "x": 1})  # key order is not content
    assert len(fingerprint()) == 64


def test_file_digest_is_the_content(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"weights" * 1000)
    b.write_bytes(b"weights" * 1000)
    assert file_digest(a) == file_digest(b)
    b.write_bytes(b"weights" * 999 + b"weightz")
    assert file_digest(a) != file_digest(b)


def test_put_then_get_from_another_reader(tmp_path):
    writer, reader = ScoreCache(tmp_path), ScoreCache(tmp_path)
    assert reader.get("fp", "0123") is None
    writer.put("fp", "0123", {"ap": 0.25, "ap50": 0.5}, seconds=3.0, server_id="s1")
    assert writer.get("fp", "0123") == {"ap": 0.25, "ap50": 0.5}
    assert reader.get("fp", "0123") == {"ap": 0.25, "ap50": 0.5}  # read incrementally from disk
    assert reader.get("other-fp", "0123") is None and reader.get("fp", "0124") is None
    writer.put("fp", "0124", {"ap": 0.125}, seconds=1.0)
    assert reader.get("fp", "0124") == {"ap": 0.125} and len(reader) == 2
    got = reader.get("fp", "0123")
    got["ap"] = 9.0  # a copy: the caller cannot change the cache
    assert reader.get("fp", "0123")["ap"] == 0.25


def test_first_score_wins_and_refuses_non_finite(tmp_path):
    cache = ScoreCache(tmp_path)
    cache.put("fp", "11", {"ap": 0.5}, 1.0)
    cache.put("fp", "11", {"ap": 0.75}, 1.0)
    assert ScoreCache(tmp_path).get("fp", "11") == {"ap": 0.5}
    with pytest.raises(ValueError):
        cache.put("fp", "12", {"ap": float("nan")}, 1.0)
    assert ScoreCache(tmp_path).get("fp", "12") is None


def test_malformed_and_unfinished_lines_are_skipped(tmp_path, caplog):
    good = {"fingerprint": "fp", "arch": "22", "metrics": {"ap": 0.3}, "seconds": 1.0}
    lines = [
        json.dumps(good),
        "not json",
        json.dumps(dict(good, arch="33", metrics={"ap": "0.3"})),  # a string is not a score
        json.dumps(dict(good, arch="44", metrics={"ap50": 0.3})),  # no "ap"
        json.dumps(dict(good, arch="4x")),  # not a digit string
        '{"fingerprint": "fp", "arch": "55", "metrics": {"ap": NaN}, "seconds": 1}',
        "[" * 5000,  # deeply nested: must not raise RecursionError
        b"\xff\xfe".decode("latin-1"),
    ]
    path = tmp_path / CACHE_FILE
    path.write_text("\n".join(lines) + "\n" + json.dumps(dict(good, arch="66")))  # last: no newline yet
    cache = ScoreCache(tmp_path)
    assert cache.get("fp", "22") == {"ap": 0.3}
    for arch in ("33", "44", "55", "66"):
        assert cache.get("fp", arch) is None
    assert "skipped 7 unreadable lines" in caplog.text
    with open(path, "a") as f:
        f.write("\n")  # the writer finishes its line
    assert cache.get("fp", "66") == {"ap": 0.3}


def _put_many(folder, start):
    cache = ScoreCache(folder)
    for i in range(start, start + 50):
        cache.put("fp", str(i), {"ap": i / 1000}, 0.0, server_id=f"p{start}")


def test_concurrent_writers_lose_no_line(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_put_many, args=(str(tmp_path), s)) for s in (100, 200, 300)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = ScoreCache(tmp_path)
    assert len(cache) == 150
    assert all(cache.get("fp", str(i)) == {"ap": i / 1000} for s in (100, 200, 300) for i in range(s, s + 50))
    with open(tmp_path / CACHE_FILE) as f:
        assert sum(1 for _ in f) == 150


class _CountingSynthetic(SyntheticEvaluator):
    calls = 0

    def evaluate(self, arch):
        type(self).calls += 1
        return super().evaluate(arch)


def _synthetic(seed=0):
    args = argparse.Namespace(delay=0.0, synthetic_seed=seed, flops_weight=0.5, fail_pattern="")
    return _CountingSynthetic(args, "cpu", "")


def test_runner_returns_cached_scores_without_evaluating(tmp_path):
    cache_dir = tmp_path / "cache"
    task = messages.new_task("exp", "0123012301230123", attempt=1)
    os.makedirs(tmp_path / "s1")
    first = EvaluationRunner(_synthetic(), "s1", str(tmp_path / "s1"), ScoreCache(cache_dir))
    _CountingSynthetic.calls = 0
    r1 = first.run(task)
    assert r1["status"] == "ok" and _CountingSynthetic.calls == 1

    # Another server, same evaluator settings: a file lookup, no evaluation, the same score.
    os.makedirs(tmp_path / "out" / "servers" / "s2")
    second = EvaluationRunner(_synthetic(), "s2", str(tmp_path / "out" / "servers" / "s2"), ScoreCache(cache_dir))
    r2 = second.run(dict(task, task_id="t2"))
    assert _CountingSynthetic.calls == 1
    assert r2["metrics"] == r1["metrics"] and r2["seconds"] == 0.0
    messages.validate(r2)
    events = [line["event"] for line in read_evaluation_logs(str(tmp_path / "out"))]
    assert events == ["cached"]

    # A different evaluator setting has another fingerprint: evaluated again.
    os.makedirs(tmp_path / "s3")
    third = EvaluationRunner(_synthetic(seed=1), "s3", str(tmp_path / "s3"), ScoreCache(cache_dir))
    r3 = third.run(task)
    assert _CountingSynthetic.calls == 2 and r3["metrics"] != r1["metrics"]


def test_failed_evaluations_are_not_cached(tmp_path):
    args = argparse.Namespace(delay=0.0, synthetic_seed=0, flops_weight=0.5, fail_pattern="^9")
    runner = EvaluationRunner(SyntheticEvaluator(args, "cpu", ""), "s", str(tmp_path), ScoreCache(tmp_path / "c"))
    result = runner.run(messages.new_task("exp", "9000", attempt=1))
    assert result["status"] == "error"
    assert len(ScoreCache(tmp_path / "c")) == 0


def test_an_evaluator_without_fingerprint_is_never_cached(tmp_path, caplog):
    class Plain(SyntheticEvaluator):
        def fingerprint(self):
            return None

    args = argparse.Namespace(delay=0.0, synthetic_seed=0, flops_weight=0.5, fail_pattern="")
    runner = EvaluationRunner(Plain(args, "cpu", ""), "s", str(tmp_path), ScoreCache(tmp_path / "c"))
    runner.run(messages.new_task("exp", "0000", attempt=1))
    assert runner.cache is None and len(ScoreCache(tmp_path / "c")) == 0
    assert "states no fingerprint" in caplog.text
