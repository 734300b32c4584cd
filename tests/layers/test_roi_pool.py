import pytest
import torch
import torchvision.ops as tvo
from ops_testing import BAD_BATCH_INDICES, DEVICES, assert_batch_index_refused, random_rois

from maskrcnn_benchmark.layers import ROIPool, roi_pool


@pytest.mark.parametrize("device", DEVICES)
# 2 RoIs take the direct NCHW kernel, 300 the channel-block kernel (20 channels: one full, one partial block).
@pytest.mark.parametrize("num_rois", [2, 300])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_backward_match_torchvision(device, num_rois, dtype):
    g = torch.Generator().manual_seed(num_rois)
    x = torch.randn(2, 20, 40, 56, generator=g, dtype=dtype).to(device)
    rois = random_rois(num_rois, 2, 160, 224, g, dtype=dtype).to(device)
    grad = torch.randn(num_rois, 20, 7, 6, generator=g, dtype=dtype).to(device)
    x_ours = x.clone().requires_grad_()
    x_ref = x.clone().requires_grad_()
    ours = roi_pool(x_ours, rois, (7, 6), 0.25)
    ref = tvo.roi_pool(x_ref, rois, (7, 6), 0.25)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    ours.backward(grad)
    ref.backward(grad)
    # The gradient sums over overlapping RoIs; on CUDA both add with atomics in no fixed order.
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=tol, atol=tol)


def test_ties_keep_first_maximum():
    # Constant input: every bin ties, the gradient must go to the first pixel of each bin (row-major).
    x = torch.ones(1, 17, 8, 8, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    rois = torch.tensor([[0, 0.0, 0.0, 7.0, 7.0], [0, 1.0, 2.0, 6.0, 5.0]])
    roi_pool(x, rois, 3, 1.0).sum().backward()
    tvo.roi_pool(x_ref, rois, 3, 1.0).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=0)


def test_channels_last_input():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 24, 30, 30, generator=g)
    rois = random_rois(40, 2, 120, 120, g)
    ours = roi_pool(x.contiguous(memory_format=torch.channels_last), rois, 5, 0.25)
    torch.testing.assert_close(ours, tvo.roi_pool(x, rois, 5, 0.25), rtol=0, atol=0)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor(
        [[0, 0.4, 0.9, 5.3, 4.6], [1, -1.5, 2.2, 3.1, 7.8], [1, 1.1, 0.3, 2.0, 1.9]], dtype=torch.float64
    )
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, rois, (3, 2), 1.0), (x,))


def test_large_feature_map_uses_plain_kernels():
    # More than 1M pixels: a 16-channel block buffer would exceed 64 MB, so the NCHW kernels run.
    g = torch.Generator().manual_seed(9)
    x = torch.randn(1, 2, 1030, 1030, generator=g)
    rois = random_rois(400, 1, 2060, 2060, g)
    x_ours = x.clone().requires_grad_()
    x_ref = x.clone().requires_grad_()
    ours = roi_pool(x_ours, rois, 4, 0.5)
    ref = tvo.roi_pool(x_ref, rois, 4, 0.5)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    grad = torch.randn(ours.shape, generator=g)
    ours.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=1e-5, atol=1e-5)


def test_empty_rois():
    x = torch.randn(2, 4, 10, 10, requires_grad=True)
    out = roi_pool(x, torch.zeros(0, 5), 7, 0.5)
    assert out.shape == (0, 4, 7, 7)
    out.sum().backward()
    assert x.grad.shape == x.shape and not x.grad.any()


def test_module_and_repr():
    module = ROIPool(7, spatial_scale=0.5)
    assert "output_size=(7, 7)" in repr(module)
    x = torch.randn(1, 3, 12, 12)
    rois = torch.tensor([[0, 1.0, 2.0, 20.0, 18.0]])
    torch.testing.assert_close(module(x, rois), tvo.roi_pool(x, rois, 7, 0.5))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: roi_pool(torch.randn(1, 4, 10), torch.zeros(1, 5), 7, 1.0), "4-D"),
        (lambda: roi_pool(torch.randn(1, 4, 10, 10), torch.zeros(2, 6), 7, 1.0), r"\[K, 5\]"),
        (lambda: roi_pool(torch.randn(1, 4, 10, 10), torch.zeros(1, 5, dtype=torch.float64), 7, 1.0), "same dtype"),
        (lambda: roi_pool(torch.randn(1, 4, 10, 10), torch.zeros(1, 5), (0, 2), 1.0), "output_size"),
        (lambda: roi_pool(torch.randn(1, 4, 10, 10), torch.tensor([[-1.0, 0, 0, 4, 4]]), 2, 1.0), "batch index"),
    ],
)
def test_bad_inputs_raise(make, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        make()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("index", BAD_BATCH_INDICES)
def test_out_of_range_batch_index_raises_on_every_backend(device, index):
    def backward(grad, rois):
        return torch.ops.maskrcnn_benchmark._roi_pool_backward(
            grad, rois, torch.zeros(2, 4, 2, 2, dtype=torch.int32, device=device), 1.0, 2, 2, 1, 4, 10, 10
        )

    assert_batch_index_refused("roi_pool", lambda x, rois: roi_pool(x, rois, 2, 1.0), backward, device, index)
