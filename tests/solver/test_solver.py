import math

import pytest
import torch
from torch import nn

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.solver import WarmupMultiStepLR, make_lr_scheduler, make_optimizer


def _lrs(sched, opt, n):
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_multistep_values():
    opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    sched = WarmupMultiStepLR(opt, [5, 8], gamma=0.1, warmup_factor=0.1, warmup_iters=4)
    expected = [0.1, 0.325, 0.55, 0.775, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01]
    assert all(math.isclose(a, b) for a, b in zip(_lrs(sched, opt, 10), expected))


def test_constant_warmup_and_bad_arguments():
    opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    sched = WarmupMultiStepLR(opt, [3], warmup_factor=0.5, warmup_iters=2, warmup_method="constant")
    assert _lrs(sched, opt, 4) == [0.5, 0.5, 1.0, 0.1]
    with pytest.raises(ValueError, match="increasing"):
        WarmupMultiStepLR(opt, [5, 3])
    with pytest.raises(ValueError, match="WARMUP_METHOD"):
        WarmupMultiStepLR(opt, [5], warmup_method="cosine")


def test_param_groups_lr_and_weight_decay():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.GroupNorm(2, 4), nn.Conv2d(4, 2, 1, bias=False))
    model[3].weight.requires_grad_(False)
    cfg = load_config(
        "",
        [
            "SOLVER.BASE_LR",
            0.1,
            "SOLVER.BIAS_LR_FACTOR",
            2.0,
            "SOLVER.WEIGHT_DECAY",
            1e-4,
            "SOLVER.WEIGHT_DECAY_BIAS",
            0.0,
            "SOLVER.WEIGHT_DECAY_NORM",
            0.0,
        ],
    )
    opt = make_optimizer(cfg, model)
    groups = {id(p): g for g in opt.param_groups for p in g["params"]}
    assert groups[id(model[0].weight)]["lr"] == 0.1
    assert groups[id(model[0].weight)]["weight_decay"] == 1e-4
    assert groups[id(model[0].bias)]["lr"] == pytest.approx(0.2)
    assert groups[id(model[0].bias)]["weight_decay"] == 0.0
    for norm in (model[1], model[2]):
        assert groups[id(norm.weight)]["weight_decay"] == 0.0
        assert groups[id(norm.bias)]["lr"] == 0.1  # norm biases are norm parameters
    assert id(model[3].weight) not in groups  # frozen
    assert sum(len(g["params"]) for g in opt.param_groups) == 6
    sched = make_lr_scheduler(cfg, opt)
    assert isinstance(sched, WarmupMultiStepLR)


def test_parameters_without_gradient_are_untouched_by_sgd():
    model = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    cfg = load_config("", ["SOLVER.WEIGHT_DECAY", 0.1, "SOLVER.MOMENTUM", 0.9])
    opt = make_optimizer(cfg, model)
    frozen = [p.detach().clone() for p in model[1].parameters()]
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        model[0](torch.ones(1, 2)).sum().backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(frozen, model[1].parameters()))
