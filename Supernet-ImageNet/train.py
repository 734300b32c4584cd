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
import datetime
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
import torch.nn.functional as F  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402
from tqdm import tqdm  # noqa: E402

import maskrcnn_benchmark  # noqa: E402
from maskrcnn_benchmark.utils.atomic_file import atomic_torch_save  # noqa: E402
from maskrcnn_benchmark.utils.checkpoint import check_resume_meta  # noqa: E402
from maskrcnn_benchmark.nas import (  # noqa: E402
    CHANNEL_SPLIT,
    FlopsUniformPathSampler,
    arch_to_str,
    broadcast_arch,
    count_flops,
    get_search_space,
    make_path_sampler,
    parse_arch,
    recalibrate_bn,
)
from maskrcnn_benchmark.utils import comm  # noqa: E402
from maskrcnn_benchmark.utils.logger import setup_logger  # noqa: E402
from maskrcnn_benchmark.utils.metric_logger import SmoothedValue  # noqa: E402
from maskrcnn_benchmark.utils.metrics_writer import MetricsWriter, peak_memory_mb  # noqa: E402

from classifier import DetNASClassifier, parameter_groups  # noqa: E402
from export import CHECKPOINT_KIND, export_from_checkpoint  # noqa: E402
from imagenet_data import (  # noqa: E402
    IterationSampler,
    SeededSamples,
    image_folder,
    train_transform,
    val_transform,
)

LAST_CHECKPOINT = "checkpoint_last.pth"


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("supernet", "fixed"), default="supernet")
    p.add_argument("--size", default="300M", help="300M | 1.3G | 3.8G")
    p.add_argument("--arch", default="", help="fixed mode: the architecture (digit string, "
                   "comma list or released name such as FPN-300M)")
    p.add_argument("--data", required=True, help="ImageFolder root with train/ and val/")
    p.add_argument("--batch-size", type=int, default=1024, help="over all processes")
    p.add_argument("--total-iters", type=int, default=300000)
    p.add_argument("--lr", type=float, default=0.5,
                   help="for --batch-size 1024; scale it linearly for other batch sizes (at "
                   "batch 32 on the tiny set, 0.1 diverges early and stalls; 0.02 learns)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=4e-5, help="on conv/linear weights only")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--norm", choices=("BN", "SyncBN"), default="BN")
    p.add_argument("--last-channels", type=int, default=0,
                   help="width of the head's 1x1 conv (0: ShuffleNetV2's for the size)")
    p.add_argument("--flops-bins", type=int, default=10,
                   help="supernet path sampling: uniform over this many FLOPs bins (0: uniform "
                   "per block)")
    p.add_argument("--workers", type=int, default=4, help="data loader workers per process")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU intra-op threads per process (0: torch's default)")
    p.add_argument("--output-dir", default="output/supernet_imagenet")
    p.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="continue from PATH, or (no value) from OUTPUT_DIR/" + LAST_CHECKPOINT)
    p.add_argument("--stop-at", type=int, default=0,
                   help="stop after this iteration with a checkpoint (e.g. a job time limit)")
    p.add_argument("--eval-interval", type=int, default=10000,
                   help="evaluate every N iterations and at the end (0: only at the end, "
                   "-1: never)")
    p.add_argument("--eval-paths", type=int, default=3, help="supernet: paths to evaluate")
    p.add_argument("--eval-arch", default="", help="supernet: evaluate this path instead")
    p.add_argument("--bn-recal-batches", type=int, default=20,
                   help="supernet: training batches for BN recalibration per evaluated path")
    p.add_argument("--val-batch-size", type=int, default=200, help="per process")
    p.add_argument("--val-batches", type=int, default=0, help="limit the val batches (0: all)")
    p.add_argument("--checkpoint-interval", type=int, default=10000)
    p.add_argument("--log-interval", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export", default="", help="write the trained backbone (body only, with "
                   "metadata) here at the end, e.g. ImageNet-Pretrain-models/supernet_300M.pth")
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


# What must match for --resume to continue a run (the rest, e.g. total_iters, may change).
RESUME_KEYS = ("mode", "size", "arch", "channel_split", "num_classes", "norm", "last_channels")


def checkpoint_meta(args, num_classes):
    return {"kind": CHECKPOINT_KIND, "mode": args.mode, "size": args.size,
            "arch": "supernet" if args.mode == "supernet" else arch_to_str(args.arch),
            "channel_split": CHANNEL_SPLIT, "num_classes": num_classes, "norm": args.norm,
            "last_channels": args.last_channels, "input_size": args.input_size,
            "total_iters": args.total_iters, "code_version": maskrcnn_benchmark.__version__}


def eval_paths(args):
    if args.eval_arch:
        return [args.eval_arch]
    # a fixed set (its own seed), so evaluations over a run are comparable
    sampler = FlopsUniformPathSampler(args.size, num_bins=max(args.flops_bins, 1),
                                      seed=args.seed + 1, input_size=args.input_size)
    return [sampler.sample(i) for i in range(args.eval_paths)]


def topk_correct(logits, labels, ks):
    top = logits.topk(max(ks), dim=1).indices
    hit = top.eq(labels[:, None])
    return [int(hit[:, :k].any(dim=1).sum()) for k in ks]


@torch.no_grad()
def evaluate(model, loader, device, args, arch=None, desc="eval"):
    """Top-1/top-5 accuracy and loss over this process's val shard, summed over processes."""
    was_training = model.training
    model.eval()
    ks = (1, min(5, model.fc.out_features))
    totals = torch.zeros(4, dtype=torch.float64)  # n, top1, top5, loss sum
    num = len(loader) if not args.val_batches else min(len(loader), args.val_batches)
    bar = tqdm(total=num, desc=desc, disable=not comm.is_main_process(), leave=False)
    for i, (images, labels) in enumerate(loader):
        if i >= num:
            break
        images, labels = images.to(device), labels.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            logits = model(images, arch=arch) if arch is not None else model(images)
        logits = logits.float()
        c1, c5 = topk_correct(logits, labels, ks)
        loss = F.cross_entropy(logits, labels, reduction="sum").item()
        totals += torch.tensor([labels.numel(), c1, c5, loss], dtype=torch.float64)
        bar.update(1)
    bar.close()
    if comm.get_world_size() > 1:
        dist.all_reduce(totals)
    model.train(was_training)
    n = max(totals[0].item(), 1.0)
    return {"top1": totals[1].item() / n, "top5": totals[2].item() / n,
            "loss": totals[3].item() / n, "images": int(totals[0].item())}


def run_evaluation(model, val_loader, recal_loader_fn, device, args, iteration, logger):
    if args.mode == "fixed":
        results = [{"arch": arch_to_str(args.arch),
                    **evaluate(model, val_loader, device, args, desc="eval")}]
    else:
        results = []
        for arch in eval_paths(args):
            # BN statistics of the supernet are training state: keep them, evaluate on a copy
            saved = {k: v.clone() for k, v in model.named_buffers()}
            recalibrate_bn(model, recal_loader_fn(),
                           lambda m, batch: m(batch[0].to(device), arch=arch),
                           num_batches=args.bn_recal_batches,
                           progress=comm.is_main_process())
            res = evaluate(model, val_loader, device, args, arch=arch,
                           desc=f"eval {arch_to_str(arch)}")
            with torch.no_grad():
                for k, v in model.named_buffers():
                    v.copy_(saved[k])
            results.append({"arch": arch_to_str(arch),
                            "flops": count_flops(args.size, arch, args.input_size), **res})
    for r in results:
        logger.info("eval iter %d arch %s: top1 %.4f top5 %.4f loss %.4f (%d images)", iteration,
                    r["arch"], r["top1"], r["top5"], r["loss"], r["images"])
    return results


def build_loaders(args, world_size, rank, start_iter, end_iter):
    train_set = image_folder(args.data, "train")
    val_set = image_folder(args.data, "val")
    num_classes = len(train_set.classes)
    if val_set.classes != train_set.classes:
        raise ValueError(f"--data {args.data}: train/ and val/ have different class folders")
    per_rank = args.batch_size // world_size
    pin = args.device.startswith("cuda")
    train_samples = SeededSamples(train_set, train_transform(args.input_size))
    train_loader = DataLoader(
        train_samples, num_workers=args.workers, pin_memory=pin,
        batch_sampler=IterationSampler(len(train_set), per_rank, world_size, rank, args.seed,
                                       start_iter, end_iter))

    def recal_loader():
        # the same seeded batches on every rank, so recalibrated statistics agree
        return DataLoader(train_samples, num_workers=args.workers, pin_memory=pin,
                          batch_sampler=IterationSampler(len(train_set), per_rank, 1, 0,
                                                         args.seed + 2, 0, args.bn_recal_batches))

    val_set.transform = val_transform(args.input_size)
    val_shard = Subset(val_set, list(range(rank, len(val_set), world_size)))
    val_loader = DataLoader(val_shard, batch_size=args.val_batch_size, shuffle=False,
                            num_workers=args.workers, pin_memory=pin)
    return train_loader, recal_loader, val_loader, num_classes


def resume_path(args):
    if args.resume is None:
        return None
    path = os.path.join(args.output_dir, LAST_CHECKPOINT) if args.resume == "auto" else args.resume
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    return path


def train(args):
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    distributed = comm.init_distributed(args.device)
    rank, world_size = comm.get_rank(), comm.get_world_size()
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    logger = setup_logger("detnas.imagenet", args.output_dir if rank == 0 else "", rank)
    if args.batch_size % world_size:
        raise ValueError(f"--batch-size {args.batch_size} is not divisible by the {world_size} "
                         f"processes")
    last = os.path.join(args.output_dir, LAST_CHECKPOINT)
    ckpt_path = resume_path(args)
    if ckpt_path is None and os.path.exists(last):
        raise FileExistsError(f"{last} exists: pass --resume to continue it, or choose another "
                              f"--output-dir")
    torch.manual_seed(args.seed)  # same initial weights on every rank
    checkpoint = None
    start_iter = 0
    if ckpt_path:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        start_iter = int(checkpoint["iteration"])
    stop = min(args.stop_at, args.total_iters) if args.stop_at > 0 else args.total_iters
    train_loader, recal_loader, val_loader, num_classes = build_loaders(
        args, world_size, rank, start_iter, stop)

    model = DetNASClassifier(args.size, num_classes,
                             arch=None if args.mode == "supernet" else args.arch,
                             norm=args.norm, last_channels=args.last_channels or None).to(device)
    optimizer = torch.optim.SGD(parameter_groups(model, args.wd), lr=args.lr,
                                momentum=args.momentum)
    total = args.total_iters
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                  lambda it: max(0.0, 1.0 - it / total))
    meta = checkpoint_meta(args, num_classes)
    if checkpoint is not None:
        check_resume_meta(ckpt_path, checkpoint.get("meta", {}), meta, RESUME_KEYS)
        if checkpoint["meta"].get("total_iters") != total:
            logger.warning("resuming a run planned for %s iterations with --total-iters %d: the "
                           "learning rate follows the new length", checkpoint["meta"].get(
                               "total_iters"), total)
        model.load_state_dict(checkpoint["model"], strict=True)
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        logger.info("resumed from %s at iteration %d", ckpt_path, start_iter)
        del checkpoint
    ddp_model = model
    if distributed:
        ddp_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=args.mode == "supernet")
    sampler = make_path_sampler(args.size, "flops_uniform" if args.flops_bins > 0 else "uniform", args.seed,
                                args.flops_bins, args.input_size) if args.mode == "supernet" else None
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    logger.info("DetNAS ImageNet %s %s: %d classes, %d processes, %d images per process, "
                "iterations %d..%d of %d on %s", args.mode, args.size, num_classes, world_size,
                args.batch_size // world_size, start_iter, stop, total, device)

    def save(iteration):
        if rank == 0:
            atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(), "iteration": iteration,
                               "meta": meta}, last)
            logger.info("checkpoint %s (iteration %d)", last, iteration)
        comm.synchronize()

    # OUTPUT_DIR/metrics.jsonl and OUTPUT_DIR/tensorboard/, restarted at the resumed iteration.
    metrics = MetricsWriter(args.output_dir, enabled=rank == 0, start_step=start_iter)

    def do_eval(iteration):
        results = run_evaluation(model, val_loader, recal_loader, device, args, iteration,
                                 logger)
        top1 = [r["top1"] for r in results if "top1" in r]
        metrics.write(iteration, eval=results,
                      **({"eval_top1_mean": sum(top1) / len(top1)} if top1 else {}))
        return results

    loss_meter, top1_meter = SmoothedValue(args.log_interval), SmoothedValue(args.log_interval)
    time_meter, data_meter = SmoothedValue(args.log_interval), SmoothedValue(args.log_interval)
    model.train()
    iteration = start_iter
    results = None
    run_start = time.time()
    tick = time.time()
    for images, labels in train_loader:
        data_time = time.time() - tick
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        kwargs = {}
        if sampler is not None:
            kwargs["arch"] = broadcast_arch(sampler(iteration))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            logits = ddp_model(images, **kwargs)
            loss = criterion(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        iteration += 1

        loss_meter.update(loss.item())
        top1_meter.update(topk_correct(logits.detach().float(), labels, (1,))[0] / labels.numel())
        time_meter.update(time.time() - tick)
        data_meter.update(data_time)
        if iteration % args.log_interval == 0 or iteration == stop:
            eta = datetime.timedelta(seconds=int(time_meter.avg * (stop - iteration)))
            lr = optimizer.param_groups[0]["lr"]
            logger.info("iter %d/%d  loss %.4f (%.4f)  top1 %.3f  lr %.5f  time %.3fs  data %.3fs"
                        "  eta %s", iteration, total, loss_meter.avg, loss_meter.global_avg,
                        top1_meter.avg, lr, time_meter.avg, data_meter.avg, eta)
            metrics.write(iteration, loss=loss_meter.avg, top1=top1_meter.avg, lr=lr,
                          time=time_meter.avg, data_time=data_meter.avg,
                          elapsed=time.time() - run_start,
                          peak_mem_mb=round(peak_memory_mb(device), 1))
        if iteration % args.checkpoint_interval == 0 and iteration < stop:
            save(iteration)
        if args.eval_interval > 0 and iteration % args.eval_interval == 0 and iteration < stop:
            results = do_eval(iteration)
        tick = time.time()

    save(iteration)
    if iteration == total and args.eval_interval >= 0:
        results = do_eval(iteration)
    if iteration == total and args.export and rank == 0:
        path, _ = export_from_checkpoint(
            {"model": model.state_dict(), "iteration": iteration, "meta": meta}, args.export)
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
