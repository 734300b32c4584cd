"""Joint image + target transforms: each takes and returns `(image, target)`.

`target` (a BoxList, or None at inference) follows every geometric change of the image. Random draws
use torch's generator, which DataLoader workers seed from the main process and `torch.manual_seed`
controls, so a run is reproducible from its seed.
"""

import torch
import torchvision.transforms.functional as F
from PIL import Image

from maskrcnn_benchmark.structures.bounding_box import FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image, target=None):
        for t in self.transforms:
            image, target = t(image, target)
        return image, target

    def __repr__(self):
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"{self.__class__.__name__}({inner}\n)"


def _image_wh(image):
    if isinstance(image, torch.Tensor):
        return image.shape[-1], image.shape[-2]
    return image.size


class Resize:
    """Scale the shorter side to `min_size` (one drawn per image from the tuple) unless the longer
    side would then exceed `max_size`, in which case the shorter side becomes
    round(max_size * short / long) (so the longer side lands on max_size up to that rounding)."""

    def __init__(self, min_size, max_size):
        if isinstance(min_size, int):
            min_size = (min_size,)
        self.min_size = tuple(int(s) for s in min_size)
        if not self.min_size or min(self.min_size) <= 0:
            raise ValueError(f"Resize min_size must be positive sizes, got {min_size!r}")
        self.max_size = max_size

    def get_size(self, image_size):
        """(height, width) for an image of `image_size` = (width, height)."""
        w, h = image_size
        if len(self.min_size) == 1:
            size = self.min_size[0]
        else:
            size = self.min_size[int(torch.randint(len(self.min_size), (1,)))]
        short, long = min(w, h), max(w, h)
        if self.max_size is not None and long / short * size > self.max_size:
            size = int(round(self.max_size * short / long))
        if short == size:
            return h, w
        if w < h:
            return int(size * h / w), size
        return size, int(size * w / h)

    def __call__(self, image, target=None):
        h, w = self.get_size(_image_wh(image))
        image = F.resize(image, [h, w], antialias=True)
        if target is not None:
            target = target.resize((w, h))
        return image, target

    def __repr__(self):
        return f"{self.__class__.__name__}(min_size={self.min_size}, max_size={self.max_size})"


class RandomHorizontalFlip:
    def __init__(self, prob=0.5):
        self.prob = prob

    def __call__(self, image, target=None):
        if self.prob > 0 and torch.rand(()) < self.prob:
            image = F.hflip(image)
            if target is not None:
                target = target.transpose(FLIP_LEFT_RIGHT)
        return image, target

    def __repr__(self):
        return f"{self.__class__.__name__}(prob={self.prob})"


class RandomVerticalFlip:
    def __init__(self, prob=0.5):
        self.prob = prob

    def __call__(self, image, target=None):
        if self.prob > 0 and torch.rand(()) < self.prob:
            image = F.vflip(image)
            if target is not None:
                target = target.transpose(FLIP_TOP_BOTTOM)
        return image, target

    def __repr__(self):
        return f"{self.__class__.__name__}(prob={self.prob})"


class RandomRotate90:
    """With probability `prob`, rotate by 90 degrees counter-clockwise (with the horizontal and
    vertical flips this reaches all eight right-angle orientations)."""

    def __init__(self, prob=0.5):
        self.prob = prob

    def __call__(self, image, target=None):
        if self.prob > 0 and torch.rand(()) < self.prob:
            if isinstance(image, torch.Tensor):
                image = torch.rot90(image, 1, dims=(-2, -1))
            else:
                image = image.transpose(Image.Transpose.ROTATE_90)
            if target is not None:
                target = target.rotate90()
        return image, target

    def __repr__(self):
        return f"{self.__class__.__name__}(prob={self.prob})"


class ToTensor:
    """PIL image -> float [3, H, W] in [0, 1], RGB."""

    def __call__(self, image, target=None):
        return F.to_tensor(image), target

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class Normalize:
    """(x - mean) / std per channel; with `to_bgr255`, an RGB [0, 1] tensor first becomes BGR [0, 255]
    (the input convention of Caffe2-trained and DetNAS backbones)."""

    def __init__(self, mean, std, to_bgr255=True):
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"Normalize needs 3 means and 3 stds, got {mean!r} and {std!r}")
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        self.to_bgr255 = to_bgr255

    def __call__(self, image, target=None):
        if self.to_bgr255:
            image = image[[2, 1, 0]] * 255
        return F.normalize(image, mean=self.mean, std=self.std), target

    def __repr__(self):
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std}, to_bgr255={self.to_bgr255})"
