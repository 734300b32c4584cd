import pytest
import torch
import torchvision.ops as tvo
from ops_testing import BAD_BATCH_INDICES, DEVICES, assert_batch_index_refused, random_rois

from maskrcnn_benchmark.layers import ROIAlign, roi_align


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
# 2 RoIs take the direct NCHW kernel, 300 the channel-block kernel (20 channels: one full, one partial block).
@pytest.mark.parametrize("num_rois", [2, 300])
def test_forward_backward_match_torchvision(device, aligned, sampling_ratio, num_rois):
    g = torch.Generator().manual_seed(num_rois + 10 * sampling_ratio + int(aligned))
    x = torch.randn(2, 20, 40, 56, generator=g).to(device)
    rois = random_rois(num_rois, 2, 160, 224, g).to(device)
    grad = torch.randn(num_rois, 20, 7, 6, generator=g).to(device)
    x_ours = x.clone().requires_grad_()
    x_ref = x.clone().requires_grad_()
    ours = roi_align(x_ours, rois, (7, 6), 0.25, sampling_ratio, aligned)
    ref = tvo.roi_align(x_ref, rois, (7, 6), 0.25, sampling_ratio, aligned)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    ours.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("aligned", [False, True])
def test_channels_last_input(aligned):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 24, 30, 30, generator=g)
    rois = random_rois(40, 2, 120, 120, g)
    ours = roi_align(x.contiguous(memory_format=torch.channels_last), rois, 5, 0.25, 2, aligned)
    torch.testing.assert_close(ours, tvo.roi_align(x, rois, 5, 0.25, 2, aligned), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_gradcheck_float64(aligned, sampling_ratio):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor(
        [[0, 0.4, 0.9, 5.3, 4.6], [1, -1.5, 2.2, 3.1, 7.8], [1, 1.1, 0.3, 2.0, 1.9]], dtype=torch.float64
    )
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, (3, 2), 1.0, sampling_ratio, aligned), (x,))


def test_float64_matches_torchvision():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 5, 16, 16, generator=g, dtype=torch.float64)
    rois = random_rois(30, 1, 16, 16, g, dtype=torch.float64)
    torch.testing.assert_close(roi_align(x, rois, 4, 1.0, 0, True), tvo.roi_align(x, rois, 4, 1.0, 0, True))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_cpu(dtype):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 18, 20, 20, generator=g)
    rois = random_rois(25, 1, 20, 20, g)
    ours = roi_align(x.to(dtype), rois.to(dtype), 3, 1.0, 2, True)
    assert ours.dtype == dtype
    ref = roi_align(x.to(dtype).float(), rois.to(dtype).float(), 3, 1.0, 2, True)
    torch.testing.assert_close(ours.float(), ref, rtol=1e-2, atol=1e-2)


def test_large_feature_map_uses_plain_kernels():
    # More than 1M pixels: a 16-channel block buffer would exceed 64 MB, so the NCHW kernels run.
    g = torch.Generator().manual_seed(9)
    x = torch.randn(1, 2, 1030, 1030, generator=g)
    rois = random_rois(400, 1, 2060, 2060, g)
    x_ours = x.clone().requires_grad_()
    x_ref = x.clone().requires_grad_()
    ours = roi_align(x_ours, rois, 4, 0.5, 2, True)
    ref = tvo.roi_align(x_ref, rois, 4, 0.5, 2, True)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    grad = torch.randn(ours.shape, generator=g)
    ours.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=1e-5, atol=1e-5)


def test_empty_rois():
    x = torch.randn(2, 4, 10, 10, requires_grad=True)
    out = roi_align(x, torch.zeros(0, 5), 7, 0.5, 2)
    assert out.shape == (0, 4, 7, 7)
    out.sum().backward()
    assert x.grad.shape == x.shape and not x.grad.any()


def test_module_and_repr():
    module = ROIAlign((7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=True)
    assert "output_size=(7, 7)" in repr(module) and "aligned=True" in repr(module)
    x = torch.randn(1, 3, 12, 12)
    rois = torch.tensor([[0, 1.0, 2.0, 30.0, 40.0]])
    torch.testing.assert_close(module(x, rois), tvo.roi_align(x, rois, 7, 0.25, 2, True))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: roi_align(torch.randn(4, 10, 10), torch.zeros(1, 5), 7, 1.0, 2), "4-D"),
        (lambda: roi_align(torch.randn(1, 4, 10, 10), torch.zeros(1, 4), 7, 1.0, 2), r"\[K, 5\]"),
        (lambda: roi_align(torch.randn(1, 4, 10, 10), torch.zeros(1, 5, dtype=torch.float64), 7, 1.0, 2), "same dtype"),
        (lambda: roi_align(torch.randn(1, 4, 10, 10), torch.zeros(1, 5, device="meta"), 7, 1.0, 2), "same device"),
        (lambda: roi_align(torch.randn(1, 4, 10, 10), torch.zeros(1, 5), 0, 1.0, 2), "output_size"),
        (lambda: roi_align(torch.randn(1, 4, 10, 10), torch.zeros(1, 5), (3, -1), 1.0, 2), "output_size"),
        (lambda: roi_align(torch.randn(1, 4, 10, 10), torch.tensor([[1.0, 0, 0, 4, 4]]), 2, 1.0, 2), "batch index"),
        (lambda: roi_align(torch.randn(1, 4, 10, 10), torch.tensor([[0.0, 0, 0, 4, 4]]), 2, 0.0, 2), "spatial_scale"),
    ],
)
def test_bad_inputs_raise(make, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        make()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("index", BAD_BATCH_INDICES)
def test_out_of_range_batch_index_raises_on_every_backend(device, index):
    def backward(grad, rois):
        return torch.ops.maskrcnn_benchmark._roi_align_backward(grad, rois, 1.0, 2, 2, 1, 4, 10, 10, 2, True)

    assert_batch_index_refused("roi_align", lambda x, rois: roi_align(x, rois, 2, 1.0, 2), backward, device, index)
