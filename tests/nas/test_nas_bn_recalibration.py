import torch
from torch import nn

from maskrcnn_benchmark.layers import FrozenBatchNorm2d, make_norm
from maskrcnn_benchmark.modeling.backbone.detnas import DetNASSupernet
from maskrcnn_benchmark.nas import batch_norm_layers, recalibrate_bn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.bn2 = make_norm("SyncBN", 6)
        self.frozen = FrozenBatchNorm2d(6)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(6, 4)
        self.bn3 = nn.BatchNorm1d(4)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.frozen(self.bn2(self.conv2(x)))
        x = self.drop(x.mean((2, 3)))
        return self.bn3(self.fc(x))


def test_recalibrated_stats_are_exact_over_unequal_batches():
    torch.manual_seed(0)
    net = Net()
    net.frozen.running_mean.fill_(0.3)
    frozen_before = {k: v.clone() for k, v in net.frozen.state_dict().items()}
    net.train()
    net.drop.eval()  # a mixed mode that must come back as it was
    modes = {name: m.training for name, m in net.named_modules()}
    for bn in batch_norm_layers(net):  # stale statistics that must not leak into the result
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(9.0)
    batches = [torch.randn(n, 3, 10, 10) * 3 + 1 for n in (5, 2, 7, 3)]

    captured = {name: [] for name in ("bn1", "bn2", "bn3")}
    seen_modes = {}

    def capture(name):
        def hook(m, inputs):
            captured[name].append(inputs[0].detach().double())
            seen_modes[name] = m.training
            seen_modes["drop"] = net.drop.training
            seen_modes["conv1"] = net.conv1.training

        return hook

    handles = [getattr(net, n).register_forward_pre_hook(capture(n)) for n in captured]
    samples = recalibrate_bn(net, batches, lambda model, batch: model(batch), progress=False)
    for h in handles:
        h.remove()

    assert samples == 17
    assert seen_modes == {"bn1": True, "bn2": True, "bn3": True, "drop": False, "conv1": False}
    for name, xs in captured.items():
        bn = getattr(net, name)
        x = torch.cat([t.transpose(0, 1).reshape(t.shape[1], -1) for t in xs], dim=1)  # [C, n]
        assert torch.allclose(bn.running_mean.double(), x.mean(1), rtol=1e-6, atol=1e-7)
        assert torch.allclose(bn.running_var.double(), x.var(1, unbiased=True), rtol=1e-6, atol=1e-7)
        assert int(bn.num_batches_tracked) == 4
    assert {name: m.training for name, m in net.named_modules()} == modes
    for k, v in net.frozen.state_dict().items():
        assert torch.equal(v, frozen_before[k])
    assert "forward" not in vars(net.bn1)  # the temporary local forward is gone


def test_num_batches_limits_the_passes_and_grad_is_off():
    torch.manual_seed(0)
    net = Net()
    calls = []

    def forward(model, batch):
        calls.append(torch.is_grad_enabled())
        return model(batch)

    batches = (torch.randn(4, 3, 8, 8) for _ in range(10))  # a generator: no len()
    samples = recalibrate_bn(net, batches, forward, num_batches=3, progress=False)
    assert samples == 12 and calls == [False, False, False]


def test_supernet_path_recalibration_touches_only_the_path():
    torch.manual_seed(0)
    sn = DetNASSupernet("300M").eval()
    arch = (1,) * 20
    batches = [torch.randn(2, 3, 32, 32) for _ in range(2)]
    recalibrate_bn(sn, batches, lambda m, b: m(b, arch), progress=False)
    on_path = sn.blocks[0][1].branch_main[1]
    off_path = sn.blocks[0][2].branch_main[1]
    assert int(on_path.num_batches_tracked) == 2 and not torch.all(on_path.running_var == 1)
    # off the path: reset, never fed
    assert int(off_path.num_batches_tracked) == 0
    assert torch.all(off_path.running_mean == 0) and torch.all(off_path.running_var == 1)
    assert not sn.training
