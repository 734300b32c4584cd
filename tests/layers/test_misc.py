import pytest
import torch
from torch import nn

from maskrcnn_benchmark.layers import FrozenBatchNorm2d, make_norm, smooth_l1_loss
from maskrcnn_benchmark.layers.sync_batch_norm import SyncBatchNorm2d


def _random_bn(channels, seed=0):
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(channels)
    bn.weight.data = torch.rand(channels, generator=g) + 0.5
    bn.bias.data = torch.randn(channels, generator=g)
    bn.running_mean = torch.randn(channels, generator=g)
    bn.running_var = torch.rand(channels, generator=g) + 0.1
    bn.num_batches_tracked += 7
    return bn.eval()


def test_frozen_bn_matches_eval_batchnorm_and_loads_its_state_dict():
    bn = _random_bn(6)
    frozen = FrozenBatchNorm2d(6)
    result = frozen.load_state_dict(bn.state_dict())  # has num_batches_tracked: accepted, dropped
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 6, 5, 4)
    torch.testing.assert_close(frozen(x), bn(x))
    assert sorted(frozen.state_dict()) == ["bias", "running_mean", "running_var", "weight"]
    assert list(frozen.parameters()) == []
    # and back: an nn.BatchNorm2d accepts the frozen layer's state dict (num_batches_tracked absent).
    bn2 = nn.BatchNorm2d(6)
    bn2.load_state_dict(frozen.state_dict(), strict=False)
    torch.testing.assert_close(bn2.eval()(x), bn(x))


def test_frozen_bn_passes_gradient_to_input_only():
    bn = _random_bn(3, seed=1)
    frozen = FrozenBatchNorm2d(3)
    frozen.load_state_dict(bn.state_dict())
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    frozen.double()
    assert torch.autograd.gradcheck(frozen, (x,))
    frozen(x).sum().backward()
    scale = frozen.weight / (frozen.running_var + frozen.eps).sqrt()
    torch.testing.assert_close(x.grad, scale.view(1, 3, 1, 1).expand_as(x))


def test_frozen_bn_with_gradient_matches_eval_batchnorm_and_saves_no_activation():
    bn = _random_bn(4, seed=2)
    frozen = FrozenBatchNorm2d(4)
    frozen.load_state_dict(bn.state_dict())
    x = torch.randn(2, 4, 8, 8).contiguous(memory_format=torch.channels_last).requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        y = frozen(x)
    torch.testing.assert_close(y, bn(x.detach()))
    assert y.dtype == x.dtype
    assert max(saved, default=0) < x.numel()  # the per-channel scale only, not x


def test_smooth_l1_by_hand():
    inp = torch.tensor([0.0, 0.05, 0.5, -2.0])
    tgt = torch.zeros(4)
    beta = 0.1
    expected = torch.tensor([0.0, 0.5 * 0.05**2 / beta, 0.5 - 0.05, 2.0 - 0.05])
    torch.testing.assert_close(smooth_l1_loss(inp, tgt, beta=beta, size_average=False), expected.sum())
    torch.testing.assert_close(smooth_l1_loss(inp, tgt, beta=beta), expected.mean())
    # default beta is 1/9 (the RPN's)
    torch.testing.assert_close(smooth_l1_loss(torch.tensor([1.0]), torch.zeros(1)), torch.tensor(1.0 - 0.5 / 9))


@pytest.mark.parametrize(
    "kind,cls",
    [
        ("BN", nn.BatchNorm2d),
        ("SyncBN", SyncBatchNorm2d),
        ("GN", nn.GroupNorm),
        ("FrozenBN", FrozenBatchNorm2d),
        ("", nn.Identity),
    ],
)
def test_make_norm_kinds(kind, cls):
    norm = make_norm(kind, 64)
    assert type(norm) is cls
    x = torch.randn(2, 64, 3, 3)
    assert norm(x).shape == x.shape


def test_make_norm_errors_are_clear():
    with pytest.raises(ValueError, match="unknown normalisation kind 'LN'"):
        make_norm("LN", 8)
    with pytest.raises(ValueError, match="48 channels cannot be split into 32 groups"):
        make_norm("GN", 48)
    assert make_norm("GN", 48, num_groups=16).num_groups == 16
