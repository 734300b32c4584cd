import random

import pytest
import torch

from maskrcnn_benchmark.modeling.backbone.detnas import DetNASBody, DetNASSupernet
from maskrcnn_benchmark.nas import extract_subnet, is_supernet_state_dict


def _randomise_bn(model, seed):
    """Non-trivial BN statistics and affine parameters, so eval mode is a real test."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    sn = DetNASSupernet("300M")
    _randomise_bn(sn, 1)
    return sn


@pytest.mark.parametrize("arch", ["FPN-300M", "RetinaNet-300M", "random"])
def test_extracted_body_equals_supernet_path(supernet, arch):
    if arch == "random":
        rng = random.Random(3)
        arch = [rng.randrange(4) for _ in range(20)]
    body = DetNASBody("300M", arch)
    state = extract_subnet(supernet.state_dict(), body.arch)
    body.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 64, 64)
    for train in (False, True):
        supernet.train(train)
        body.train(train)
        with torch.no_grad():
            ref = supernet(x, body.arch)
            out = body(x)
        assert len(out) == 4
        for a, b in zip(ref, out):
            assert torch.equal(a, b)
    supernet.eval()


def test_extraction_maps_keys_and_shares_tensors(supernet):
    arch = tuple([3, 0, 1, 2] * 5)
    sd = supernet.state_dict()
    sub = extract_subnet(sd, arch)
    assert sub["stem.0.weight"] is sd["stem.0.weight"]
    assert sub["blocks.4.branch_main.0.weight"] is sd["blocks.4.3.branch_main.0.weight"]
    assert not is_supernet_state_dict(sub) and is_supernet_state_dict(sd)
    assert set(sub) == set(DetNASBody("300M", arch).state_dict())


def test_extraction_with_prefix(supernet):
    sd = {f"backbone.body.{k}": v for k, v in supernet.state_dict().items()}
    sd["backbone.fpn.inner.weight"] = torch.zeros(1)
    sub = extract_subnet(sd, [1] * 20, prefix="backbone.body.")
    assert "backbone.fpn.inner.weight" in sub
    assert "backbone.body.blocks.0.branch_main.0.weight" in sub


def test_extraction_errors(supernet):
    sd = supernet.state_dict()
    with pytest.raises(ValueError, match="has 19 entries but the supernet has 20 blocks"):
        extract_subnet(sd, [0] * 19)
    with pytest.raises(ValueError, match="entry 2 is 4"):
        extract_subnet(sd, [0, 0, 4] + [0] * 17)
    partial = {k: v for k, v in sd.items() if not k.startswith("blocks.5.2.")}
    with pytest.raises(ValueError, match="block 5 choice 2"):
        extract_subnet(partial, [2] * 20)
    fixed = DetNASBody("300M", [0] * 20).state_dict()
    with pytest.raises(ValueError, match="fixed-architecture"):
        extract_subnet(fixed, [0] * 20)
