"""Shared helpers of the ops tests: devices to parametrise over and realistic random RoIs."""

import pytest
import torch

# `-m cuda` selects the CUDA cases; without a device they are skipped.
CUDA_MARKS = (pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=CUDA_MARKS)]


def needs_cuda(test):
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def random_rois(num, batch_size, image_h, image_w, generator, dtype=torch.float32):
    """[num, 5] RoIs (batch_index, x1, y1, x2, y2) in image coordinates: most inside the image, some partly
    or fully outside it, some tiny (< 1 pixel), some far larger than the image, some degenerate (x2 < x1)."""
    scale = max(image_h, image_w)
    centre = torch.rand(num, 2, generator=generator) * torch.tensor([image_w * 1.2, image_h * 1.2]) - torch.tensor(
        [image_w * 0.1, image_h * 0.1]
    )
    size = torch.exp(torch.empty(num, 2).uniform_(-3.0, 0.5, generator=generator)) * scale
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=1)
    if num >= 4:
        boxes[0] = torch.tensor([-0.3 * image_w, -0.2 * image_h, 2.5 * image_w, 3.0 * image_h])  # huge
        boxes[1] = torch.tensor([3.2, 4.1, 3.6, 4.3])  # tiny
        boxes[2] = torch.tensor([image_w + 2.0, 1.0, image_w + 9.0, 6.0])  # outside on the right
        boxes[3] = torch.tensor([6.0, 5.0, 2.0, 3.0])  # x2 < x1, y2 < y1
    batch_index = torch.randint(0, batch_size, (num, 1), generator=generator).float()
    return torch.cat([batch_index, boxes], dim=1).to(dtype)


# Batch indices no image of a batch of one has: past the end, negative, NaN.
BAD_BATCH_INDICES = [1.0, -1.0, float("nan")]


def assert_batch_index_refused(op, forward, backward, device, index):
    """`forward(x, rois)` and `backward(grad, rois)` of RoI op `op` on one 1x4x10x10 image (2x2 output)
    must both refuse a RoI whose batch index is `index`, naming the op and the offending entry."""
    x = torch.randn(1, 4, 10, 10, device=device)
    rois = torch.tensor([[0.0, 0, 0, 4, 4], [index, 1, 1, 5, 5]], device=device)
    with pytest.raises(RuntimeError, match=rf"{op}: rois\[1, 0\] is the batch index and must lie in \[0, 1\)"):
        forward(x, rois)
    with pytest.raises(RuntimeError, match=rf"{op} backward: rois\[1, 0\] is the batch index"):
        backward(torch.ones(2, 4, 2, 2, device=device), rois)
