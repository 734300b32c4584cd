"""The set-up shared by tools/train_net.py and tools/test_net.py."""

import os

import torch

import maskrcnn_benchmark
from maskrcnn_benchmark.utils.atomic_file import atomic_write_json
from maskrcnn_benchmark.utils.checkpoint import Checkpointer, unwrap_model
from maskrcnn_benchmark.utils.comm import get_rank, init_distributed, is_main_process
from maskrcnn_benchmark.utils.env import collect_env_info
from maskrcnn_benchmark.utils.logger import setup_logger
from maskrcnn_benchmark.utils.miscellaneous import mkdir, save_config, seed_all
from maskrcnn_benchmark.nas.arch import arch_to_str


def resolve_device(cfg_device):
    if cfg_device == "auto":
        cfg_device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(cfg_device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"MODEL.DEVICE is '{cfg_device}' but no CUDA device is available; set MODEL.DEVICE cpu")
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def prepare_run(cfg, args, kind):
    """Device, process group, output folder, logger and seeds. Returns (device, distributed, logger)."""
    device = resolve_device(cfg.MODEL.DEVICE)
    distributed = init_distributed(device)
    if cfg.OUTPUT_DIR:
        mkdir(cfg.OUTPUT_DIR)
    logger = setup_logger("maskrcnn_benchmark", cfg.OUTPUT_DIR, get_rank(), filename=f"{kind}_log.txt")
    logger.info("arguments: %s", args)
    logger.info("environment:\n%s", collect_env_info())
    logger.info("running with config:\n%s", cfg.dump())
    if cfg.OUTPUT_DIR and is_main_process():
        save_config(cfg, os.path.join(cfg.OUTPUT_DIR, "config.yaml"))
    seed = seed_all(cfg.SEED)
    logger.info("seed %d, device %s, distributed %s", seed, device, distributed)
    return device, distributed, logger


def build_model_on_device(cfg, device):
    """Build the detector on `device`. Returns (model, is_supernet)."""
    from maskrcnn_benchmark.modeling.detector import build_detection_model

    model = build_detection_model(cfg).to(device)
    return model, bool(getattr(model.backbone, "is_supernet", False))


def checkpoint_meta(cfg, model):
    from maskrcnn_benchmark.nas import CHANNEL_SPLIT

    backbone = unwrap_model(model).backbone
    is_supernet = bool(getattr(backbone, "is_supernet", False))
    arch = getattr(getattr(backbone, "body", None), "arch", None)
    return {
        "conv_body": cfg.MODEL.BACKBONE.CONV_BODY,
        "arch": "supernet" if is_supernet else (arch_to_str(arch) if arch else ""),
        "channel_split": CHANNEL_SPLIT,
        "code_version": maskrcnn_benchmark.__version__,
    }


def build_checkpointer(cfg, model, optimizer=None, scheduler=None, scaler=None, logger=None):
    return Checkpointer(
        model,
        optimizer,
        scheduler,
        scaler,
        save_dir=cfg.OUTPUT_DIR,
        save_to_disk=is_main_process(),
        logger=logger,
        meta=checkpoint_meta(cfg, model),
    )


def run_tests(cfg, model, device, distributed, logger):
    """Evaluate on every DATASETS.TEST split; returns {dataset: metrics} on the main process."""
    from maskrcnn_benchmark.data import make_data_loader
    from .amp import resolve_amp
    from .inference import evaluate_loaders
    from .supernet import configured_arch, evaluate_path, make_bn_recalibration_loader

    loaders = dict(zip(cfg.DATASETS.TEST, make_data_loader(cfg, is_train=False, is_distributed=distributed)))
    folders = {name: os.path.join(cfg.OUTPUT_DIR, "inference", name) for name in loaders} if cfg.OUTPUT_DIR else {}
    # RetinaNet sets RPN_ONLY but its outputs are detections, not proposals.
    kwargs = dict(
        iou_types=("bbox",) + (("segm",) if cfg.MODEL.MASK_ON else ()),
        box_only=cfg.MODEL.RPN_ONLY and not cfg.MODEL.RETINANET_ON,
        amp=resolve_amp(cfg.SOLVER.AMP, device, logger),
        coco_eval_backend=cfg.TEST.COCO_EVAL_BACKEND,
        logger=logger,
    )
    if getattr(unwrap_model(model).backbone, "is_supernet", False):
        all_results = evaluate_path(
            model, configured_arch(cfg, model), make_bn_recalibration_loader(cfg), loaders, device, folders, **kwargs
        )
    else:
        all_results = evaluate_loaders(model, loaders, device, folders, **kwargs)
    for name, results in all_results.items():
        if name in folders:
            atomic_write_json(os.path.join(folders[name], "metrics.json"), results, indent=2)
    return all_results
