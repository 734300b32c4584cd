"""Top-1/top-5 evaluation on the val split: a fixed net, or a supernet on a fixed set of paths, each
after BN recalibration on training batches."""

import functools

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from maskrcnn_benchmark.nas import arch_to_str, count_flops, make_path_sampler, recalibrate_bn
from maskrcnn_benchmark.utils import comm


def topk_correct(logits, labels, ks):
    top = logits.topk(max(ks), dim=1).indices
    hit = top.eq(labels[:, None])
    return [int(hit[:, :k].any(dim=1).sum()) for k in ks]


@torch.no_grad()
def evaluate(model, loader, device, arch=None, amp=False, max_batches=0, desc="eval"):
    """Top-1/top-5 accuracy and loss over this process's val shard, summed over processes.
    max_batches: 0 for the whole loader."""
    was_training = model.training
    model.eval()
    ks = (1, min(5, model.fc.out_features))
    totals = torch.zeros(4, dtype=torch.float64)  # n, top1, top5, loss sum
    num = len(loader) if not max_batches else min(len(loader), max_batches)
    bar = tqdm(total=num, desc=desc, disable=not comm.is_main_process(), leave=False)
    for i, (images, labels) in enumerate(loader):
        if i >= num:
            break
        images, labels = images.to(device), labels.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
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
    return {
        "top1": totals[1].item() / n,
        "top5": totals[2].item() / n,
        "loss": totals[3].item() / n,
        "images": int(totals[0].item()),
    }


def eval_paths(size, num_paths, *, seed, flops_bins, input_size):
    """The supernet paths to evaluate: a fixed set with its own seed, so the evaluations over a run
    are comparable."""
    sampler = make_path_sampler(
        size, "flops_uniform", seed=seed + 1, num_bins=max(flops_bins, 1), input_size=input_size
    )
    return [sampler.sample(i) for i in range(num_paths)]


def _forward_path(model, batch, device, arch):
    return model(batch[0].to(device), arch=arch)


class Evaluator:
    """Evaluates `model` on `val_loader`, logs one line per result and writes them to `metrics`.

    fixed_arch: a fixed net, evaluated as it is (one result). Otherwise the model is a supernet,
    evaluated on each of `paths` after BN recalibration on `recal_batches` batches of
    `recal_loader` (the same batches on every rank, so the recalibrated statistics agree).
    """

    def __init__(
        self,
        model,
        val_loader,
        device,
        *,
        logger,
        metrics,
        size,
        input_size,
        fixed_arch=None,
        paths=(),
        recal_loader=None,
        recal_batches=0,
        amp=False,
        max_batches=0,
    ):
        self.model = model
        self.val_loader = val_loader
        self.device = device
        self.logger = logger
        self.metrics = metrics
        self.size = size
        self.input_size = input_size
        self.fixed_arch = fixed_arch
        self.paths = list(paths)
        self.recal_loader = recal_loader
        self.recal_batches = recal_batches
        self.amp = amp
        self.max_batches = max_batches

    def _evaluate(self, arch=None, desc="eval"):
        return evaluate(
            self.model, self.val_loader, self.device, arch=arch, amp=self.amp, max_batches=self.max_batches, desc=desc
        )

    def _evaluate_path(self, arch):
        # BN statistics of the supernet are training state: keep them, evaluate on a copy
        saved = {k: v.clone() for k, v in self.model.named_buffers()}
        recalibrate_bn(
            self.model,
            self.recal_loader,
            functools.partial(_forward_path, device=self.device, arch=arch),
            num_batches=self.recal_batches,
            progress=comm.is_main_process(),
        )
        res = self._evaluate(arch=arch, desc=f"eval {arch_to_str(arch)}")
        with torch.no_grad():
            for k, v in self.model.named_buffers():
                v.copy_(saved[k])
        return {"arch": arch_to_str(arch), "flops": count_flops(self.size, arch, self.input_size), **res}

    def evaluate_all(self, iteration):
        """A list of results (arch, top1, top5, loss, images; flops for supernet paths), logged."""
        if self.fixed_arch is not None:
            results = [{"arch": arch_to_str(self.fixed_arch), **self._evaluate()}]
        else:
            results = [self._evaluate_path(arch) for arch in self.paths]
        for r in results:
            self.logger.info(
                "eval iter %d arch %s: top1 %.4f top5 %.4f loss %.4f (%d images)",
                iteration,
                r["arch"],
                r["top1"],
                r["top5"],
                r["loss"],
                r["images"],
            )
        return results

    def run(self, iteration):
        """evaluate_all, and the results (with their mean top-1) into the metrics."""
        results = self.evaluate_all(iteration)
        top1 = [r["top1"] for r in results if "top1" in r]
        self.metrics.write(iteration, eval=results, **({"eval_top1_mean": sum(top1) / len(top1)} if top1 else {}))
        return results
