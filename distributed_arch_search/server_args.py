"""The evaluation server's arguments, shared by the server CLI (test_server.py) and the local backend's
worker processes (LOCAL.SERVER_ARGS): base options, then those of the chosen evaluator."""

import argparse
import sys

from .evaluators import EVALUATORS


def _base_parser(add_help):
    p = argparse.ArgumentParser(
        prog="python -m distributed_arch_search.test_server",
        add_help=add_help,
        description="DetNAS architecture evaluation server.",
    )
    p.add_argument("--evaluator", required=True, help=f"evaluator name; known: {', '.join(sorted(EVALUATORS))}")
    p.add_argument("--experiment", default="", help="experiment name (names the queues detnas.<exp>.*)")
    p.add_argument(
        "--output-dir", default="", help="folder for server logs and scratch files (default output/search/<experiment>)"
    )
    p.add_argument("--gpu", type=int, default=-1, help="GPU index to evaluate on; -1 for CPU (default)")
    p.add_argument("--amqp-url", default="", help="broker URL amqp[s]://user:password@host:port/vhost")
    p.add_argument("--heartbeat", type=int, default=60, help="AMQP heartbeat seconds (default 60)")
    p.add_argument(
        "--progress-s",
        type=float,
        default=10.0,
        help="seconds between the progress messages sent while evaluating; the master counts a "
        "server silent for MASTER.SERVER_LOST_S as lost (default 10)",
    )
    p.add_argument(
        "--poll-s",
        type=float,
        default=0.2,
        help="seconds an idle server waits between asking the tasks queue for a task (default 0.2)",
    )
    p.add_argument("--reconnect-max-s", type=float, default=30.0, help="cap of the reconnect back-off")
    p.add_argument(
        "--give-up-s",
        type=float,
        default=0.0,
        help="exit when the broker stays unreachable this long (default 0: keep trying)",
    )
    p.add_argument(
        "--score-cache",
        default="",
        help="folder of the score cache shared by servers (scores.jsonl): an architecture "
        "already scored by an evaluator of the same fingerprint is not evaluated again",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def parse_server_args(argv=None):
    """Parse in two steps: the evaluator name picks which evaluator options exist."""
    argv = list(sys.argv[1:] if argv is None else argv)
    known, _ = _base_parser(add_help=False).parse_known_args(argv)
    parser = _base_parser(add_help=True)
    if known.evaluator not in EVALUATORS:
        parser.error(f"unknown --evaluator {known.evaluator!r}; known: {', '.join(sorted(EVALUATORS))}")
    EVALUATORS[known.evaluator].add_arguments(parser.add_argument_group(f"evaluator {known.evaluator!r}"))
    return parser.parse_args(argv)
