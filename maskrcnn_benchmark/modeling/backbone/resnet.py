"""ResNet bodies (18/34 with basic blocks, 50/101 with bottlenecks) returning C2..C5.

Module names follow torchvision's ResNet (conv1, bn1, layer1..layer4, downsample.0/1), so ImageNet
weights in that layout load into `backbone.body` as they are.
"""

import torch
from torch import nn

from maskrcnn_benchmark.layers import make_norm

# Blocks per stage (res2..res5) and block type of each depth.
RESNET_SPECS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}


def _conv(in_channels, out_channels, kernel_size, stride=1, dilation=1, groups=1):
    conv = nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=dilation * (kernel_size // 2),
        dilation=dilation,
        groups=groups,
        bias=False,
    )
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def _downsample(in_channels, out_channels, stride, norm):
    if in_channels == out_channels and stride == 1:
        return None
    return nn.Sequential(_conv(in_channels, out_channels, 1, stride=stride), make_norm(norm, out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    def __init__(self, in_channels, out_channels, stride=1, dilation=1, norm="FrozenBN"):
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels, 3, stride=stride, dilation=dilation)
        self.bn1 = make_norm(norm, out_channels)
        self.conv2 = _conv(out_channels, out_channels, 3, dilation=dilation)
        self.bn2 = make_norm(norm, out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_channels, out_channels, stride, norm)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (grouped), 1x1 expand, with a residual connection (ResNet-50/101).

    `stride_in_1x1` puts the stride on the first 1x1 convolution (the MSRA/Caffe2 models) instead
    of the 3x3 (torchvision's models).
    """

    def __init__(
        self,
        in_channels,
        bottleneck_channels,
        out_channels,
        stride=1,
        dilation=1,
        num_groups=1,
        stride_in_1x1=True,
        norm="FrozenBN",
    ):
        super().__init__()
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = _conv(in_channels, bottleneck_channels, 1, stride=stride_1x1)
        self.bn1 = make_norm(norm, bottleneck_channels)
        self.conv2 = _conv(
            bottleneck_channels, bottleneck_channels, 3, stride=stride_3x3, dilation=dilation, groups=num_groups
        )
        self.bn2 = make_norm(norm, bottleneck_channels)
        self.conv3 = _conv(bottleneck_channels, out_channels, 1)
        self.bn3 = make_norm(norm, out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_channels, out_channels, stride, norm)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, norm, ReLU, 3x3/2 max pool) and four stages; forward returns the stage
    outputs [C2, C3, C4, C5] at strides 4, 8, 16, 32 (16 for C5 with `res5_dilation` > 1).

    `freeze_at` = k freezes the parameters of the stem (k >= 1) and of layer1..layer{k-1}
    (maskrcnn-benchmark's FREEZE_CONV_BODY_AT); 0 trains everything.

    With `channels_last`, a CPU input is run in NHWC memory format, where oneDNN's convolutions are
    10-20% faster for ResNets (the values are the same; the outputs, and so the FPN and heads after
    them, stay NHWC). GPU inputs are left as they come.
    """

    def __init__(
        self,
        depth,
        norm="FrozenBN",
        freeze_at=0,
        stem_out_channels=64,
        res2_out_channels=256,
        num_groups=1,
        width_per_group=64,
        stride_in_1x1=True,
        res5_dilation=1,
        channels_last=True,
    ):
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_SPECS)}, got {depth}")
        if not 0 <= freeze_at <= 5:
            raise ValueError(f"ResNet freeze_at must lie in 0..5 (stem + 4 stages), got {freeze_at}")
        if res5_dilation not in (1, 2):
            raise ValueError(f"ResNet res5_dilation must be 1 or 2, got {res5_dilation}")
        block_kind, blocks_per_stage = RESNET_SPECS[depth]
        if block_kind == "basic" and num_groups != 1:
            raise ValueError(f"ResNet-{depth} has basic blocks, which do not support num_groups={num_groups}")

        self.conv1 = _conv(3, stem_out_channels, 7, stride=2)
        self.bn1 = make_norm(norm, stem_out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        in_channels = stem_out_channels
        self.stage_out_channels = []
        for index, num_blocks in enumerate(blocks_per_stage):
            factor = 2**index
            dilation = res5_dilation if index == 3 else 1
            # res2 keeps the stem's stride; a dilated res5 trades its stride for dilation.
            stride = 1 if index == 0 or dilation > 1 else 2
            blocks = []
            for b in range(num_blocks):
                block_stride = stride if b == 0 else 1
                if block_kind == "basic":
                    out_channels = width_per_group * factor
                    blocks.append(BasicBlock(in_channels, out_channels, block_stride, dilation, norm))
                else:
                    out_channels = res2_out_channels * factor
                    blocks.append(
                        Bottleneck(
                            in_channels,
                            num_groups * width_per_group * factor,
                            out_channels,
                            block_stride,
                            dilation,
                            num_groups,
                            stride_in_1x1,
                            norm,
                        )
                    )
                in_channels = out_channels
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
            self.stage_out_channels.append(in_channels)
        self._freeze(freeze_at)
        self.channels_last = channels_last

    def _freeze(self, freeze_at):
        frozen = [[self.conv1, self.bn1]] + [[getattr(self, f"layer{i}")] for i in range(1, 5)]
        for modules in frozen[:freeze_at]:
            for module in modules:
                for p in module.parameters():
                    p.requires_grad_(False)

    def forward(self, x):
        if self.channels_last and x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outputs = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            outputs.append(x)
        return outputs
