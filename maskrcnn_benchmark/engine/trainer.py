"""The training loop: one step per batch, losses logged with an ETA, periodic checkpoints."""

import datetime
import logging
import math
import time

import torch

from maskrcnn_benchmark.engine.amp import autocast_context, make_grad_scaler
from maskrcnn_benchmark.nas.arch import arch_to_str
from maskrcnn_benchmark.utils.comm import get_world_size, reduce_dict
from maskrcnn_benchmark.utils.metric_logger import MetricLogger
from maskrcnn_benchmark.utils.metrics_writer import peak_memory_mb


class NonFiniteLossError(FloatingPointError):
    pass


def do_train(
    model,
    data_loader,
    optimizer,
    scheduler,
    checkpointer,
    device,
    checkpoint_period,
    arguments,
    *,
    log_period=20,
    amp=False,
    scaler=None,
    sample_arch=None,
    clip_grad_norm=0.0,
    logger=None,
    metrics=None,
):
    """Train until the data loader (an iteration-based sampler) is exhausted.

    `arguments["iteration"]` is the iteration to resume from and is kept current, so a checkpoint
    written at any step resumes exactly there. `sample_arch(iteration)` returns the supernet path of
    that step (the same on every rank) or is None for a fixed network. `metrics` (a MetricsWriter)
    gets one record per log period: the losses (median over the period, as logged), lr, time,
    data time and peak memory.
    """
    logger = logger or logging.getLogger("maskrcnn_benchmark.trainer")
    meters = MetricLogger(delimiter="  ")
    max_iter = len(data_loader)
    start_iter = arguments["iteration"]
    scaler = scaler if scaler is not None else make_grad_scaler(device, amp)
    model.train()
    logger.info("start training at iteration %d of %d", start_iter, max_iter)
    start_time = time.perf_counter()
    end = start_time
    for iteration, (images, targets, _) in enumerate(data_loader, start_iter):
        data_time = time.perf_counter() - end
        iteration += 1
        arguments["iteration"] = iteration

        images = images.to(device)
        targets = [t.to(device) for t in targets]
        kwargs = {}
        if sample_arch is not None:
            kwargs["arch"] = arch = tuple(sample_arch(iteration))
            if iteration % log_period == 0 or iteration == start_iter + 1:
                logger.info("iter %d path %s", iteration, arch_to_str(arch))
        with autocast_context(device, amp):
            loss_dict = model(images, targets, **kwargs)
        losses = sum(loss_dict.values())
        loss_dict_reduced = reduce_dict(loss_dict)
        loss_reduced = sum(loss_dict_reduced.values())
        if not math.isfinite(loss_reduced.item()):
            raise NonFiniteLossError(
                f"loss became {loss_reduced.item()} at iteration {iteration}: "
                f"{ {k: round(v.item(), 4) for k, v in loss_dict_reduced.items()} }; "
                "lower SOLVER.BASE_LR or lengthen SOLVER.WARMUP_ITERS"
            )
        meters.update(loss=loss_reduced, **loss_dict_reduced)

        optimizer.zero_grad(set_to_none=True)
        scaler.scale(losses).backward()
        if clip_grad_norm > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(
                [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None], clip_grad_norm
            )
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()

        batch_time = time.perf_counter() - end
        end = time.perf_counter()
        meters.update(time=batch_time, data=data_time)
        if iteration % log_period == 0 or iteration == max_iter:
            eta = datetime.timedelta(seconds=int(meters.time.global_avg * (max_iter - iteration)))
            mem = ""
            if torch.device(device).type == "cuda":
                mem = f"  max mem: {torch.cuda.max_memory_allocated() / 2**20:.0f}M"
            logger.info(
                "eta: %s  iter: %d/%d  %s  lr: %.6f%s",
                eta,
                iteration,
                max_iter,
                meters,
                optimizer.param_groups[0]["lr"],
                mem,
            )
            if metrics is not None:
                losses = {k: m.median for k, m in meters.meters.items() if k not in ("time", "data")}
                metrics.write(
                    iteration,
                    **losses,
                    lr=optimizer.param_groups[0]["lr"],
                    time=meters.time.median,
                    data_time=meters.data.median,
                    peak_mem_mb=round(peak_memory_mb(device), 1),
                )
        if checkpoint_period > 0 and iteration % checkpoint_period == 0 and iteration < max_iter:
            checkpointer.save(f"model_{iteration:07d}", **arguments)
    if max_iter > start_iter:
        checkpointer.save("model_final", **arguments)
    total = time.perf_counter() - start_time
    done = max(max_iter - start_iter, 1)
    logger.info(
        "training took %s (%.4f s / it) on %d process(es)",
        datetime.timedelta(seconds=int(total)),
        total / done,
        get_world_size(),
    )
    return meters
