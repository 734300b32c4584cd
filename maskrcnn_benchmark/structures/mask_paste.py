"""Pasting box-relative mask probabilities into image-sized masks (pure geometry, used by the COCO
evaluation and by anyone drawing Mask R-CNN outputs)."""

import torch


def _bilinear_weights(box_start, box_end, resolution, length, padding):
    """Weights [length, resolution] of the mask cells for the pixels of one image axis.

    Mask cell j covers [start + j * size / M, start + (j + 1) * size / M) of the box. Pixel p
    (centre p + 0.5) sits at cell coordinate u = (p + 0.5 - start) / size * M - 0.5 and takes
    weight max(0, 1 - |u - j|) from cell j: bilinear interpolation with zeros outside the mask.
    Pixels whose centre lies more than `padding` cells outside the box get no weight.
    """
    size = max(box_end - box_start, 1e-6)
    cell = size / resolution
    centres = torch.arange(length, dtype=torch.float32) + 0.5
    u = (centres - box_start) / cell - 0.5
    weights = (1 - (u[:, None] - torch.arange(resolution, dtype=torch.float32)).abs()).clamp(min=0)
    inside = (centres >= box_start - padding * cell) & (centres <= box_end + padding * cell)
    return weights * inside[:, None]


class Masker:
    """Pastes [N, 1, M, M] mask probabilities into [N, 1, H, W] image-sized masks.

    Each mask is stretched over its box by bilinear interpolation in continuous coordinates, with
    zeros beyond the mask's border, and cut off `padding` mask cells outside the box (with
    bilinear weights that already vanish one cell out, padding >= 1 cuts nothing). With
    `threshold` >= 0 the result is uint8 (probability > threshold); below 0, float probabilities.
    Work is restricted to the pixels around each box.
    """

    def __init__(self, threshold=0.5, padding=1):
        self.threshold = threshold
        self.padding = padding

    def __call__(self, masks, boxes):
        """masks: list of [N_i, 1, M, M]; boxes: list of BoxLists (size = (W, H)) -> list of
        [N_i, 1, H, W]."""
        if len(masks) != len(boxes):
            raise ValueError(f"Masker got {len(masks)} mask tensors for {len(boxes)} BoxLists")
        return [self.paste(m, b.convert("xyxy").bbox, b.size) for m, b in zip(masks, boxes)]

    def paste(self, masks, boxes, image_size):
        width, height = (int(round(float(v))) for v in image_size)
        num, resolution = masks.shape[0], masks.shape[-1]
        if masks.shape[1:] != (1, resolution, resolution):
            raise ValueError(f"Masker expects masks [N, 1, M, M], got {tuple(masks.shape)}")
        if boxes.shape[0] != num:
            raise ValueError(f"Masker got {num} masks for {boxes.shape[0]} boxes")
        thresholded = self.threshold >= 0
        out = torch.zeros((num, 1, height, width), dtype=torch.uint8 if thresholded else torch.float32)
        masks_cpu = masks.detach().float().cpu()
        boxes_cpu = boxes.detach().float().cpu().tolist()
        for i, (x0, y0, x1, y1) in enumerate(boxes_cpu):
            # Only pixels within padding + 1 cells of the box can get weight.
            margin_x = (self.padding + 1) * max(x1 - x0, 1e-6) / resolution
            margin_y = (self.padding + 1) * max(y1 - y0, 1e-6) / resolution
            c0, c1 = max(int(x0 - margin_x), 0), min(int(x1 + margin_x) + 1, width)
            r0, r1 = max(int(y0 - margin_y), 0), min(int(y1 + margin_y) + 1, height)
            if c0 >= c1 or r0 >= r1:
                continue
            wx = _bilinear_weights(x0 - c0, x1 - c0, resolution, c1 - c0, self.padding)
            wy = _bilinear_weights(y0 - r0, y1 - r0, resolution, r1 - r0, self.padding)
            pasted = wy @ masks_cpu[i, 0] @ wx.T
            out[i, 0, r0:r1, c0:c1] = (pasted > self.threshold) if thresholded else pasted
        return out.to(masks.device)
