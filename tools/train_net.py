#!/usr/bin/env python
"""Train a detector: `python tools/train_net.py --config-file F [--skip-test] [KEY VALUE ...]`
(flags and overrides in any order).

Single process on CPU or one GPU, or several under `torchrun --nproc_per_node N`. Resumes by itself
from the last checkpoint in OUTPUT_DIR; evaluates on DATASETS.TEST at the end unless --skip-test.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from maskrcnn_benchmark.config import default_config, load_config  # noqa: E402
from maskrcnn_benchmark.data.num_classes import resolve_num_classes  # noqa: E402
from maskrcnn_benchmark.engine.amp import resolve_amp  # noqa: E402
from maskrcnn_benchmark.engine.launch import (  # noqa: E402
    build_checkpointer,
    build_model_on_device,
    prepare_run,
    run_tests,
)
from maskrcnn_benchmark.engine.supernet import make_arch_sampler  # noqa: E402
from maskrcnn_benchmark.engine.amp import make_grad_scaler  # noqa: E402
from maskrcnn_benchmark.engine.trainer import do_train  # noqa: E402
from maskrcnn_benchmark.data import make_data_loader  # noqa: E402
from maskrcnn_benchmark.solver import make_lr_scheduler, make_optimizer  # noqa: E402
from maskrcnn_benchmark.utils.cli import config_key_predicate, parse_args_with_overrides  # noqa: E402
from maskrcnn_benchmark.utils.comm import is_main_process  # noqa: E402
from maskrcnn_benchmark.utils.metrics_writer import MetricsWriter  # noqa: E402


def train(cfg, device, distributed, logger):
    model, is_supernet = build_model_on_device(cfg, device)
    optimizer = make_optimizer(cfg, model)
    scheduler = make_lr_scheduler(cfg, optimizer)
    amp = resolve_amp(cfg.SOLVER.AMP, device, logger)
    logger.info("SOLVER.AMP %s: autocast %s on %s", cfg.SOLVER.AMP, "on" if amp else "off", device)
    scaler = make_grad_scaler(device, amp)
    checkpointer = build_checkpointer(cfg, model, optimizer, scheduler, scaler, logger)
    extra = checkpointer.load(cfg.MODEL.WEIGHT)
    arguments = {"iteration": int(extra.get("iteration", 0))}
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            # Choices off the sampled path get no gradient on a step.
            find_unused_parameters=is_supernet,
            broadcast_buffers=False,
        )
    data_loader = make_data_loader(cfg, is_train=True, is_distributed=distributed, start_iter=arguments["iteration"])
    sample_arch = make_arch_sampler(cfg, model) if is_supernet else None
    # Curves: OUTPUT_DIR/metrics.jsonl and OUTPUT_DIR/tensorboard/ (tools/plot_metrics.py draws them).
    with MetricsWriter(cfg.OUTPUT_DIR, enabled=is_main_process(), start_step=arguments["iteration"]) as metrics:
        do_train(
            model,
            data_loader,
            optimizer,
            scheduler,
            checkpointer,
            device,
            cfg.SOLVER.CHECKPOINT_PERIOD,
            arguments,
            log_period=cfg.SOLVER.LOG_PERIOD,
            amp=amp,
            scaler=scaler,
            sample_arch=sample_arch,
            clip_grad_norm=cfg.SOLVER.CLIP_GRAD_NORM,
            logger=logger,
            metrics=metrics,
        )
    return model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train a detector (maskrcnn-benchmark style).")
    parser.add_argument("--config-file", default="", metavar="FILE", help="yaml config")
    parser.add_argument("--skip-test", action="store_true", help="do not evaluate after training")
    return parse_args_with_overrides(parser, argv, config_key_predicate(default_config()))


def main(argv=None):
    args = parse_args(argv)
    cfg = resolve_num_classes(load_config(args.config_file, args.opts))
    device, distributed, logger = prepare_run(cfg, args, "train")
    model = train(cfg, device, distributed, logger)
    if not args.skip_test:
        run_tests(cfg, model, device, distributed, logger)


if __name__ == "__main__":
    main()
