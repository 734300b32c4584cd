"""The search master's command line (the master itself: master.py).

    python -m distributed_arch_search.search --config my_search.yaml --experiment coco300m \\
        --amqp-url amqp://detnas:SECRET@broker:5672/detnas          # servers: test_server.py / run_server.sh
    python -m distributed_arch_search.search --experiment try1 --backend local \\
        LOCAL.NUM_WORKERS 2 LOCAL.SERVER_ARGS "['--evaluator', 'detector', '--config-file', CFG, '--weights', W]"

Exit status: 0 with a best architecture, 1 when no candidate was evaluated, 2 for a configuration,
broker or worker error (a message, not a traceback).
"""

import argparse
import logging
import os
import sys

from .arch_search_config import SearchConfigError, load_search_config
from .master import SearchMaster
from .master_settings import experiment_name
from .outputs import default_output_dir, setup_logging
from .transport.amqp import BrokerConfigError, BrokerUnavailable, resolve_url
from .transport.local import LocalWorkerError

logger = logging.getLogger("distributed_arch_search.search")


# ------------------------------------------------------------------------------------- CLI
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m distributed_arch_search.search", description="DetNAS evolutionary architecture search (master)."
    )
    p.add_argument("--config", default="", help="yaml with search settings (see arch_search_config.py)")
    p.add_argument("--experiment", default="", help="experiment name (= EXPERIMENT)")
    p.add_argument("--output-dir", default="", help="= OUTPUT_DIR (default output/search/<experiment>)")
    p.add_argument("--amqp-url", default="", help="broker URL (= TRANSPORT.AMQP_URL; else $DETNAS_AMQP_URL)")
    p.add_argument("--backend", default="", choices=["", "auto", "local", "rabbitmq"], help="= TRANSPORT.BACKEND")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--delete-queues", action="store_true", help="delete the experiment's broker queues and exit")
    p.add_argument("--log-level", default="INFO")
    from maskrcnn_benchmark.utils.cli import config_key_predicate, parse_args_with_overrides

    from .arch_search_config import _C as search_defaults

    # KEY VALUE overrides (e.g. EVOLUTION.MAX_FLOPS 330M) go in args.opts, before or after flags.
    return parse_args_with_overrides(p, argv, config_key_predicate(search_defaults))


def config_from_args(args):
    opts = list(args.opts)
    for flag, key in (
        (args.experiment, "EXPERIMENT"),
        (args.output_dir, "OUTPUT_DIR"),
        (args.amqp_url, "TRANSPORT.AMQP_URL"),
        (args.backend, "TRANSPORT.BACKEND"),
    ):
        if flag:
            opts += [key, flag]
    if args.no_resume:
        opts += ["RESUME", "False"]
    return load_search_config(args.config, opts)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = config_from_args(args)
        experiment = experiment_name(cfg)
        output_dir = cfg.OUTPUT_DIR or default_output_dir(experiment)
        os.makedirs(output_dir, exist_ok=True)
        setup_logging(args.log_level, os.path.join(output_dir, "search.log"))
        if args.delete_queues:
            from .transport.amqp import delete_topology

            delete_topology(resolve_url(cfg.TRANSPORT.AMQP_URL), experiment)
            logger.info("deleted the queues of experiment %s", experiment)
            return 0
        summary = SearchMaster.from_config(cfg).run()
    except (SearchConfigError, BrokerConfigError, BrokerUnavailable, LocalWorkerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if summary["best"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
