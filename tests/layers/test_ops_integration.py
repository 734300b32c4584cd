"""Autocast, torch.compile and CUDA-vs-CPU checks of the ops together."""

import pytest
import torch
from ops_testing import needs_cuda, random_rois

from maskrcnn_benchmark.layers import batched_nms, nms, roi_align, roi_pool, sigmoid_focal_loss


def inputs(generator, device="cpu"):
    x = torch.randn(2, 20, 24, 32, generator=generator)
    rois = random_rois(60, 2, 96, 128, generator)
    boxes = rois[4:, 1:].clone()
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    scores = torch.rand(len(boxes), generator=generator)
    return x.to(device), rois.to(device), boxes.to(device), scores.to(device)


def test_autocast_cpu_computes_in_float32():
    g = torch.Generator().manual_seed(0)
    x, rois, boxes, scores = inputs(g)
    logits = torch.randn(30, 6, generator=g)
    labels = torch.randint(0, 7, (30,), generator=g)
    float32_result = roi_align(x, rois, 5, 0.25, 2, True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        # float32 inputs stay float32 and give exactly the float32 results
        assert torch.equal(roi_align(x, rois, 5, 0.25, 2, True), float32_result)
        # bfloat16 features (e.g. from a conv under autocast) with float32 RoIs: computed in float32
        x16 = x.to(torch.bfloat16)
        out = roi_align(x16, rois, 5, 0.25, 2, True)
        pooled = roi_pool(x16, rois, 5, 0.25)
        keep = nms(boxes.to(torch.bfloat16), scores.to(torch.bfloat16), 0.5)
        keep_b = batched_nms(boxes.to(torch.bfloat16), scores.to(torch.bfloat16), torch.arange(len(boxes)) % 3, 0.5)
        loss = sigmoid_focal_loss(logits.to(torch.bfloat16), labels, 2.0, 0.25)
    assert out.dtype == torch.bfloat16 and pooled.dtype == torch.bfloat16 and loss.dtype == torch.bfloat16
    assert torch.equal(out, roi_align(x16.float(), rois, 5, 0.25, 2, True).to(torch.bfloat16))
    assert torch.equal(pooled, roi_pool(x16.float(), rois, 5, 0.25).to(torch.bfloat16))
    assert torch.equal(keep, nms(boxes.to(torch.bfloat16).float(), scores.to(torch.bfloat16).float(), 0.5))
    assert torch.equal(
        keep_b,
        batched_nms(
            boxes.to(torch.bfloat16).float(), scores.to(torch.bfloat16).float(), torch.arange(len(boxes)) % 3, 0.5
        ),
    )
    assert torch.equal(
        loss, sigmoid_focal_loss(logits.to(torch.bfloat16).float(), labels, 2.0, 0.25).to(torch.bfloat16)
    )


def test_autocast_backward_reaches_bfloat16_input():
    g = torch.Generator().manual_seed(1)
    x, rois, _, _ = inputs(g)
    x16 = x.to(torch.bfloat16).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = roi_align(x16, rois, 5, 0.25, 2, True)
    out.float().sum().backward()
    ref = x16.detach().float().requires_grad_()
    roi_align(ref, rois, 5, 0.25, 2, True).sum().backward()
    assert x16.grad.dtype == torch.bfloat16
    torch.testing.assert_close(x16.grad.float(), ref.grad, rtol=1e-2, atol=1e-2)


def test_torch_compile_roi_align_and_nms():
    g = torch.Generator().manual_seed(2)
    x, rois, boxes, scores = inputs(g)

    def detect(features, rois, boxes, scores):
        pooled = roi_align(features, rois, 7, 0.25, 2, True)
        keep = nms(boxes, scores, 0.5)
        return pooled.mean(dim=(2, 3)), keep

    compiled = torch.compile(detect, backend="aot_eager")
    xc = x.clone().requires_grad_()
    xe = x.clone().requires_grad_()
    pooled_c, keep_c = compiled(xc, rois, boxes, scores)
    pooled_e, keep_e = detect(xe, rois, boxes, scores)
    torch.testing.assert_close(pooled_c, pooled_e)
    assert torch.equal(keep_c, keep_e)
    pooled_c.sum().backward()
    pooled_e.sum().backward()
    torch.testing.assert_close(xc.grad, xe.grad)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_cuda_matches_cpu(dtype):
    g = torch.Generator().manual_seed(3)
    x, rois, boxes, scores = inputs(g)
    tol = dict(rtol=1e-2, atol=1e-2) if dtype in (torch.float16, torch.bfloat16) else dict(rtol=1e-7, atol=1e-9)
    for op in (lambda t, r: roi_align(t, r, 5, 0.25, 0, False), lambda t, r: roi_pool(t, r, 5, 0.25)):
        x_cpu = x.to(dtype).requires_grad_()
        x_gpu = x.to(dtype).cuda().requires_grad_()
        out_cpu = op(x_cpu, rois.to(dtype))
        out_gpu = op(x_gpu, rois.to(dtype).cuda())
        assert out_gpu.dtype == dtype
        torch.testing.assert_close(out_gpu.cpu().float(), out_cpu.float(), **tol)
        grad = torch.randn(out_cpu.shape, generator=g).to(dtype)
        out_cpu.backward(grad)
        out_gpu.backward(grad.cuda())
        torch.testing.assert_close(x_gpu.grad.cpu().float(), x_cpu.grad.float(), **tol)
    boxes_d, scores_d = boxes.to(dtype), scores.to(dtype)
    assert torch.equal(nms(boxes_d.cuda(), scores_d.cuda(), 0.5).cpu(), nms(boxes_d, scores_d, 0.5))
    idxs = torch.arange(len(boxes)) % 4
    assert torch.equal(
        batched_nms(boxes_d.cuda(), scores_d.cuda(), idxs.cuda(), 0.5).cpu(), batched_nms(boxes_d, scores_d, idxs, 0.5)
    )
    logits = (torch.randn(40, 9, generator=g) * 4).to(dtype)
    labels = torch.randint(-1, 10, (40,), generator=g)
    l_cpu = logits.clone().requires_grad_()
    l_gpu = logits.cuda().requires_grad_()
    loss_cpu = sigmoid_focal_loss(l_cpu, labels, 2.0, 0.25)
    loss_gpu = sigmoid_focal_loss(l_gpu, labels.cuda(), 2.0, 0.25)
    torch.testing.assert_close(loss_gpu.cpu().float(), loss_cpu.float(), **tol)
    loss_cpu.sum().backward()
    loss_gpu.sum().backward()
    torch.testing.assert_close(l_gpu.grad.cpu().float(), l_cpu.grad.float(), **tol)


@needs_cuda
def test_cuda_autocast_and_device_mismatch():
    g = torch.Generator().manual_seed(4)
    x, rois, _, _ = inputs(g, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        out = roi_align(x.half(), rois, 5, 0.25, 2, True)
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), roi_align(x.half().float(), rois, 5, 0.25, 2, True), rtol=1e-3, atol=1e-3)
    with pytest.raises(RuntimeError, match="same device"):
        roi_align(x, rois.cpu(), 5, 0.25, 2, True)
    with pytest.raises(RuntimeError, match="same device"):
        nms(x.new_zeros(3, 4), torch.zeros(3), 0.5)
