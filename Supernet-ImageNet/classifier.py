"""ImageNet classifier around a DetNAS body: body -> 1x1 conv to `last_channels` (+ BN + ReLU) ->
global average pool -> linear, as ShuffleNetV2. Only `body` is exported for detection; the head is
ImageNet-only."""

from torch import nn

from maskrcnn_benchmark.layers import make_norm
from maskrcnn_benchmark.modeling.backbone.detnas import DetNASBody, DetNASSupernet

# ShuffleNetV2's last conv width for each size (the 3.8G model keeps its C5 width, as released)
DEFAULT_LAST_CHANNELS = {"300M": 1024, "1.3G": 1024, "3.8G": 1728}


class DetNASClassifier(nn.Module):
    """arch None: the supernet (`forward(x, arch)`); else the fixed body of `arch`."""

    def __init__(self, size, num_classes, arch=None, norm="BN", last_channels=None):
        super().__init__()
        self.body = DetNASSupernet(size, norm=norm) if arch is None else DetNASBody(size, arch, norm=norm)
        self.is_supernet = self.body.is_supernet
        last = last_channels or DEFAULT_LAST_CHANNELS[self.body.size]
        self.conv_last = nn.Sequential(
            nn.Conv2d(self.body.stage_out_channels[-1], last, 1, bias=False),
            make_norm(norm, last),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(last, num_classes, bias=False)
        nn.init.normal_(self.conv_last[0].weight, 0.0, 1.0 / self.conv_last[0].weight.shape[1])
        nn.init.constant_(self.conv_last[1].weight, 1.0)
        nn.init.constant_(self.conv_last[1].bias, 1e-4)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)

    def forward(self, x, arch=None):
        if self.is_supernet:
            if arch is None:
                raise ValueError("the supernet classifier needs arch= (one path per forward)")
            c5 = self.body(x, arch)[-1]
        else:
            c5 = self.body(x)[-1]
        return self.fc(self.pool(self.conv_last(c5)).flatten(1))


def parameter_groups(model, weight_decay):
    """Weight decay on conv and linear weights only; BN parameters and biases get none."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if isinstance(module, (nn.Conv2d, nn.Linear)) and name == "weight":
                decay.append(p)
            else:
                no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
