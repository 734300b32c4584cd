"""Supernet specifics of training and evaluation: the path of each step, and evaluating one path.

Evaluating a path of a supernet means recomputing its BN statistics first (they mix every path
trained) on a fixed, seeded subset of the training split, then running ordinary inference with that
path. The search servers' detector evaluator and tools/test_net.py both call `evaluate_path`.
"""

import logging

from maskrcnn_benchmark.nas import (
    arch_to_str,
    batch_norm_layers,
    broadcast_arch,
    make_path_sampler,
    parse_arch,
    released_arch_name,
)
from maskrcnn_benchmark.utils.checkpoint import unwrap_model


def supernet_body(model):
    body = getattr(unwrap_model(model).backbone, "body", None)
    if body is None or not getattr(body, "is_supernet", False):
        raise ValueError("the model's backbone is not a DetNAS supernet (use a '-search' CONV_BODY)")
    return body


def make_arch_sampler(cfg, model):
    """iteration -> path, identical on every rank (rank 0's draw is broadcast)."""
    try:
        sampler = make_path_sampler(supernet_body(model).size, cfg.NAS.SAMPLING, cfg.NAS.PATH_SEED, cfg.NAS.FLOPS_BINS)
    except ValueError as e:
        raise ValueError(f"NAS.SAMPLING: {e}") from None
    return lambda iteration: broadcast_arch(sampler(iteration))


def configured_arch(cfg, model):
    """The path MODEL.BACKBONE.ARCH names, or the released architecture of the CONV_BODY name."""
    size = supernet_body(model).size
    value = cfg.MODEL.BACKBONE.ARCH
    if not value:
        name = cfg.MODEL.BACKBONE.CONV_BODY
        value = released_arch_name(name[: -len("-search")] if name.endswith("-search") else name)
        if value is None:
            raise ValueError(
                f"MODEL.BACKBONE.ARCH is empty and {name} has no released architecture;"
                " set MODEL.BACKBONE.ARCH to the path to evaluate"
            )
    return parse_arch(value, size)


def make_bn_recalibration_loader(cfg):
    from maskrcnn_benchmark.data import make_subset_loader

    if not cfg.DATASETS.TRAIN:
        raise ValueError("BN recalibration needs DATASETS.TRAIN (its first split is sampled)")
    return make_subset_loader(
        cfg,
        cfg.DATASETS.TRAIN[0],
        num_images=cfg.NAS.BN_RECAL_IMAGES,
        seed=cfg.NAS.BN_RECAL_SEED,
        images_per_batch=cfg.NAS.BN_RECAL_BATCH,
        is_train_transforms=False,
    )


def recalibrate_path(model, arch, loader, device, progress=True):
    """Recompute every BN's statistics for `arch` on the batches of `loader`; returns images seen."""
    from maskrcnn_benchmark.nas import recalibrate_bn

    arch = tuple(arch)
    net = unwrap_model(model)
    in_backbone = set(batch_norm_layers(net.backbone))
    if all(bn in in_backbone for bn in batch_norm_layers(net)):
        # A BN's input depends only on the layers before it: with every BN in the backbone (and FPN)
        # the proposal and box heads need not run; the statistics are the same.
        def forward(m, batch):
            m.backbone_features(batch[0].to(device), arch)
    else:

        def forward(m, batch):
            m(batch[0].to(device), arch=arch)

    return recalibrate_bn(net, loader, forward, progress=progress)


def evaluate_path(
    model,
    arch,
    recal_batches,
    test_loaders,
    device,
    output_folders=None,
    progress=True,
    logger=None,
    **inference_kwargs,
):
    """The metrics of one supernet path: BN statistics recomputed for `arch` on `recal_batches`, then
    inference and COCO evaluation on each of `test_loaders` ({name: loader}); {name: metrics} on the
    main process. Every rank must get the same `recal_batches`, so their statistics agree."""
    from .inference import evaluate_loaders

    logger = logger or logging.getLogger(__name__)
    seen = recalibrate_path(model, arch, recal_batches, device, progress=progress)
    logger.info("recalibrated BN for path %s on %d images", arch_to_str(arch), seen)
    return evaluate_loaders(
        model, test_loaders, device, output_folders, arch=arch, progress=progress, logger=logger, **inference_kwargs
    )


def prepare_supernet_path(cfg, model, device, distributed, logger=None):
    """For a supernet: pick the configured path and recalibrate BN for it. None otherwise."""
    if not getattr(unwrap_model(model).backbone, "is_supernet", False):
        return None
    logger = logger or logging.getLogger(__name__)
    arch = configured_arch(cfg, model)
    loader = make_bn_recalibration_loader(cfg)
    # Every rank recalibrates on the same batches, so their statistics agree.
    seen = recalibrate_path(model, arch, loader, device)
    logger.info("recalibrated BN for path %s on %d images of %s", arch_to_str(arch), seen, cfg.DATASETS.TRAIN[0])
    return arch
