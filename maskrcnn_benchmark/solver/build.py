"""Optimizer and schedule from the config."""

import torch
from torch import nn

from .lr_scheduler import WarmupMultiStepLR

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def split_param_groups(model):
    """Trainable parameters as (weights, biases, norm parameters); each parameter once."""
    weights, biases, norms = [], [], []
    seen = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if isinstance(module, _NORM_TYPES):
                norms.append(p)
            elif name == "bias":
                biases.append(p)
            else:
                weights.append(p)
    return weights, biases, norms


def make_optimizer(cfg, model):
    s = cfg.SOLVER
    return build_sgd(
        model,
        base_lr=s.BASE_LR,
        momentum=s.MOMENTUM,
        weight_decay=s.WEIGHT_DECAY,
        bias_lr_factor=s.BIAS_LR_FACTOR,
        weight_decay_bias=s.WEIGHT_DECAY_BIAS,
        weight_decay_norm=s.WEIGHT_DECAY_NORM,
    )


def build_sgd(model, base_lr, momentum, weight_decay, bias_lr_factor=1.0, weight_decay_bias=0.0, weight_decay_norm=0.0):
    weights, biases, norms = split_param_groups(model)
    groups = [
        {"params": weights, "lr": base_lr, "weight_decay": weight_decay},
        {"params": biases, "lr": base_lr * bias_lr_factor, "weight_decay": weight_decay_bias},
        {"params": norms, "lr": base_lr, "weight_decay": weight_decay_norm},
    ]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("the model has no trainable parameters")
    # Parameters that get no gradient on a step (choices off the supernet path) keep grad None and
    # are skipped by SGD entirely: no weight decay, no momentum.
    return torch.optim.SGD(groups, lr=base_lr, momentum=momentum)


def make_lr_scheduler(cfg, optimizer):
    s = cfg.SOLVER
    return WarmupMultiStepLR(
        optimizer,
        s.STEPS,
        s.GAMMA,
        warmup_factor=s.WARMUP_FACTOR,
        warmup_iters=s.WARMUP_ITERS,
        warmup_method=s.WARMUP_METHOD,
    )
