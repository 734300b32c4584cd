"""Thin helpers over torch.distributed that also work in a single process."""

import os

import torch
import torch.distributed as dist


def is_dist():
    return dist.is_available() and dist.is_initialized()


def get_world_size():
    return dist.get_world_size() if is_dist() else 1


def get_rank():
    return dist.get_rank() if is_dist() else 0


def get_local_rank():
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process():
    return get_rank() == 0


def synchronize():
    if is_dist() and get_world_size() > 1:
        dist.barrier()


def init_distributed(device):
    """Join the process group torchrun describes in the environment; no-op for a single process.

    Returns True when running distributed. NCCL on CUDA, gloo otherwise.
    """
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size <= 1 or is_dist():
        return is_dist()
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(get_local_rank())
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    synchronize()
    return True


def all_gather(obj):
    """Gather a picklable object from every process (torch.distributed.all_gather_object)."""
    if get_world_size() == 1:
        return [obj]
    out = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def reduce_dict(values, average=True):
    """Sum (or average) a dict of scalar tensors over processes; every process gets the result."""
    if get_world_size() == 1 or not values:
        return values
    names = sorted(values)
    stacked = torch.stack([values[k].detach().float() for k in names])
    dist.all_reduce(stacked)
    if average:
        stacked /= get_world_size()
    return dict(zip(names, stacked))
