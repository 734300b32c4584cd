"""Deterministic synthetic detection inputs: images with filled rectangles and those rectangles as
ground truth, in our model's and in torchvision's target format."""

import torch
import torch.nn.functional as F

from maskrcnn_benchmark.structures.bounding_box import BoxList


def synthetic_batch(num_images, height, width, seed, pixel_mean, pixel_std, num_boxes=4, num_classes=81):
    """Deterministic images (smooth colour fields with filled rectangles, 0-255, then normalised
    with the model's mean/std) and the rectangles as ground truth [(boxes [n, 4] xyxy, labels)]."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.as_tensor(pixel_mean, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(pixel_std, dtype=torch.float32)[:, None, None]
    images, targets = [], []
    for _ in range(num_images):
        coarse = torch.rand(1, 3, max(height // 64, 2), max(width // 64, 2), generator=g) * 255
        img = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]
        boxes = []
        for _ in range(num_boxes):
            bw = int(width * (0.1 + 0.4 * torch.rand(1, generator=g)))
            bh = int(height * (0.1 + 0.4 * torch.rand(1, generator=g)))
            x1 = int((width - bw) * torch.rand(1, generator=g))
            y1 = int((height - bh) * torch.rand(1, generator=g))
            img[:, y1 : y1 + bh, x1 : x1 + bw] = torch.rand(3, 1, 1, generator=g) * 255
            boxes.append([x1, y1, x1 + bw, y1 + bh])
        img = img + 8 * torch.randn(img.shape, generator=g)
        images.append(((img.clamp(0, 255) - mean) / std).contiguous())
        labels = torch.randint(1, num_classes, (num_boxes,), generator=g)
        targets.append((torch.tensor(boxes, dtype=torch.float32), labels))
    return images, targets


def model_targets(kind, targets, height, width, device):
    if kind == "ours":
        out = []
        for boxes, labels in targets:
            t = BoxList(boxes.to(device), (width, height), mode="xyxy")
            t.add_field("labels", labels.to(device))
            out.append(t)
        return out
    return [{"boxes": b.to(device), "labels": lab.to(device)} for b, lab in targets]
