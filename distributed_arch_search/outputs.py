"""Where a search or a server writes by default, and the logging set-up both use."""

import logging
import os
import sys


def default_output_dir(experiment):
    return os.path.join("output", "search", experiment or "local")


def setup_logging(level, log_file=None):
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        handlers=handlers,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        force=True,
    )
    # pika narrates every connection at INFO and every failed reconnect at ERROR; our own warning per
    # retry says the same in one line. --log-level DEBUG brings pika's account back.
    debug = str(level).upper() == "DEBUG"
    logging.getLogger("pika").setLevel(logging.INFO if debug else logging.CRITICAL)
