"""Re-estimate BatchNorm statistics for one path of a supernet (or any model).

Supernet running statistics mix every path trained, so before evaluating a path its BN statistics
are recomputed on a few training batches. Rather than a momentum average, every BN layer ends with
the exact mean and unbiased variance of all the inputs it saw: each BN's train-mode forward already
computes its batch's per-channel mean and variance, which are kept and merged across batches in
float64 with Chan et al.'s parallel formula (stable where sum-of-squares would cancel).
"""

import itertools

import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from tqdm import tqdm


class _ChannelMoments:
    """Running count / mean / M2 (sum of squared deviations) per channel, float64."""

    def __init__(self):
        self.count = 0
        self.mean = None
        self.m2 = None
        self.calls = 0

    def add(self, n, mean, unbiased_var):
        """Merge one batch of `n` values per channel (its mean and unbiased variance)."""
        if n == 0:
            return
        mean = mean.to(torch.float64)
        m2 = unbiased_var.to(torch.float64) * (n - 1)
        self.calls += 1
        if self.count == 0:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total


def _measuring_forward(bn, moments, on_input):
    """A local (never synchronised) train-mode forward of `bn` that also hands its batch statistics
    to `moments`: with momentum 1 the scratch buffers come back holding exactly the batch's mean and
    unbiased variance, so one batch_norm call both normalises and measures."""

    def forward(x):
        on_input(x)
        mean = torch.zeros_like(bn.running_mean)
        var = torch.ones_like(bn.running_var)
        out = F.batch_norm(x, mean, var, bn.weight, bn.bias, True, 1.0, bn.eps)
        moments.add(x.numel() // x.shape[1], mean, var)
        return out

    return forward


def batch_norm_layers(model):
    """The BatchNorm layers of `model` that keep running statistics (BatchNorm1d/2d/3d,
    SyncBatchNorm); FrozenBatchNorm2d and affine-only norms are not among them."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def recalibrate_bn(model, batches, forward_fn, num_batches=None, progress=True):
    """Reset and recompute the running statistics of every BatchNorm layer of `model`.

    batches: an iterable of whatever `forward_fn(model, batch)` takes; at most `num_batches` of them
    are used (all when None). During the passes only the BN layers are in train mode (they normalise
    with batch statistics, as in training), everything else is in eval mode; no gradients are kept.
    Afterwards each BN's running_mean / running_var are the exact mean / unbiased variance of its
    inputs over all batches (num_batches_tracked = batches it saw), and every module's train/eval
    mode is restored. A BN that saw no input keeps the reset statistics (mean 0, variance 1).

    Statistics are per process: every BN runs as plain local BatchNorm during the passes (a
    synchronised BN's collective would deadlock when ranks recalibrate different paths, as in the
    search), so in a distributed run pass the same batches on every rank for identical results. Returns the number of samples seen (the batch dimension of the first
    BN input of each pass, i.e. images for a backbone).
    """
    bns = batch_norm_layers(model)
    modes = {m: m.training for m in model.modules()}
    moments = {bn: _ChannelMoments() for bn in bns}
    samples = 0
    first_input_seen = [False]

    def on_input(x):
        nonlocal samples
        if not first_input_seen[0]:
            first_input_seen[0] = True
            samples += x.shape[0]

    for bn in bns:
        # instance attribute shadows the class's forward: local batch statistics, no collective
        bn.forward = _measuring_forward(bn, moments[bn], on_input)
    try:
        for bn in bns:
            bn.reset_running_stats()
        model.eval()
        for bn in bns:
            bn.train()
        total = len(batches) if hasattr(batches, "__len__") else None
        if num_batches is not None:
            total = num_batches if total is None else min(total, num_batches)
            batches = itertools.islice(batches, num_batches)
        bar = tqdm(total=total, desc="BN recalibration", disable=not progress, leave=False)
        with torch.no_grad():
            for batch in batches:
                first_input_seen[0] = False
                forward_fn(model, batch)
                bar.update(1)
        bar.close()
        for bn, mom in moments.items():
            if mom.count == 0:
                continue
            bn.running_mean.copy_(mom.mean.to(bn.running_mean.dtype))
            unbiased = mom.m2 / max(mom.count - 1, 1)
            bn.running_var.copy_(unbiased.to(bn.running_var.dtype))
            if bn.num_batches_tracked is not None:
                bn.num_batches_tracked.fill_(mom.calls)
    finally:
        for bn in bns:
            del bn.forward
        for m, was_training in modes.items():
            m.train(was_training)
    return samples
