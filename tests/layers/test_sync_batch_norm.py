"""SyncBatchNorm2d under 2-process gloo equals BatchNorm2d over the whole batch in one process."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from maskrcnn_benchmark.layers.sync_batch_norm import SyncBatchNorm2d


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batch():
    g = torch.Generator().manual_seed(0)
    # Unequal shares per rank: 3 and 2 images.
    return torch.randn(5, 4, 6, 7, generator=g, dtype=torch.float64) * 3 + 1


def _reference():
    x = _batch().requires_grad_()
    bn = nn.BatchNorm2d(4).double()
    with torch.no_grad():
        bn.weight.copy_(torch.arange(1.0, 5.0))
        bn.bias.copy_(torch.arange(4.0))
    out = bn(x)
    (out * torch.arange(out.numel(), dtype=out.dtype).view_as(out).sin()).sum().backward()
    return out.detach(), x.grad, bn.weight.grad, bn.running_mean, bn.running_var


def _worker(rank, port, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        full = _batch()
        lo, hi = (0, 3) if rank == 0 else (3, 5)
        x = full[lo:hi].clone().requires_grad_()
        bn = SyncBatchNorm2d(4).double()
        with torch.no_grad():
            bn.weight.copy_(torch.arange(1.0, 5.0))
            bn.bias.copy_(torch.arange(4.0))
        out = bn(x)
        n_before = full[:lo].numel()
        w = torch.arange(n_before, n_before + out.numel(), dtype=out.dtype).view_as(out).sin()
        (out * w).sum().backward()
        grad_w = bn.weight.grad.clone()
        dist.all_reduce(grad_w)  # what DDP would do
        results[rank] = (out.detach(), x.grad, grad_w, bn.running_mean, bn.running_var)
    finally:
        dist.destroy_process_group()


def test_sync_bn_matches_full_batch_bn_under_gloo():
    ref_out, ref_gx, ref_gw, ref_rm, ref_rv = _reference()
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_worker, args=(_free_port(), results), nprocs=2, join=True)
    out = torch.cat([results[0][0], results[1][0]])
    gx = torch.cat([results[0][1], results[1][1]])
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(gx, ref_gx)
    for rank in (0, 1):
        torch.testing.assert_close(results[rank][2], ref_gw)
        torch.testing.assert_close(results[rank][3], ref_rm)
        torch.testing.assert_close(results[rank][4], ref_rv)


def test_single_process_is_plain_batchnorm():
    x = torch.randn(2, 3, 4, 4)
    a, b = SyncBatchNorm2d(3), nn.BatchNorm2d(3)
    torch.testing.assert_close(a(x), b(x))
    assert a.state_dict().keys() == b.state_dict().keys()
