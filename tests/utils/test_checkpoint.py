import collections
import logging

import pytest
import torch
from torch import nn

from maskrcnn_benchmark.solver import WarmupMultiStepLR
from maskrcnn_benchmark.utils.checkpoint import Checkpointer, CheckpointError, load_state_dict_reported


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(collections.OrderedDict(conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4), head=nn.Linear(4, 2)))


def _trained(tmp_path):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = WarmupMultiStepLR(opt, [3], warmup_iters=2)
    for _ in range(4):
        opt.zero_grad()
        model.conv(torch.randn(2, 3, 5, 5)).sum().backward()
        opt.step()
        sched.step()
    ckpt = Checkpointer(model, opt, sched, save_dir=str(tmp_path), meta={"conv_body": "X"})
    ckpt.save("model_0000004", iteration=4)
    return model, opt, sched


def test_resume_restores_model_optimizer_scheduler_and_iteration(tmp_path):
    model, opt, sched = _trained(tmp_path)
    model2 = _model(seed=1)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    sched2 = WarmupMultiStepLR(opt2, [3], warmup_iters=2)
    extra = Checkpointer(model2, opt2, sched2, save_dir=str(tmp_path), meta={"conv_body": "X"}).load()
    assert extra == {"iteration": 4}
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert torch.equal(a, b), k
    assert sched2.last_epoch == sched.last_epoch
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    m1 = opt.state_dict()["state"][0]["momentum_buffer"]
    m2 = opt2.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(m1, m2)


def test_resume_refuses_another_conv_body(tmp_path):
    _trained(tmp_path)
    with pytest.raises(CheckpointError, match="conv_body"):
        Checkpointer(_model(), save_dir=str(tmp_path), meta={"conv_body": "Y"}).load()


def test_missing_file_named_by_last_checkpoint(tmp_path):
    _trained(tmp_path)
    (tmp_path / "model_0000004.pth").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        Checkpointer(_model(), save_dir=str(tmp_path)).load()


def test_pretrained_load_reports_missing_unexpected_and_mismatched(tmp_path, caplog):
    src = _model(seed=3).state_dict()
    del src["head.weight"]
    src["extra.weight"] = torch.zeros(1)
    src["conv.bias"] = torch.zeros(7)
    path = tmp_path / "pre.pth"
    torch.save({"model": src}, path)
    model = _model(seed=4)
    before = model.head.weight.clone()
    with caplog.at_level(logging.INFO):
        Checkpointer(model, save_dir="").load(str(path))
    assert torch.equal(model.conv.weight, src["conv.weight"])
    assert torch.equal(model.head.weight, before)
    text = caplog.text
    assert "head.weight" in text and "extra.weight" in text and "conv.bias" in text


def test_nothing_matching_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model": {"foo.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="no parameter"):
        Checkpointer(_model(), save_dir="").load(str(path))


def test_module_prefix_of_ddp_checkpoints_is_stripped():
    src = {f"module.{k}": v for k, v in _model(seed=5).state_dict().items()}
    model = _model(seed=6)
    report = load_state_dict_reported(model, src, "ddp checkpoint")
    assert not report["missing"] and not report["unexpected"]
    assert torch.equal(model.conv.weight, src["module.conv.weight"])


class _NotATensor:
    pass


def test_unsafe_file_is_refused(tmp_path):
    path = tmp_path / "unsafe.pth"
    torch.save({"model": _NotATensor()}, path)
    with pytest.raises(CheckpointError, match="cannot read"):
        Checkpointer(_model(), save_dir="").load(str(path))


def test_missing_weight_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Checkpointer(_model(), save_dir="").load(str(tmp_path / "nope.pth"))


def test_check_resume_meta_strict_and_lenient():
    from maskrcnn_benchmark.utils.checkpoint import check_resume_meta

    saved, current = {"size": "300M", "arch": "supernet"}, {"size": "1.3G", "arch": "supernet", "norm": "BN"}
    with pytest.raises(CheckpointError, match=r"ck.pth was written for size='300M' but this run asks for '1.3G'"):
        check_resume_meta("ck.pth", saved, current, ("arch", "size"))
    check_resume_meta("ck.pth", saved, dict(current, size="300M"), ("arch", "size", "norm"), strict=False)
    with pytest.raises(CheckpointError, match="norm=None"):
        check_resume_meta("ck.pth", saved, dict(current, size="300M"), ("norm",))
