#!/usr/bin/env python
"""Evaluate a detector: `python tools/test_net.py --config-file F [KEY VALUE ...]`.

Weights: the last checkpoint in OUTPUT_DIR, else MODEL.WEIGHT. For a supernet (`-search` body) the
path is MODEL.BACKBONE.ARCH (the released one when empty) and BN statistics are recomputed for it on
NAS.BN_RECAL_IMAGES images of DATASETS.TRAIN[0] first. Works single-process and under torchrun.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maskrcnn_benchmark.config import default_config, load_config  # noqa: E402
from maskrcnn_benchmark.data.num_classes import resolve_num_classes  # noqa: E402
from maskrcnn_benchmark.engine.launch import (  # noqa: E402
    build_checkpointer,
    build_model_on_device,
    prepare_run,
    run_tests,
)
from maskrcnn_benchmark.utils.cli import config_key_predicate, parse_args_with_overrides  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Evaluate a detector on DATASETS.TEST.")
    parser.add_argument("--config-file", default="", metavar="FILE", help="yaml config")
    return parse_args_with_overrides(parser, argv, config_key_predicate(default_config()))


def main(argv=None):
    args = parse_args(argv)
    cfg = resolve_num_classes(load_config(args.config_file, args.opts))
    device, distributed, logger = prepare_run(cfg, args, "test")
    model, _ = build_model_on_device(cfg, device)
    build_checkpointer(cfg, model, logger=logger).load(cfg.MODEL.WEIGHT)
    return run_tests(cfg, model, device, distributed, logger)


if __name__ == "__main__":
    main()
