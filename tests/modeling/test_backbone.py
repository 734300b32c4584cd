from collections import OrderedDict

import pytest
import torch
import torchvision
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool as TVLastLevelMaxPool

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.layers import FrozenBatchNorm2d
from maskrcnn_benchmark.modeling.backbone import build_backbone
from maskrcnn_benchmark.modeling.backbone.fpn import FPN, LastLevelMaxPool, LastLevelP6P7
from maskrcnn_benchmark.modeling.backbone.resnet import ResNet


def _randomise_bn(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, FrozenBatchNorm2d)):
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_matches_torchvision_with_its_weights(depth):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    _randomise_bn(reference)
    reference.eval()
    ours = ResNet(depth, norm="FrozenBN", stride_in_1x1=False)
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    result = ours.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        outs = ours(x)
        y = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
        expected = []
        for layer in (reference.layer1, reference.layer2, reference.layer3, reference.layer4):
            y = layer(y)
            expected.append(y)
    assert len(outs) == 4
    for a, b in zip(outs, expected):  # NHWC and NCHW convolutions round differently
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))
    assert ours.stage_out_channels == [o.shape[1] for o in outs]


def test_resnet_freeze_at():
    body = ResNet(18, norm="BN", freeze_at=2)
    trainable = {n.split(".")[0] for n, p in body.named_parameters() if p.requires_grad}
    frozen = {n.split(".")[0] for n, p in body.named_parameters() if not p.requires_grad}
    assert frozen == {"conv1", "bn1", "layer1"}
    assert trainable == {"layer2", "layer3", "layer4"}
    assert all(p.requires_grad for p in ResNet(18, norm="BN", freeze_at=0).parameters())


def test_resnet_stride_and_dilation_shapes():
    x = torch.randn(1, 3, 64, 64)
    outs = ResNet(50, norm="GN", res5_dilation=2)(x)
    assert [tuple(o.shape[1:]) for o in outs] == [(256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 4, 4)]
    with pytest.raises(ValueError, match="depth must be one of"):
        ResNet(42)


def test_fpn_matches_torchvision_fpn():
    torch.manual_seed(0)
    channels = [8, 16, 32, 64]
    ours = FPN(channels, 16, top_blocks=LastLevelMaxPool())
    reference = FeaturePyramidNetwork(channels, 16, extra_blocks=TVLastLevelMaxPool())
    for i in range(4):
        for kind in ("inner_blocks", "layer_blocks"):
            src = getattr(ours, kind)[i]
            dst = getattr(reference, kind)[i][0]
            dst.weight.data.copy_(src.weight)
            dst.bias.data.copy_(torch.randn_like(dst.bias))
            src.bias.data.copy_(dst.bias)
    feats = [torch.randn(2, c, 32 // 2**i, 24 // 2**i) for i, c in enumerate(channels)]
    outs = ours(feats)
    expected = list(reference(OrderedDict((str(i), f) for i, f in enumerate(feats))).values())
    assert len(outs) == 5
    for a, b in zip(outs, expected):
        torch.testing.assert_close(a, b)


def test_fpn_odd_sizes_upsample_to_lateral_size():
    fpn = FPN([4, 4], 8)
    outs = fpn([torch.randn(1, 4, 13, 7), torch.randn(1, 4, 7, 4)])
    assert [tuple(o.shape[-2:]) for o in outs] == [(13, 7), (7, 4)]


def test_p6p7_source():
    c5, p5 = torch.randn(1, 32, 8, 8), torch.randn(1, 16, 8, 8)
    from_c5 = LastLevelP6P7(32, 16)
    assert from_c5.use_c5 and [tuple(t.shape) for t in from_c5(c5, p5)] == [(1, 16, 4, 4), (1, 16, 2, 2)]
    from_p5 = LastLevelP6P7(16, 16)
    assert not from_p5.use_c5
    torch.testing.assert_close(from_p5(c5, p5)[0], from_p5.p6(p5))


@pytest.mark.parametrize(
    "name,levels,strides",
    [
        ("R-18-FPN", 5, (4, 8, 16, 32, 64)),
        ("R-18-FPN-RETINANET", 5, (8, 16, 32, 64, 128)),
    ],
)
def test_build_backbone_levels(name, levels, strides):
    cfg = load_config(
        "", ["MODEL.BACKBONE.CONV_BODY", name, "MODEL.RESNETS.NORM", "GN", "MODEL.BACKBONE.FREEZE_CONV_BODY_AT", 0]
    )
    backbone = build_backbone(cfg)
    assert backbone.out_channels == 256 and backbone.is_supernet is False
    x = torch.randn(1, 3, 128, 128)
    outs = backbone(x)
    assert len(outs) == levels
    assert [128 // o.shape[-1] for o in outs] == list(strides)
    assert all(o.shape[1] == 256 for o in outs)


def test_build_backbone_unknown_name():
    cfg = load_config("", ["MODEL.BACKBONE.CONV_BODY", "R-77-FPN"])
    with pytest.raises(KeyError, match="unknown backbone .*'R-77-FPN'.*R-50-FPN"):
        build_backbone(cfg)


def test_resnet_channels_last_gives_the_same_values():
    torch.manual_seed(0)
    body = ResNet(18, norm="GN").eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        nhwc = body(x)
        body.channels_last = False
        nchw = body(x)
    assert nhwc[0].is_contiguous(memory_format=torch.channels_last) and nchw[0].is_contiguous()
    for a, b in zip(nhwc, nchw):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
