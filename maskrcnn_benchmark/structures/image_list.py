"""`ImageList`: a batch of images of different sizes, zero-padded into one tensor."""

import math

import torch


class ImageList:
    """`tensors` [B, C, H, W] (padded at the bottom/right) and the true `image_sizes` [(h, w), ...]."""

    def __init__(self, tensors, image_sizes):
        if tensors.ndim != 4:
            raise ValueError(f"ImageList expects a [B, C, H, W] tensor, got {tuple(tensors.shape)}")
        if len(image_sizes) != tensors.shape[0]:
            raise ValueError(f"ImageList got {tensors.shape[0]} images but {len(image_sizes)} image sizes")
        self.tensors = tensors
        self.image_sizes = [(int(h), int(w)) for h, w in image_sizes]

    def to(self, device, *args, **kwargs):
        return ImageList(self.tensors.to(device, *args, **kwargs), self.image_sizes)

    def __len__(self):
        return len(self.image_sizes)

    def __repr__(self):
        return f"ImageList(tensors={tuple(self.tensors.shape)}, image_sizes={self.image_sizes})"


def to_image_list(tensors, size_divisible=0):
    """Batch `tensors` (an ImageList, a [C, H, W] or [B, C, H, W] tensor, or a list of [C, H, W]).

    The batch is padded with zeros at the bottom/right to the largest height and width, rounded up
    to a multiple of `size_divisible` when that is positive (FPN needs a multiple of its coarsest
    stride). An ImageList is returned unchanged.
    """
    if isinstance(tensors, ImageList):
        return tensors
    if isinstance(tensors, torch.Tensor):
        if tensors.ndim == 3:
            tensors = [tensors]
        elif tensors.ndim == 4:
            if size_divisible <= 0:
                return ImageList(tensors, [tuple(tensors.shape[-2:])] * tensors.shape[0])
            tensors = list(tensors.unbind(0))
        else:
            raise ValueError(f"to_image_list expects a [C, H, W] or [B, C, H, W] tensor, got {tuple(tensors.shape)}")
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"to_image_list: unsupported input type {type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError("to_image_list needs at least one image")
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor) or t.ndim != 3:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"to_image_list: image {i} must be a [C, H, W] tensor, got {shape}")
    channels = {t.shape[0] for t in tensors}
    if len(channels) != 1:
        raise ValueError(f"to_image_list: images have different channel counts {sorted(channels)}")
    max_h = max(t.shape[1] for t in tensors)
    max_w = max(t.shape[2] for t in tensors)
    if size_divisible > 0:
        max_h = int(math.ceil(max_h / size_divisible) * size_divisible)
        max_w = int(math.ceil(max_w / size_divisible) * size_divisible)
    batched = tensors[0].new_zeros((len(tensors), tensors[0].shape[0], max_h, max_w))
    for img, pad_img in zip(tensors, batched):
        pad_img[:, : img.shape[1], : img.shape[2]].copy_(img)
    return ImageList(batched, [tuple(t.shape[-2:]) for t in tensors])
