"""DetNAS bodies: ShuffleNetV2-style choice blocks, a fixed-architecture body and the supernet.

Unit layout (no residual add; bias-free convs, a norm after every conv):

- stride 1: the input is split channel-wise -- even channels pass through untouched, odd channels go
  through the main branch (ShuffleNetV2's channel shuffle folded into the split; the name of this
  rule, `CHANNEL_SPLIT`, is stored in exported weights) -- and the two halves are concatenated.
- stride 2: the whole input feeds a projection branch (depthwise kxk stride 2 + norm, 1x1 + norm +
  ReLU, k = the choice's kernel) and the main branch; output = cat(projection, main).

Main branches (mid width = stage output channels / 2):
  shufflenet_kxk: 1x1 + norm + ReLU, depthwise kxk (stride) + norm, 1x1 + norm + ReLU
  xception_3x3:   3 x (depthwise 3x3 + norm, 1x1 + norm + ReLU), the stride on the first depthwise

Parameter names (what `maskrcnn_benchmark.nas.subnet.extract_subnet` relies on):
  DetNASBody:      stem.*, blocks.<i>.<block params>
  DetNASSupernet:  stem.*, blocks.<i>.<choice>.<block params>
so a fixed body is the supernet with `.<arch[i]>` removed from block i's keys.

`freeze_at` = k freezes the parameters of the stem (k >= 1) and of the blocks of stages 1..k-1, as
MODEL.BACKBONE.FREEZE_CONV_BODY_AT does for ResNet; 0 (the DetNAS configs) trains everything.

Initialisation: convs N(0, 0.01) in the stem and N(0, 1 / fan_in) elsewhere, BatchNorm weight 1 and
bias 1e-4, zero running mean. For the 1x1 convs this is ShuffleNetV2's N(0, 1 / weight.shape[1]); for
the depthwise kxk kernels ShuffleNetV2's rule gives std 1 (shape[1] is 1), we give 1 / k^2. Under the
BN that follows, a kernel's scale changes nothing but its effective learning rate (lr / |w|^2): with
std 1 a depthwise kernel learns hundreds to thousands of times slower than the 1x1 convs around it, and in
the hundreds of iterations of a CPU-sized run it never leaves its random start (cosine to its initial
value 1.000 after 100 classification + 400 detection iterations). See README, "What differs".
"""

from functools import partial

import torch
from torch import nn

from maskrcnn_benchmark.layers import make_norm
from maskrcnn_benchmark.modeling.registry import BACKBONES
from maskrcnn_benchmark.nas.arch import parse_arch
from maskrcnn_benchmark.nas.search_space import CHOICE_KERNELS, CHOICE_NAMES, get_search_space

from .backbone import attach_fpn

NORMS = ("BN", "SyncBN", "FrozenBN")


def _conv_norm(in_ch, out_ch, kernel, stride, norm, relu, depthwise=False):
    layers = [
        nn.Conv2d(
            in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, groups=in_ch if depthwise else 1, bias=False
        ),
        make_norm(norm, out_ch),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class ChoiceBlock(nn.Module):
    """Split/project, run the main branch, concatenate. Subclasses build `branch_main`."""

    def __init__(self, in_channels, out_channels, stride, kernel, norm):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        if stride == 2:
            if out_channels <= in_channels:
                raise ValueError(
                    f"a stride-2 unit needs out_channels > in_channels (the projection "
                    f"keeps in_channels), got {in_channels} -> {out_channels}"
                )
            branch_in, branch_out = in_channels, out_channels - in_channels
            self.branch_proj = nn.Sequential(
                *_conv_norm(in_channels, in_channels, kernel, 2, norm, relu=False, depthwise=True),
                *_conv_norm(in_channels, in_channels, 1, 1, norm, relu=True),
            )
        else:
            if in_channels != out_channels or in_channels % 2:
                raise ValueError(
                    f"a stride-1 unit needs equal, even channel counts, got {in_channels} -> {out_channels}"
                )
            branch_in = branch_out = out_channels // 2
            self.branch_proj = None
        self.branch_main = nn.Sequential(
            *self.main_layers(branch_in, out_channels // 2, branch_out, stride, kernel, norm)
        )

    def main_layers(self, in_ch, mid_ch, out_ch, stride, kernel, norm):
        raise NotImplementedError

    def forward(self, x):
        if self.stride == 1:
            passed, x = x[:, 0::2], x[:, 1::2]
        else:
            passed = self.branch_proj(x)
        return torch.cat((passed, self.branch_main(x)), dim=1)


class ShuffleBlock(ChoiceBlock):
    """ShuffleNetV2 unit with a kxk depthwise conv (choices shufflenet_3x3/5x5/7x7)."""

    def main_layers(self, in_ch, mid_ch, out_ch, stride, kernel, norm):
        return [
            *_conv_norm(in_ch, mid_ch, 1, 1, norm, relu=True),
            *_conv_norm(mid_ch, mid_ch, kernel, stride, norm, relu=False, depthwise=True),
            *_conv_norm(mid_ch, out_ch, 1, 1, norm, relu=True),
        ]


class XceptionBlock(ChoiceBlock):
    """Three (depthwise 3x3, 1x1) pairs: a larger receptive field at little extra cost."""

    def main_layers(self, in_ch, mid_ch, out_ch, stride, kernel, norm):
        return [
            *_conv_norm(in_ch, in_ch, 3, stride, norm, relu=False, depthwise=True),
            *_conv_norm(in_ch, mid_ch, 1, 1, norm, relu=True),
            *_conv_norm(mid_ch, mid_ch, 3, 1, norm, relu=False, depthwise=True),
            *_conv_norm(mid_ch, mid_ch, 1, 1, norm, relu=True),
            *_conv_norm(mid_ch, mid_ch, 3, 1, norm, relu=False, depthwise=True),
            *_conv_norm(mid_ch, out_ch, 1, 1, norm, relu=True),
        ]


def make_choice_block(choice, in_channels, out_channels, stride, norm="BN"):
    """The block of `choice` (index into CHOICE_NAMES)."""
    if not 0 <= choice < len(CHOICE_NAMES):
        raise ValueError(f"block choice must be in 0..{len(CHOICE_NAMES) - 1}, got {choice}")
    cls = XceptionBlock if CHOICE_NAMES[choice].startswith("xception") else ShuffleBlock
    return cls(in_channels, out_channels, stride, CHOICE_KERNELS[choice], norm)


def _check_norm(norm):
    if norm not in NORMS:
        raise ValueError(f"DetNAS norm must be one of {NORMS}, got {norm!r}")


def _init_weights(module):
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            std = 0.01 if name.startswith("stem") else 1.0 / m.weight[0].numel()  # 1 / fan_in
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.constant_(m.weight, 1.0)
            nn.init.constant_(m.bias, 1e-4)
            m.reset_running_stats()


class _DetNASBase(nn.Module):
    def __init__(self, size, norm, freeze_at):
        super().__init__()
        _check_norm(norm)
        if not 0 <= freeze_at <= 5:
            raise ValueError(f"DetNAS freeze_at must lie in 0..5 (stem + 4 stages), got {freeze_at}")
        self.freeze_at = freeze_at
        self.space = get_search_space(size)
        self.size = self.space.name
        self.norm = norm
        self.stage_out_channels = tuple(self.space.stage_channels)
        self._stage_ends = frozenset(self.space.stage_ends)
        self.stem = nn.Sequential(*_conv_norm(3, self.space.stem_channels, 3, 2, norm, relu=True))

    def _freeze(self):
        groups, start = [[self.stem]], 0
        for n in self.space.blocks_per_stage:
            groups.append(list(self.blocks[start : start + n]))
            start += n
        for modules in groups[: self.freeze_at]:
            for module in modules:
                for p in module.parameters():
                    p.requires_grad_(False)

    def _run(self, x, blocks):
        x = self.stem(x)
        outputs = []
        for i, block in enumerate(blocks):
            x = block(x)
            if i in self._stage_ends:
                outputs.append(x)
        return outputs


class DetNASBody(_DetNASBase):
    """A fixed architecture: `forward(x) -> [C2, C3, C4, C5]` at strides 4, 8, 16, 32.

    size: "300M" | "1.3G" | "3.8G"; arch: anything `parse_arch` accepts; norm: "BN" | "SyncBN" |
    "FrozenBN"; freeze_at: see the module docstring.
    """

    is_supernet = False

    def __init__(self, size, arch, norm="BN", freeze_at=0):
        super().__init__(size, norm, freeze_at)
        self.arch = parse_arch(arch, self.size)
        self.blocks = nn.ModuleList(
            make_choice_block(c, in_ch, out_ch, stride, norm)
            for c, (in_ch, out_ch, stride) in zip(self.arch, self.space.block_specs())
        )
        _init_weights(self)
        self._freeze()

    def forward(self, x):
        return self._run(x, self.blocks)


class DetNASSupernet(_DetNASBase):
    """The one-shot supernet: every block position holds all choices; `forward(x, arch)` runs the
    one path `arch` and returns [C2, C3, C4, C5]. Parameters off the path get no gradient."""

    is_supernet = True

    def __init__(self, size, norm="BN", freeze_at=0):
        super().__init__(size, norm, freeze_at)
        self.blocks = nn.ModuleList(
            nn.ModuleList(make_choice_block(c, in_ch, out_ch, stride, norm) for c in range(self.space.num_choices))
            for in_ch, out_ch, stride in self.space.block_specs()
        )
        _init_weights(self)
        self._freeze()

    def forward(self, x, arch):
        arch = parse_arch(arch, self.size)
        return self._run(x, [choices[c] for choices, c in zip(self.blocks, arch)])


# ---------------------------------------------------------------------------------------------------
# Detector backbones: body + FPN, registered by name (a "-search" suffix builds the supernet)
# ---------------------------------------------------------------------------------------------------

# registry name -> (size, released architecture used when MODEL.BACKBONE.ARCH is empty, RetinaNet)
DETNAS_BACKBONES = {
    "DETNAS-COCO-FPN-300M": ("300M", "FPN-300M", False),
    "DETNAS-COCO-FPN-1.3G": ("1.3G", "FPN-1.3G", False),
    "DETNAS-COCO-FPN-3.8G": ("3.8G", "FPN-3.8G", False),
    "DETNAS-COCO-RetinaNet-300M": ("300M", "RetinaNet-300M", True),
}


def build_detnas_fpn_backbone(cfg, size, released_arch, retinanet, supernet):
    """Body from MODEL.BACKBONE.{ARCH, NORM, FREEZE_CONV_BODY_AT}; FPN of width
    MODEL.RESNETS.BACKBONE_OUT_CHANNELS on C2..C5 + max-pooled P6, or for RetinaNet on C3..C5 +
    P6/P7. A supernet ignores ARCH when built (the engine uses it as the path to evaluate)."""
    b = cfg.MODEL.BACKBONE
    if supernet:
        body = DetNASSupernet(size, norm=b.NORM, freeze_at=b.FREEZE_CONV_BODY_AT)
    else:
        try:
            arch = parse_arch(b.ARCH or released_arch, size)
        except ValueError as e:
            raise ValueError(f"MODEL.BACKBONE.ARCH for {b.CONV_BODY}: {e}") from None
        body = DetNASBody(size, arch, norm=b.NORM, freeze_at=b.FREEZE_CONV_BODY_AT)
    return attach_fpn(cfg, body, p3p7=retinanet)


for _name, (_size, _released, _retinanet) in DETNAS_BACKBONES.items():
    BACKBONES.register(
        _name,
        partial(build_detnas_fpn_backbone, size=_size, released_arch=_released, retinanet=_retinanet, supernet=False),
    )
    BACKBONES.register(
        f"{_name}-search",
        partial(build_detnas_fpn_backbone, size=_size, released_arch=_released, retinanet=_retinanet, supernet=True),
    )
