"""One-shot training steps: only the sampled path moves, in one process and under DDP."""

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from maskrcnn_benchmark.modeling.backbone.detnas import DetNASSupernet
from maskrcnn_benchmark.nas import UniformPathSampler, broadcast_arch

PATH_A = (0, 1, 2, 3) * 5
PATH_B = (1, 2, 3, 0) * 5


def _loss(outs):
    return sum(o.pow(2).mean() for o in outs)


def _optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)


def _step(model, opt, x, arch):
    opt.zero_grad(set_to_none=True)  # unused parameters keep grad None, so SGD skips them
    loss = _loss(model(x, arch))
    loss.backward()
    opt.step()
    return loss.item()


def _off_path_state(supernet, paths):
    """Parameters and buffers of every choice that none of `paths` uses."""
    out = {}
    for i, choices in enumerate(supernet.blocks):
        used = {p[i] for p in paths}
        for c, block in enumerate(choices):
            if c not in used:
                for k, v in block.state_dict().items():
                    out[f"blocks.{i}.{c}.{k}"] = v.clone()
    return out


def _assert_unchanged(supernet, snapshot):
    state = supernet.state_dict()
    for k, v in snapshot.items():
        assert torch.equal(state[k], v), f"{k} changed although its choice was not sampled"


def test_sgd_steps_leave_unsampled_choices_bitwise_unchanged():
    torch.manual_seed(0)
    sn = DetNASSupernet("300M").train()
    opt = _optimizer(sn)
    x = torch.randn(4, 3, 32, 32)
    # path A first: its parameters get momentum buffers, which must not keep moving them later
    for _ in range(2):
        _step(sn, opt, x, PATH_A)
    off_b = _off_path_state(sn, [PATH_B])
    on_b = {k: v.clone() for k, v in sn.blocks[0][PATH_B[0]].state_dict().items()}
    stem = sn.stem[0].weight.detach().clone()
    for _ in range(3):
        _step(sn, opt, x, PATH_B)
    _assert_unchanged(sn, off_b)
    # the sampled path and the shared stem did train
    assert not torch.equal(sn.stem[0].weight, stem)
    assert any(not torch.equal(v, on_b[k]) for k, v in sn.blocks[0][PATH_B[0]].state_dict().items())
    for i, choices in enumerate(sn.blocks):
        for c, block in enumerate(choices):
            has_grad = any(p.grad is not None for p in block.parameters())
            assert has_grad == (c == PATH_B[i])


def _ddp_worker(rank, world_size, init_file, result_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)  # same initial weights on both ranks
        sn = DetNASSupernet("300M").train()
        model = DistributedDataParallel(sn, find_unused_parameters=True)
        opt = _optimizer(model)
        # different seeds per rank: without the broadcast the ranks would train different paths
        sampler = UniformPathSampler("300M", seed=100 + rank)
        paths = []
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(rank))
        for it in range(2):
            arch = broadcast_arch(sampler.sample(it))
            paths.append(arch)
            if it == 1:
                snapshot = _off_path_state(sn, paths)
            _step(model, opt, x, arch)
        _assert_unchanged(sn, snapshot)
        for i, choices in enumerate(sn.blocks):
            for c, block in enumerate(choices):
                if c != paths[-1][i]:
                    assert all(p.grad is None for p in block.parameters()), (i, c)
        # parameters only: BN running statistics are per-rank (DDP re-broadcasts them each forward)
        torch.save(
            {"paths": paths, "params": {k: v.detach().clone() for k, v in sn.named_parameters()}},
            os.path.join(result_dir, f"rank{rank}.pth"),
        )
    finally:
        dist.destroy_process_group()


def test_ddp_two_process_gloo_step(tmp_path):
    world_size = 2
    mp.spawn(_ddp_worker, args=(world_size, str(tmp_path / "init"), str(tmp_path)), nprocs=world_size, join=True)
    r0 = torch.load(tmp_path / "rank0.pth", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pth", weights_only=True)
    # rank 0's paths everywhere, and the replicas stayed identical
    sampler = UniformPathSampler("300M", seed=100)
    assert r0["paths"] == r1["paths"] == [sampler.sample(0), sampler.sample(1)]
    for k, v in r0["params"].items():
        assert torch.equal(v, r1["params"][k]), k
