"""ImageNet pre-training of DetNAS backbones: the one-shot supernet, or one fixed architecture.

    # supernet, single process (CPU or one GPU)
    python Supernet-ImageNet/train.py --data datasets/imagenet --size 300M --output-dir output/sn300M
    # fixed architecture on 8 GPUs
    torchrun --nproc_per_node 8 Supernet-ImageNet/train.py --mode fixed --arch FPN-300M \
        --data datasets/imagenet --output-dir output/fpn300M --export ImageNet-Pretrain-models/detnas_fpn_300M.pth
    # continue an interrupted run
    python Supernet-ImageNet/train.py ... --resume

Recipe defaults (DetNAS): batch 1024 over all processes, 300k iterations, SGD lr 0.5 decaying
linearly to 0, momentum 0.9, weight decay 4e-5 on conv/linear weights only, label smoothing 0.1,
RandomResizedCrop + ColorJitter 0.4 + flip, BGR 0-255 input. The supernet trains one path per
iteration, drawn uniformly over FLOPs bins (--flops-bins; 0 = every block uniform), identical on all
ranks. Unused choices keep grad None (zero_grad(set_to_none=True)), so SGD leaves them untouched.

Evaluation: top-1/top-5 on the val split; a supernet is evaluated on --eval-paths paths (a fixed,
seeded set) or on --eval-arch, each after BN recalibration on --bn-recal-batches training batches.
"""

import argparse
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for _p in (HERE, REPO):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402

from maskrcnn_benchmark.nas import get_search_space, make_path_sampler, parse_arch  # noqa: E402
from maskrcnn_benchmark.utils import comm  # noqa: E402
from maskrcnn_benchmark.utils.logger import setup_logger  # noqa: E402
from maskrcnn_benchmark.utils.metrics_writer import MetricsWriter  # noqa: E402

from checkpointing import (  # noqa: E402
    LAST_CHECKPOINT,
    RunCheckpoint,
    checkpoint_meta,
    read_resume_checkpoint,
)
from classifier import DetNASClassifier, parameter_groups  # noqa: E402
from evaluation import Evaluator, eval_paths  # noqa: E402
from export import export_from_checkpoint  # noqa: E402
from imagenet_data import (  # noqa: E402
    IterationSampler,
    SeededSamples,
    image_folder,
    train_transform,
    val_transform,
)
from training_loop import TrainingLoop, linear_decay_scheduler  # noqa: E402


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("supernet", "fixed"), default="supernet")
    p.add_argument("--size", default="300M", help="300M | 1.3G | 3.8G")
    p.add_argument(
        "--arch",
        default="",
        help="fixed mode: the architecture (digit string, comma list or released name such as FPN-300M)",
    )
    p.add_argument("--data", required=True, help="ImageFolder root with train/ and val/")
    p.add_argument("--batch-size", type=int, default=1024, help="over all processes")
    p.add_argument("--total-iters", type=int, default=300000)
    p.add_argument(
        "--lr",
        type=float,
        default=0.5,
        help="for --batch-size 1024; scale it linearly for other batch sizes (at "
        "batch 32 on the tiny set, 0.1 diverges early and stalls; 0.02 learns)",
    )
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=4e-5, help="on conv/linear weights only")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--norm", choices=("BN", "SyncBN"), default="BN")
    p.add_argument(
        "--last-channels", type=int, default=0, help="width of the head's 1x1 conv (0: ShuffleNetV2's for the size)"
    )
    p.add_argument(
        "--flops-bins",
        type=int,
        default=10,
        help="supernet path sampling: uniform over this many FLOPs bins (0: uniform per block)",
    )
    p.add_argument("--workers", type=int, default=4, help="data loader workers per process")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--threads", type=int, default=0, help="CPU intra-op threads per process (0: torch's default)")
    p.add_argument("--output-dir", default="output/supernet_imagenet")
    p.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        help="continue from PATH, or (no value) from OUTPUT_DIR/" + LAST_CHECKPOINT,
    )
    p.add_argument(
        "--stop-at", type=int, default=0, help="stop after this iteration with a checkpoint (e.g. a job time limit)"
    )
    p.add_argument(
        "--eval-interval",
        type=int,
        default=10000,
        help="evaluate every N iterations and at the end (0: only at the end, -1: never)",
    )
    p.add_argument("--eval-paths", type=int, default=3, help="supernet: paths to evaluate")
    p.add_argument("--eval-arch", default="", help="supernet: evaluate this path instead")
    p.add_argument(
        "--bn-recal-batches",
        type=int,
        default=20,
        help="supernet: training batches for BN recalibration per evaluated path",
    )
    p.add_argument("--val-batch-size", type=int, default=200, help="per process")
    p.add_argument("--val-batches", type=int, default=0, help="limit the val batches (0: all)")
    p.add_argument("--checkpoint-interval", type=int, default=10000)
    p.add_argument("--log-interval", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--export",
        default="",
        help="write the trained backbone (body only, with "
        "metadata) here at the end, e.g. ImageNet-Pretrain-models/supernet_300M.pth",
    )
    args = p.parse_args(argv)
    if args.mode == "fixed" and not args.arch:
        p.error("--mode fixed needs --arch")
    if args.mode == "supernet" and args.arch:
        p.error("--arch is for --mode fixed; a supernet is evaluated on --eval-arch")
    try:
        get_search_space(args.size)
        if args.arch:
            args.arch = parse_arch(args.arch, args.size)
        if args.eval_arch:
            args.eval_arch = parse_arch(args.eval_arch, args.size)
    except ValueError as e:
        p.error(str(e))
    if args.total_iters < 1 or args.batch_size < 1:
        p.error("--total-iters and --batch-size must be positive")
    return args


def build_loaders(args, world_size, rank, start_iter, end_iter):
    """(train loader over iterations start_iter..end_iter, BN recalibration loader, val loader of
    this rank's shard, number of classes)."""
    train_set = image_folder(args.data, "train")
    val_set = image_folder(args.data, "val")
    num_classes = len(train_set.classes)
    if val_set.classes != train_set.classes:
        raise ValueError(f"--data {args.data}: train/ and val/ have different class folders")
    per_rank = args.batch_size // world_size
    pin = args.device.startswith("cuda")
    train_samples = SeededSamples(train_set, train_transform(args.input_size))
    train_loader = DataLoader(
        train_samples,
        num_workers=args.workers,
        pin_memory=pin,
        batch_sampler=IterationSampler(len(train_set), per_rank, world_size, rank, args.seed, start_iter, end_iter),
    )
    # the same seeded batches on every rank and at every pass over it, so recalibrated statistics
    # agree across ranks and evaluations
    recal_loader = DataLoader(
        train_samples,
        num_workers=args.workers,
        pin_memory=pin,
        batch_sampler=IterationSampler(len(train_set), per_rank, 1, 0, args.seed + 2, 0, args.bn_recal_batches),
    )
    val_set.transform = val_transform(args.input_size)
    val_shard = Subset(val_set, list(range(rank, len(val_set), world_size)))
    val_loader = DataLoader(
        val_shard, batch_size=args.val_batch_size, shuffle=False, num_workers=args.workers, pin_memory=pin
    )
    return train_loader, recal_loader, val_loader, num_classes


def init_process(args):
    """CPU threads, torch.distributed (under torchrun) and this process's device."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    distributed = comm.init_distributed(args.device)
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    return distributed, device


def build_evaluator(args, model, val_loader, recal_loader, device, logger, metrics):
    supernet = args.mode == "supernet"
    paths = ()
    if supernet:
        paths = (
            [args.eval_arch]
            if args.eval_arch
            else eval_paths(
                args.size, args.eval_paths, seed=args.seed, flops_bins=args.flops_bins, input_size=args.input_size
            )
        )
    return Evaluator(
        model,
        val_loader,
        device,
        logger=logger,
        metrics=metrics,
        size=args.size,
        input_size=args.input_size,
        fixed_arch=None if supernet else args.arch,
        paths=paths,
        recal_loader=recal_loader,
        recal_batches=args.bn_recal_batches,
        amp=args.amp,
        max_batches=args.val_batches,
    )


def train(args):
    distributed, device = init_process(args)
    rank, world_size = comm.get_rank(), comm.get_world_size()
    logger = setup_logger("detnas.imagenet", args.output_dir if rank == 0 else "", rank)
    if args.batch_size % world_size:
        raise ValueError(f"--batch-size {args.batch_size} is not divisible by the {world_size} processes")
    ckpt_path, checkpoint = read_resume_checkpoint(args)
    torch.manual_seed(args.seed)  # same initial weights on every rank
    start_iter = int(checkpoint["iteration"]) if checkpoint is not None else 0
    total = args.total_iters
    stop = min(args.stop_at, total) if args.stop_at > 0 else total
    train_loader, recal_loader, val_loader, num_classes = build_loaders(args, world_size, rank, start_iter, stop)

    supernet = args.mode == "supernet"
    model = DetNASClassifier(
        args.size,
        num_classes,
        arch=None if supernet else args.arch,
        norm=args.norm,
        last_channels=args.last_channels or None,
    ).to(device)
    optimizer = torch.optim.SGD(parameter_groups(model, args.wd), lr=args.lr, momentum=args.momentum)
    scheduler = linear_decay_scheduler(optimizer, total)
    meta = checkpoint_meta(args, num_classes)
    run_checkpoint = RunCheckpoint(model, optimizer, scheduler, meta, args.output_dir, logger)
    if checkpoint is not None:
        run_checkpoint.restore(ckpt_path, checkpoint)
        del checkpoint
    ddp_model = model
    if distributed:
        ddp_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=supernet
        )
    sampler = (
        make_path_sampler(
            args.size,
            "flops_uniform" if args.flops_bins > 0 else "uniform",
            args.seed,
            args.flops_bins,
            args.input_size,
        )
        if supernet
        else None
    )
    logger.info(
        "DetNAS ImageNet %s %s: %d classes, %d processes, %d images per process, iterations %d..%d of %d on %s",
        args.mode,
        args.size,
        num_classes,
        world_size,
        args.batch_size // world_size,
        start_iter,
        stop,
        total,
        device,
    )

    # OUTPUT_DIR/metrics.jsonl and OUTPUT_DIR/tensorboard/, restarted at the resumed iteration.
    metrics = MetricsWriter(args.output_dir, enabled=rank == 0, start_step=start_iter)
    evaluator = build_evaluator(args, model, val_loader, recal_loader, device, logger, metrics)
    loop = TrainingLoop(
        ddp_model,
        optimizer,
        scheduler,
        torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing),
        device,
        logger=logger,
        metrics=metrics,
        save_checkpoint=run_checkpoint.save,
        evaluate=evaluator.run,
        path_sampler=sampler,
        amp=args.amp,
        log_interval=args.log_interval,
        checkpoint_interval=args.checkpoint_interval,
        eval_interval=args.eval_interval,
    )
    run_start = time.time()
    iteration, results = loop.run(train_loader, start_iter, stop, total)

    run_checkpoint.save(iteration)
    if iteration == total and args.eval_interval >= 0:
        results = evaluator.run(iteration)
    if iteration == total and args.export and rank == 0:
        path, _ = export_from_checkpoint(
            {"model": model.state_dict(), "iteration": iteration, "meta": meta}, args.export
        )
        logger.info("exported the backbone to %s", path)
    comm.synchronize()
    metrics.close()
    logger.info("done: iteration %d in %.1fs", iteration, time.time() - run_start)
    if distributed:
        dist.destroy_process_group()
    return {"iteration": iteration, "eval": results}


def main(argv=None):
    args = get_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    return train(args)


if __name__ == "__main__":
    logging.captureWarnings(True)
    main()
