"""Throughput and per-candidate overhead of the search transports, with the synthetic evaluator.

    python tools/benchmark_search.py                          # broker at $DETNAS_AMQP_URL or localhost
    python tools/benchmark_search.py --delay 1 --servers 1 2 4 --backends rabbitmq local --json out.json

For each backend and server count N it starts N evaluators (``test_server.py`` processes on the
broker, worker processes for the local backend) that take ``--delay`` seconds per evaluation,
submits ``--tasks-per-server`` x N candidates at once through the master's transport and times how
long all results take: throughput = candidates / seconds, scaling = throughput / throughput with one
server (ideal: N). Then, with one evaluator, it sends ``--overhead-samples`` candidates one after
another: overhead = round trip (submit to result at the master) minus the evaluation time the server
measured; the median is reported.

Targets (at 1 s per evaluation): 2 servers >= 1.8x, 4 servers >= 3.4x one server; median broker
overhead <= 20 ms per candidate.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

TARGETS = {2: 1.8, 4: 3.4}
OVERHEAD_TARGET_MS = 20.0


def unique_archs(n, rng, length=20):
    out = set()
    while len(out) < n:
        out.add("".join(str(rng.randrange(4)) for _ in range(length)))
    return sorted(out)


def wait_results(transport, archs, timeout):
    """Poll until every arch in `archs` has a result; return {arch: (arrival time, result message)}."""
    want = set(archs)
    got = {}
    deadline = time.monotonic() + timeout
    while want - set(got):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(want - set(got))} results missing after {timeout} s")
        received = transport.poll(0.05)
        now = time.perf_counter()
        for r in received:
            m = r.message
            if m["type"] == "result" and m["arch"] in want and m["arch"] not in got:
                if m["status"] != "ok":
                    raise RuntimeError(f"evaluation failed: {m['error']}")
                got[m["arch"]] = (now, m)
        transport.ack(received)
    return got


class Evaluators:
    """N synthetic evaluators of one backend, and the master-side transport to reach them."""

    def __init__(self, backend, n, delay, url, out_dir):
        self.backend, self.n, self.procs = backend, n, []
        self.experiment = f"bench-{backend}-{n}-{uuid.uuid4().hex[:8]}"
        server_args = ["--evaluator", "synthetic", "--delay", str(delay), "--log-level", "WARNING"]
        out = os.path.join(out_dir, self.experiment)
        if backend == "local":
            from distributed_arch_search.transport.local import LocalTransport

            self.transport = LocalTransport(self.experiment, out, server_args, num_workers=n)
            return
        from distributed_arch_search.transport.rabbitmq_master import RabbitMQTransport

        self.url = url
        self.transport = RabbitMQTransport(self.experiment, url)
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for _ in range(n):
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed_arch_search.test_server",
                        "--experiment",
                        self.experiment,
                        "--output-dir",
                        out,
                        "--amqp-url",
                        url,
                        *server_args,
                    ],
                    cwd=REPO,
                    env=env,
                )
            )

    def warm_up(self, rng, delay):
        # Every evaluator must be up before timing starts: N candidates, answered in about one delay
        # once all of them run in parallel; repeat until that is so.
        for _ in range(30):
            start = time.perf_counter()
            archs = unique_archs(self.n, rng)
            for a in archs:
                self.transport.submit(a, attempt=1)
            wait_results(self.transport, archs, timeout=120)
            if time.perf_counter() - start < 1.5 * delay + 0.5:
                return
        raise RuntimeError("evaluators did not all come up")

    def close(self):
        self.transport.close()
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=20)
        if self.backend == "rabbitmq":
            from distributed_arch_search.transport.amqp import delete_topology

            delete_topology(self.url, self.experiment)


def throughput(backend, n, args, rng):
    ev = Evaluators(backend, n, args.delay, args.url, args.output_dir)
    try:
        ev.warm_up(rng, args.delay)
        archs = unique_archs(args.tasks_per_server * n, rng)
        start = time.perf_counter()
        for a in archs:
            ev.transport.submit(a, attempt=1)
        got = wait_results(ev.transport, archs, timeout=60 + 4 * len(archs) * args.delay)
        seconds = max(t for t, _ in got.values()) - start
        return {
            "backend": backend,
            "servers": n,
            "candidates": len(archs),
            "seconds": seconds,
            "evals_per_s": len(archs) / seconds,
            "ideal_evals_per_s": n / args.delay,
        }
    finally:
        ev.close()


def overhead(backend, args, rng):
    ev = Evaluators(backend, 1, args.delay, args.url, args.output_dir)
    try:
        ev.warm_up(rng, args.delay)
        samples = []
        for a in unique_archs(args.overhead_samples, rng):
            start = time.perf_counter()
            ev.transport.submit(a, attempt=1)
            arrival, result = wait_results(ev.transport, [a], timeout=60 + 4 * args.delay)[a]
            samples.append((arrival - start - result["seconds"]) * 1000.0)
        samples.sort()
        return {
            "backend": backend,
            "samples": len(samples),
            "median_ms": statistics.median(samples),
            "p90_ms": samples[int(0.9 * (len(samples) - 1))],
            "max_ms": samples[-1],
        }
    finally:
        ev.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--amqp-url", dest="url", default="", help="broker URL (else $DETNAS_AMQP_URL, else localhost)")
    p.add_argument("--backends", nargs="+", default=["rabbitmq", "local"], choices=["rabbitmq", "local"])
    p.add_argument("--servers", nargs="+", type=int, default=[1, 2, 4])
    p.add_argument("--delay", type=float, default=1.0, help="seconds per evaluation (default 1)")
    p.add_argument("--tasks-per-server", type=int, default=8)
    p.add_argument("--overhead-samples", type=int, default=20)
    p.add_argument("--output-dir", default=os.path.join("output", "benchmark_search"))
    p.add_argument("--json", default="", help="also write the figures to this file")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import logging

    from distributed_arch_search.outputs import setup_logging
    from distributed_arch_search.transport.amqp import redact, resolve_url

    setup_logging("WARNING")
    logging.getLogger("distributed_arch_search").setLevel(logging.WARNING)
    if "rabbitmq" in args.backends:
        args.url = resolve_url(args.url)
        print(f"broker: {redact(args.url)}")
    rng = random.Random(args.seed)
    report = {"delay_s": args.delay, "tasks_per_server": args.tasks_per_server, "throughput": [], "overhead": []}
    ok = True
    for backend in args.backends:
        rows = [throughput(backend, n, args, rng) for n in args.servers]
        base = next((r["evals_per_s"] for r in rows if r["servers"] == 1), None)
        print(f"\n{backend}: {args.delay:g} s per evaluation, {args.tasks_per_server} candidates per server")
        print(f"{'servers':>8} {'candidates':>10} {'seconds':>8} {'evals/s':>8} {'ideal':>6} {'vs 1':>6} {'target':>7}")
        for r in rows:
            r["scaling_vs_1"] = r["evals_per_s"] / base if base else None
            target = TARGETS.get(r["servers"])
            verdict = ""
            if target and r["scaling_vs_1"] is not None:
                passed = r["scaling_vs_1"] >= target
                ok &= passed or backend != "rabbitmq"
                verdict = f">={target:g} {'ok' if passed else 'MISS'}"
            scale = f"{r['scaling_vs_1']:.2f}x" if r["scaling_vs_1"] is not None else "-"
            print(
                f"{r['servers']:>8} {r['candidates']:>10} {r['seconds']:>8.2f} {r['evals_per_s']:>8.3f} "
                f"{r['ideal_evals_per_s']:>6.2f} {scale:>6} {verdict:>7}"
            )
        report["throughput"] += rows
        o = overhead(backend, args, rng)
        report["overhead"].append(o)
        passed = o["median_ms"] <= OVERHEAD_TARGET_MS
        ok &= passed or backend != "rabbitmq"
        print(
            f"overhead per candidate (round trip - evaluation, {o['samples']} sequential): median "
            f"{o['median_ms']:.1f} ms, p90 {o['p90_ms']:.1f} ms, max {o['max_ms']:.1f} ms "
            f"(target <= {OVERHEAD_TARGET_MS:g} ms: {'ok' if passed else 'MISS'})"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
