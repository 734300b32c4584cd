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

import logging
import os
import signal
import sys

from .outputs import default_output_dir, setup_logging
from .runner import make_runner, server_identity, server_scratch_dir
from .server_args import parse_server_args
from .transport.amqp import Backoff, BrokerConfigError, BrokerUnavailable, QueueNames, resolve_url

logger = logging.getLogger("distributed_arch_search.server")


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
    server = RabbitMQServer(
        args.experiment,
        resolve_url(args.amqp_url),
        runner,
        heartbeat_s=args.heartbeat,
        progress_s=args.progress_s,
        poll_s=args.poll_s,
        backoff=Backoff(cap=args.reconnect_max_s, give_up_after=args.give_up_s),
    )
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
