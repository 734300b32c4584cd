"""BatchNorm whose training statistics are pooled over all processes, on any backend.

torch.nn.SyncBatchNorm refuses CPU tensors, so a CPU run under torchrun (gloo) could not use the
SyncBN configs of DetNAS. This version all-reduces per-channel count, sum and sum of squares with the
a differentiable all-reduce (its backward is the all-reduce of the gradients), so gradients flow through the pooled statistics
exactly as in single-process BatchNorm over the concatenated batch. Outside a multi-process run it
is plain BatchNorm2d, with the same state dict.
"""

import torch
import torch.distributed as dist
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x):
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        if x.dim() != 4:
            raise ValueError(f"SyncBatchNorm2d expects NCHW input, got shape {tuple(x.shape)}")
        c = x.shape[1]
        xf = x if x.dtype == torch.float64 else x.float()
        local_count = torch.full((1,), xf.numel() / max(c, 1), dtype=xf.dtype, device=x.device)
        packed = torch.cat([xf.sum(dim=(0, 2, 3)), (xf * xf).sum(dim=(0, 2, 3)), local_count])
        packed = _AllReduceSum.apply(packed)
        total = packed[2 * c]
        if total.item() == 0:
            return x
        mean = packed[:c] / total
        var = (packed[c : 2 * c] / total - mean * mean).clamp_min(0)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), total.item())
        scale = torch.rsqrt(var + self.eps)
        shift = -mean * scale
        if self.affine:
            scale = scale * self.weight
            shift = shift * self.weight + self.bias
        out = xf * scale.view(1, c, 1, 1) + shift.view(1, c, 1, 1)
        return out.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean, var, count):
        self.num_batches_tracked += 1
        if self.momentum is None:  # cumulative average
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        unbiased = var * (count / max(count - 1, 1))
        self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
