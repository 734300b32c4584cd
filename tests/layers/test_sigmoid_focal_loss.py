import pytest
import torch
import torchvision.ops as tvo
from ops_testing import DEVICES

from maskrcnn_benchmark.layers import SigmoidFocalLoss, sigmoid_focal_loss


def make_inputs(rows, cols, generator, dtype=torch.float32):
    logits = (torch.randn(rows, cols, generator=generator) * 4).to(dtype)
    labels = torch.randint(-1, cols + 1, (rows,), generator=generator)
    return logits, labels


def reference(logits, labels, gamma, alpha):
    """torchvision's loss on one-hot targets, in float64, with ignored rows zeroed."""
    targets = torch.zeros(logits.shape, dtype=torch.float64, device=logits.device)
    positive = labels > 0
    targets[positive.nonzero()[:, 0], labels[positive] - 1] = 1
    loss = tvo.sigmoid_focal_loss(logits.double(), targets, alpha, gamma, reduction="none")
    return loss * (labels >= 0).double()[:, None]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 1.5])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
@pytest.mark.parametrize("cols", [1, 7, 80])
def test_loss_and_grad_match_torchvision(device, gamma, alpha, cols):
    g = torch.Generator().manual_seed(cols)
    logits, labels = make_inputs(300, cols, g)
    logits, labels = logits.to(device), labels.to(device)
    x = logits.clone().requires_grad_()
    x_ref = logits.double().requires_grad_()
    loss = sigmoid_focal_loss(x, labels, gamma, alpha)
    ref = reference(x_ref, labels, gamma, alpha)
    assert loss.dtype == torch.float32
    # float32 against the exact (float64) values: 1e-5 relative.
    torch.testing.assert_close(loss.double(), ref.detach(), rtol=1e-5, atol=1e-30)
    # and against torchvision's own float32 computation.
    targets = torch.zeros_like(logits)
    targets[(labels > 0).nonzero()[:, 0], labels[labels > 0] - 1] = 1
    ref32 = tvo.sigmoid_focal_loss(logits, targets, alpha, gamma, reduction="none") * (labels >= 0)[:, None]
    torch.testing.assert_close(loss.detach(), ref32, rtol=1e-5, atol=1e-6)
    upstream = torch.rand(300, cols, generator=g).to(device)
    loss.backward(upstream)
    ref.backward(upstream.double())
    torch.testing.assert_close(x.grad.double(), x_ref.grad, rtol=1e-5, atol=1e-7)
    assert not x.grad[labels == -1].any()


def test_sum_gradient_broadcast():
    # The gradient of .sum() reaches the kernel as one broadcast value.
    g = torch.Generator().manual_seed(1)
    logits, labels = make_inputs(64, 10, g)
    x = logits.clone().requires_grad_()
    x_ref = logits.double().requires_grad_()
    sigmoid_focal_loss(x, labels, 2.0, 0.25).sum().backward()
    reference(x_ref, labels, 2.0, 0.25).sum().backward()
    torch.testing.assert_close(x.grad.double(), x_ref.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("gamma", [2.0, 1.5])
def test_gradcheck_float64(gamma):
    g = torch.Generator().manual_seed(2)
    logits, labels = make_inputs(6, 4, g, dtype=torch.float64)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: sigmoid_focal_loss(t, labels, gamma, 0.25), (logits,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_cpu(dtype):
    g = torch.Generator().manual_seed(3)
    logits, labels = make_inputs(50, 9, g)
    loss = sigmoid_focal_loss(logits.to(dtype), labels, 2.0, 0.25)
    assert loss.dtype == dtype
    ref = sigmoid_focal_loss(logits.to(dtype).float(), labels, 2.0, 0.25)
    torch.testing.assert_close(loss.float(), ref, rtol=1e-2, atol=1e-3)


def test_extreme_logits_are_finite():
    logits = torch.tensor([[-100.0, 100.0, 0.0, -30.0, 30.0]], requires_grad=True)
    for label in (0, 2):
        loss = sigmoid_focal_loss(logits, torch.tensor([label]), 2.0, 0.25)
        (grad,) = torch.autograd.grad(loss.sum(), logits)
        assert torch.isfinite(loss).all() and torch.isfinite(grad).all()


def test_module_sums_and_int32_labels():
    g = torch.Generator().manual_seed(4)
    logits, labels = make_inputs(20, 5, g)
    module = SigmoidFocalLoss(gamma=2.0, alpha=0.25)
    assert "gamma=2.0" in repr(module)
    total = module(logits, labels.int())
    torch.testing.assert_close(total.double(), reference(logits, labels, 2.0, 0.25).sum(), rtol=1e-5, atol=0)


def test_empty():
    x = torch.zeros(0, 80, requires_grad=True)
    loss = sigmoid_focal_loss(x, torch.zeros(0, dtype=torch.int64), 2.0, 0.25)
    assert loss.shape == (0, 80)
    loss.sum().backward()
    assert x.grad.shape == (0, 80)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: sigmoid_focal_loss(torch.zeros(4), torch.zeros(4, dtype=torch.int64), 2.0, 0.25), "2-D"),
        (lambda: sigmoid_focal_loss(torch.zeros(4, 3), torch.zeros(5, dtype=torch.int64), 2.0, 0.25), "one label"),
        (lambda: sigmoid_focal_loss(torch.zeros(4, 3), torch.zeros(4), 2.0, 0.25), "int64 or int32"),
        (lambda: sigmoid_focal_loss(torch.zeros(4, 3), torch.tensor([0, 1, 4, 0]), 2.0, 0.25), "labels must be"),
        (lambda: sigmoid_focal_loss(torch.zeros(4, 3), torch.tensor([0, -2, 1, 0]), 2.0, 0.25), "labels must be"),
        (lambda: sigmoid_focal_loss(torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64), -1.0, 0.25), "gamma"),
    ],
)
def test_bad_inputs_raise(make, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        make()
