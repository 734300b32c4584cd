"""The Supernet-ImageNet iteration loop: one SGD step per batch (a supernet trains one sampled path
per step, the same on every rank), log lines with ETA, periodic checkpoints and evaluations."""

import datetime
import time

import torch

from maskrcnn_benchmark.nas import broadcast_arch
from maskrcnn_benchmark.utils.metric_logger import SmoothedValue
from maskrcnn_benchmark.utils.metrics_writer import peak_memory_mb

from evaluation import topk_correct


def linear_decay_scheduler(optimizer, total_iters):
    """The lr falls linearly from its base value to 0 at `total_iters`. The factor is a function,
    not a callable object: LambdaLR then saves no state for it, so a resumed run follows its own
    --total-iters."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: max(0.0, 1.0 - it / total_iters))


class TrainingLoop:
    """Runs the iterations of one process.

    model: what the step calls (the DDP wrapper in a distributed run). path_sampler: for a supernet,
    iteration -> architecture; None for a fixed net. save_checkpoint(iteration) and
    evaluate(iteration) -> results are called every `checkpoint_interval` / `eval_interval`
    iterations (eval_interval <= 0: never) except at the last one, which the caller handles.
    """

    def __init__(
        self,
        model,
        optimizer,
        scheduler,
        criterion,
        device,
        *,
        logger,
        metrics,
        save_checkpoint,
        evaluate,
        path_sampler=None,
        amp=False,
        log_interval=20,
        checkpoint_interval=10000,
        eval_interval=10000,
    ):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.criterion = criterion
        self.device = device
        self.logger = logger
        self.metrics = metrics
        self.save_checkpoint = save_checkpoint
        self.evaluate = evaluate
        self.path_sampler = path_sampler
        self.amp = amp
        self.log_interval = log_interval
        self.checkpoint_interval = checkpoint_interval
        self.eval_interval = eval_interval

    def step(self, images, labels, iteration):
        """One SGD step on a batch; returns (loss, logits)."""
        kwargs = {}
        if self.path_sampler is not None:
            kwargs["arch"] = broadcast_arch(self.path_sampler(iteration))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.model(images, **kwargs)
            loss = self.criterion(logits.float(), labels)
        # set_to_none: choices off this path keep grad None, so SGD leaves them untouched
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return loss, logits

    def run(self, loader, start_iter, stop_iter, total_iters):
        """Iterations start_iter..stop_iter of a run of total_iters, one batch of `loader` each.
        Returns (the last iteration, the results of the last periodic evaluation or None)."""
        meters = {name: SmoothedValue(self.log_interval) for name in ("loss", "top1", "time", "data")}
        self.model.train()
        iteration = start_iter
        results = None
        run_start = tick = time.time()
        for images, labels in loader:
            data_time = time.time() - tick
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            loss, logits = self.step(images, labels, iteration)
            iteration += 1

            meters["loss"].update(loss.item())
            meters["top1"].update(topk_correct(logits.detach().float(), labels, (1,))[0] / labels.numel())
            meters["time"].update(time.time() - tick)
            meters["data"].update(data_time)
            if iteration % self.log_interval == 0 or iteration == stop_iter:
                self._log(iteration, stop_iter, total_iters, meters, run_start)
            if iteration % self.checkpoint_interval == 0 and iteration < stop_iter:
                self.save_checkpoint(iteration)
            if self.eval_interval > 0 and iteration % self.eval_interval == 0 and iteration < stop_iter:
                results = self.evaluate(iteration)
            tick = time.time()
        return iteration, results

    def _log(self, iteration, stop_iter, total_iters, meters, run_start):
        eta = datetime.timedelta(seconds=int(meters["time"].avg * (stop_iter - iteration)))
        lr = self.optimizer.param_groups[0]["lr"]
        self.logger.info(
            "iter %d/%d  loss %.4f (%.4f)  top1 %.3f  lr %.5f  time %.3fs  data %.3fs  eta %s",
            iteration,
            total_iters,
            meters["loss"].avg,
            meters["loss"].global_avg,
            meters["top1"].avg,
            lr,
            meters["time"].avg,
            meters["data"].avg,
            eta,
        )
        self.metrics.write(
            iteration,
            loss=meters["loss"].avg,
            top1=meters["top1"].avg,
            lr=lr,
            time=meters["time"].avg,
            data_time=meters["data"].avg,
            elapsed=time.time() - run_start,
            peak_mem_mb=round(peak_memory_mb(self.device), 1),
        )
