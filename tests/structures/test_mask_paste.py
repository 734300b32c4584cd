import math

import torch
import torch.nn.functional as F

from maskrcnn_benchmark.modeling.roi_heads.mask_head.inference import MaskPostProcessor
from maskrcnn_benchmark.structures.mask_paste import Masker
from maskrcnn_benchmark.structures.bounding_box import BoxList


def _reference_paste(mask, box, height, width, padding):
    """Pixel by pixel: bilinear sample of the zero-padded mask at each pixel centre's position in
    the box's cell grid; zero outside the box grown by `padding` cells."""
    m = mask.shape[-1]
    mask = mask.tolist()
    x0, y0, x1, y1 = box
    cw, ch = (x1 - x0) / m, (y1 - y0) / m
    out = [[0.0] * width for _ in range(height)]

    def cell(i, j):
        return mask[i][j] if 0 <= i < m and 0 <= j < m else 0.0

    for y in range(height):
        for x in range(width):
            cx, cy = x + 0.5, y + 0.5
            if not (x0 - padding * cw <= cx <= x1 + padding * cw and y0 - padding * ch <= cy <= y1 + padding * ch):
                continue
            u, v = (cx - x0) / cw - 0.5, (cy - y0) / ch - 0.5
            j0, i0 = math.floor(u), math.floor(v)
            fu, fv = u - j0, v - i0
            out[y][x] = (
                (1 - fv) * (1 - fu) * cell(i0, j0)
                + (1 - fv) * fu * cell(i0, j0 + 1)
                + fv * (1 - fu) * cell(i0 + 1, j0)
                + fv * fu * cell(i0 + 1, j0 + 1)
            )
    return torch.tensor(out)


def test_soft_paste_matches_pixel_reference():
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(3, 1, 5, 5, generator=g)
    boxes = torch.tensor([[3.2, 4.7, 17.9, 12.1], [-4.0, 10.0, 6.5, 29.0], [20.0, 1.0, 31.0, 6.0]])
    for padding in (0, 1):
        out = Masker(threshold=-1, padding=padding).paste(masks, boxes, (30, 24))
        assert out.shape == (3, 1, 24, 30) and out.dtype == torch.float32
        for i in range(3):
            expected = _reference_paste(masks[i, 0], boxes[i].tolist(), 24, 30, padding)
            torch.testing.assert_close(out[i, 0], expected, rtol=1e-5, atol=1e-5)


def test_soft_paste_matches_grid_sample_over_the_whole_image():
    g = torch.Generator().manual_seed(1)
    masks = torch.rand(4, 1, 28, 28, generator=g)
    xy = torch.rand(4, 2, generator=g) * 60
    boxes = torch.cat([xy, xy + torch.rand(4, 2, generator=g) * 50 + 2], 1)
    height, width = 80, 100
    out = Masker(threshold=-1, padding=1).paste(masks, boxes, (width, height))
    ys = torch.arange(height) + 0.5
    xs = torch.arange(width) + 0.5
    for i in range(4):
        x0, y0, x1, y1 = boxes[i]
        gx = (xs - x0) / (x1 - x0) * 2 - 1
        gy = (ys - y0) / (y1 - y0) * 2 - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
        expected = F.grid_sample(masks[i : i + 1], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[
            0, 0
        ]
        torch.testing.assert_close(out[i, 0], expected, rtol=1e-5, atol=1e-5)


def test_full_mask_pastes_exactly_the_box_pixels():
    masks = torch.ones(1, 1, 28, 28)
    box = BoxList(torch.tensor([[10.0, 5.0, 20.0, 25.0]]), (32, 30))
    (out,) = Masker(threshold=0.5, padding=1)([masks], [box])
    assert out.shape == (1, 1, 30, 32) and out.dtype == torch.uint8
    expected = torch.zeros(30, 32, dtype=torch.uint8)
    expected[5:25, 10:20] = 1
    assert torch.equal(out[0, 0], expected)


def test_box_outside_image_and_empty_input():
    masker = Masker()
    out = masker.paste(torch.ones(2, 1, 4, 4), torch.tensor([[50.0, 50, 60, 60], [-9, -9, -1, -1]]), (20, 10))
    assert out.shape == (2, 1, 10, 20) and out.sum() == 0
    assert masker.paste(torch.zeros(0, 1, 4, 4), torch.zeros(0, 4), (20, 10)).shape == (0, 1, 10, 20)


def test_mask_post_processor_selects_the_detected_class():
    logits = torch.randn(3, 4, 6, 6)
    a = BoxList(torch.rand(2, 4), (10, 10))
    a.add_field("labels", torch.tensor([3, 1]))
    a.add_field("scores", torch.tensor([0.9, 0.8]))
    b = BoxList(torch.rand(1, 4), (10, 10))
    b.add_field("labels", torch.tensor([2]))
    b.add_field("scores", torch.tensor([0.7]))
    out = MaskPostProcessor()(logits, [a, b])
    torch.testing.assert_close(out[0].get_field("mask"), logits[[0, 1], [3, 1]][:, None].sigmoid())
    torch.testing.assert_close(out[1].get_field("mask"), logits[2:3, 2:3].sigmoid())
    assert out[0].get_field("scores") is a.get_field("scores") and not a.has_field("mask")
