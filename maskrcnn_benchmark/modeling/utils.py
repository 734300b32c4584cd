"""Tensor helpers shared by the heads."""

import torch


def cat(tensors, dim=0):
    """torch.cat that returns a lone tensor as is instead of copying it."""
    tensors = list(tensors)
    if len(tensors) == 1:
        return tensors[0]
    return torch.cat(tensors, dim)


def float32_at_least(tensor):
    """`tensor` in float32, or as is when already float32/float64: box coordinates and scores
    are kept out of half precision (bfloat16 cannot tell 1000 from 1004) under autocast."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))
