import random
import time

import pytest
import torch
from torch import nn

from maskrcnn_benchmark.modeling.backbone.detnas import DetNASBody
from maskrcnn_benchmark.nas import SIZES, count_flops, flops_range, flops_table

RELEASED = [
    ("300M", "FPN-300M", 270e6, 330e6),
    ("300M", "RetinaNet-300M", 270e6, 330e6),
    ("1.3G", "FPN-1.3G", 1.2e9, 1.4e9),
    ("3.8G", "FPN-3.8G", 3.6e9, 4.1e9),
]


def hook_count(size, arch, hw):
    """Independent count: build the body on the meta device (shapes only, no arithmetic) and sum
    out_elems * in_ch / groups * kh * kw over every Conv2d that runs."""
    with torch.device("meta"):
        body = DetNASBody(size, arch)
        x = torch.empty(1, 3, *hw)
    total = [0]

    def hook(m, inputs, out):
        total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    for m in body.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    body(x)
    return total[0]


@pytest.mark.parametrize("size,name,lo,hi", RELEASED)
def test_released_arch_flops_in_paper_range_and_match_hooks(size, name, lo, hi):
    flops = count_flops(size, name)
    assert lo <= flops <= hi
    assert flops == hook_count(size, name, (224, 224))


@pytest.mark.parametrize("size", list(SIZES))
def test_random_archs_match_hooks(size):
    rng = random.Random(7)
    n = SIZES[size].num_blocks
    for hw in [(224, 224), (97, 131)]:
        for _ in range(2):
            arch = [rng.randrange(4) for _ in range(n)]
            input_size = hw[0] if hw[0] == hw[1] else hw
            assert count_flops(size, arch, input_size) == hook_count(size, arch, hw)


@pytest.mark.parametrize("size", list(SIZES))
def test_flops_range_is_attained(size):
    lo, hi = flops_range(size)
    _, rows = flops_table(size, 224)
    arg_min = [min(range(4), key=lambda c: r[c]) for r in rows]
    arg_max = [max(range(4), key=lambda c: r[c]) for r in rows]
    assert count_flops(size, arg_min) == lo
    assert count_flops(size, arg_max) == hi
    rng = random.Random(0)
    for _ in range(50):
        assert lo <= count_flops(size, [rng.randrange(4) for _ in rows]) <= hi


def test_count_flops_is_fast():
    archs = {s: (3,) * SIZES[s].num_blocks for s in SIZES}
    for s in SIZES:
        count_flops(s, archs[s])  # fill the table cache
    start = time.perf_counter()
    for _ in range(1000):
        count_flops("3.8G", archs["3.8G"])
    mean = (time.perf_counter() - start) / 1000
    assert mean < 1e-3, f"count_flops took {mean * 1e3:.3f} ms per call"


def test_count_flops_validates_arch():
    with pytest.raises(ValueError, match="needs 20 entries"):
        count_flops("300M", [0] * 40)
    with pytest.raises(ValueError, match="input_size"):
        count_flops("300M", [0] * 20, input_size=(0, 4))
