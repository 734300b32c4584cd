import pytest
import torch
from torch import nn

from maskrcnn_benchmark.layers import FrozenBatchNorm2d, make_norm
from maskrcnn_benchmark.modeling.backbone.detnas import (
    DetNASBody,
    DetNASSupernet,
    ShuffleBlock,
    XceptionBlock,
    make_choice_block,
)


@pytest.mark.parametrize("choice", range(4))
@pytest.mark.parametrize("stride,in_ch,out_ch,hw", [(2, 16, 64, (15, 20)), (1, 64, 64, (15, 20)), (2, 64, 160, (8, 8))])
def test_block_output_shape(choice, stride, in_ch, out_ch, hw):
    block = make_choice_block(choice, in_ch, out_ch, stride)
    assert isinstance(block, XceptionBlock if choice == 3 else ShuffleBlock)
    y = block(torch.randn(2, in_ch, *hw))
    assert y.shape == (2, out_ch, (hw[0] - 1) // stride + 1, (hw[1] - 1) // stride + 1)


@pytest.mark.parametrize("choice", range(4))
def test_block_layers(choice):
    block = make_choice_block(choice, 32, 96, 2)
    convs = [m for m in block.branch_main if isinstance(m, nn.Conv2d)]
    kernels = [m.kernel_size[0] for m in convs]
    if choice < 3:
        k = (3, 5, 7)[choice]
        assert kernels == [1, k, 1]
        assert convs[1].groups == 48 and convs[1].stride == (2, 2)
        assert [c.out_channels for c in convs] == [48, 48, 96 - 32]
    else:
        assert kernels == [3, 1, 3, 1, 3, 1]
        assert convs[0].stride == (2, 2) and convs[0].groups == 32
        assert [c.out_channels for c in convs] == [32, 48, 48, 48, 48, 96 - 32]
    proj = [m for m in block.branch_proj if isinstance(m, nn.Conv2d)]
    assert [p.kernel_size[0] for p in proj] == [(3, 5, 7, 3)[choice], 1]
    assert all(m.bias is None for m in block.modules() if isinstance(m, nn.Conv2d))
    # a norm after every conv
    n_norm = sum(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    assert n_norm == sum(isinstance(m, nn.Conv2d) for m in block.modules())


@pytest.mark.parametrize("choice", range(4))
def test_stride1_channel_split(choice):
    torch.manual_seed(0)
    block = make_choice_block(choice, 32, 32, 1).eval()
    x = torch.randn(2, 32, 9, 9)
    y = block(x)
    # even channels pass through untouched into the first half
    assert torch.equal(y[:, :16], x[:, 0::2])
    # the branch half depends on the odd channels only
    x2 = x.clone()
    x2[:, 0::2] = torch.randn(2, 16, 9, 9)
    assert torch.equal(block(x2)[:, 16:], y[:, 16:])
    x3 = x.clone()
    x3[:, 1::2] += 1.0
    assert not torch.equal(block(x3)[:, 16:], y[:, 16:])


def test_stride2_feeds_both_branches():
    torch.manual_seed(0)
    block = make_choice_block(0, 16, 48, 2).eval()
    x = torch.randn(1, 16, 8, 8)
    y = block(x)
    assert torch.equal(y[:, :16], block.branch_proj(x))
    assert torch.equal(y[:, 16:], block.branch_main(x))


def test_block_rejects_bad_channels():
    with pytest.raises(ValueError, match="equal, even"):
        make_choice_block(0, 32, 64, 1)
    with pytest.raises(ValueError, match="out_channels > in_channels"):
        make_choice_block(0, 64, 64, 2)
    with pytest.raises(ValueError, match="0..3"):
        make_choice_block(4, 16, 32, 2)


def test_body_outputs_at_strides_4_to_32():
    torch.manual_seed(0)
    body = DetNASBody("300M", "FPN-300M")
    assert body.stage_out_channels == (64, 160, 320, 640)
    outs = body(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 24), (1, 160, 8, 12), (1, 320, 4, 6), (1, 640, 2, 3)]
    assert not any(isinstance(m, nn.MaxPool2d) for m in body.modules())


def test_supernet_structure_and_names():
    sn = DetNASSupernet("300M")
    assert sn.is_supernet and sn.stage_out_channels == (64, 160, 320, 640)
    assert len(sn.blocks) == 20 and all(len(b) == 4 for b in sn.blocks)
    keys = set(sn.state_dict())
    assert "stem.0.weight" in keys and "blocks.0.2.branch_main.0.weight" in keys
    body = DetNASBody("300M", [0] * 20)
    assert not body.is_supernet
    assert "blocks.0.branch_main.0.weight" in body.state_dict()
    with pytest.raises(ValueError, match="needs 20 entries"):
        sn(torch.randn(1, 3, 32, 32), [0] * 19)


def test_init_std_is_one_over_fan_in():
    torch.manual_seed(0)
    body = DetNASBody("300M", [0, 1, 2, 3] * 5)
    bn = body.stem[1]
    assert torch.all(bn.weight == 1) and torch.allclose(bn.bias, torch.full_like(bn.bias, 1e-4))
    assert abs(body.stem[0].weight.std().item() - 0.01) < 0.002
    pw = body.blocks[1].branch_main[0].weight  # 1x1, 32 input channels: ShuffleNetV2's 1 / shape[1]
    assert abs(pw.std().item() - 1 / 32) < 0.01
    for i, k in enumerate((3, 5, 7)):  # depthwise kxk: 1 / k^2 (ShuffleNetV2's rule would give 1)
        dw = body.blocks[i].branch_main[3].weight
        assert dw.shape[1:] == (1, k, k)
        assert abs(dw.std().item() / (1 / k**2) - 1) < 0.1


def test_every_kernel_learns_in_a_short_run():
    """Ten SGD steps turn every kind of kernel away from its start. With ShuffleNetV2's std 1 the
    depthwise kernels kept a cosine of 0.9987 (3x3), 0.9996 (5x5), 0.9999 (7x7) to their initial
    values here, and over a whole CPU-sized training (README, "What differs")."""
    torch.manual_seed(0)
    body = DetNASBody("300M", [0, 1, 2, 3] * 5)
    head = nn.Linear(640, 4)
    start = {n: p.detach().clone() for n, p in body.named_parameters() if p.dim() == 4}
    opt = torch.optim.SGD([*body.parameters(), *head.parameters()], lr=0.02, momentum=0.9)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 4, (16,))
    for _ in range(10):
        loss = nn.functional.cross_entropy(head(body(x)[-1].mean((2, 3))), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    cosines = {}
    for n, p in body.named_parameters():
        if p.dim() == 4 and not n.startswith("stem"):
            kind = f"depthwise {p.shape[-1]}x{p.shape[-1]}" if p.shape[1] == 1 else "1x1"
            cos = nn.functional.cosine_similarity(p.detach().flatten(1), start[n].flatten(1), dim=1).mean()
            cosines.setdefault(kind, []).append(cos.item())
    assert set(cosines) == {"1x1", "depthwise 3x3", "depthwise 5x5", "depthwise 7x7"}
    for kind, values in cosines.items():
        assert sum(values) / len(values) < 0.9, (kind, sum(values) / len(values))


@pytest.mark.parametrize("norm", ["SyncBN", "FrozenBN"])
def test_norm_kinds(norm):
    body = DetNASBody("300M", "FPN-300M", norm=norm)
    kind = type(make_norm(norm, 8))  # the layers package decides which class SyncBN is
    norms = [m for m in body.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm, FrozenBatchNorm2d))]
    assert len(norms) == sum(isinstance(m, nn.Conv2d) for m in body.modules())
    assert all(type(m) is kind for m in norms)
    outs = body.train()(torch.randn(2, 3, 32, 32))  # SyncBN acts as BN outside a process group
    assert outs[-1].shape == (2, 640, 1, 1)
    with pytest.raises(ValueError, match="norm must be one of"):
        DetNASBody("300M", "FPN-300M", norm="GN")
