"""Evaluation server: consume tasks of one experiment from RabbitMQ, evaluate, publish results.

    python -m distributed_arch_search.test_server --experiment coco300m --evaluator synthetic --delay 1
    python -m distributed_arch_search.test_server --experiment coco300m --gpu 0 \\
        --amqp-url amqps://detnas:SECRET@broker.example:5671/detnas --evaluator <name> <its options>

The broker URL comes from --amqp-url, else $DETNAS_AMQP_URL, else amqp://guest:guest@127.0.0.1:5672/%2F.
Each evaluator adds its own options (shown by ``--evaluator NAME --help``). The server id is
host-pid-gpuN (or -cpu); its logs and scratch files go to <output-dir>/servers/<id>/. SIGTERM or
Ctrl-C stops it; an unfinished task goes back to the queue. Several servers may run on one machine
(see run_server.sh). The same argument list configures the local backend's worker processes.
"""
import argparse
import logging
import os
import signal
import sys

from .evaluators import EVALUATORS
from .runner import make_runner, server_identity, server_scratch_dir
from .transport.amqp import Backoff, BrokerConfigError, BrokerUnavailable, QueueNames, resolve_url

logger = logging.getLogger("distributed_arch_search.server")


def _base_parser(add_help):
    p = argparse.ArgumentParser(prog="python -m distributed_arch_search.test_server", add_help=add_help,
                                description="DetNAS architecture evaluation server.")
    p.add_argument("--evaluator", required=True,
                   help=f"evaluator name; known: {', '.join(sorted(EVALUATORS))}")
    p.add_argument("--experiment", default="", help="experiment name (names the queues detnas.<exp>.*)")
    p.add_argument("--output-dir", default="", help="folder for server logs and scratch files "
                   "(default output/search/<experiment>)")
    p.add_argument("--gpu", type=int, default=-1, help="GPU index to evaluate on; -1 for CPU (default)")
    p.add_argument("--amqp-url", default="", help="broker URL amqp[s]://user:password@host:port/vhost")
    p.add_argument("--heartbeat", type=int, default=60, help="AMQP heartbeat seconds (default 60)")
    p.add_argument("--progress-s", type=float, default=10.0,
                   help="seconds between the progress messages sent while evaluating; the master counts a "
                        "server silent for MASTER.SERVER_LOST_S as lost (default 10)")
    p.add_argument("--poll-s", type=float, default=0.2,
                   help="seconds an idle server waits between asking the tasks queue for a task (default 0.2)")
    p.add_argument("--reconnect-max-s", type=float, default=30.0, help="cap of the reconnect back-off")
    p.add_argument("--give-up-s", type=float, default=0.0,
                   help="exit when the broker stays unreachable this long (default 0: keep trying)")
    p.add_argument("--score-cache", default="",
                   help="folder of the score cache shared by servers (scores.jsonl): an architecture "
                        "already scored by an evaluator of the same fingerprint is not evaluated again")
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


def default_output_dir(experiment):
    return os.path.join("output", "search", experiment or "local")


def setup_logging(level, log_file=None):
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=getattr(logging, str(level).upper(), logging.INFO), handlers=handlers,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s", force=True)
    # pika narrates every connection at INFO and every failed reconnect at ERROR; our own warning per
    # retry says the same in one line. --log-level DEBUG brings pika's account back.
    debug = str(level).upper() == "DEBUG"
    logging.getLogger("pika").setLevel(logging.INFO if debug else logging.CRITICAL)


def main(argv=None):
    args = parse_server_args(argv)
    try:
        QueueNames.for_experiment(args.experiment)
    except BrokerConfigError as e:
        print(f"error: --experiment: {e}", file=sys.stderr)
        return 2
    output_dir = args.output_dir or default_output_dir(args.experiment)
    server_id = server_identity(args.gpu)
    scratch = server_scratch_dir(output_dir, server_id)
    setup_logging(args.log_level, os.path.join(scratch, "server.log"))
    from .transport.rabbitmq_server import RabbitMQServer  # pika only where the broker is used

    runner = make_runner(args, scratch, server_id)
    server = RabbitMQServer(args.experiment, resolve_url(args.amqp_url), runner, heartbeat_s=args.heartbeat,
                            progress_s=args.progress_s, poll_s=args.poll_s,
                            backoff=Backoff(cap=args.reconnect_max_s, give_up_after=args.give_up_s))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stop())
    try:
        server.serve()
    except (BrokerConfigError, BrokerUnavailable) as e:
        logger.error("giving up: %s", e)
        return 2
    logger.info("server %s stopped after %d tasks (%d rejected)", server_id, server.tasks_done, server.rejected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
