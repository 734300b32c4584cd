from .build import build_transforms
from .transforms import Compose, Normalize, RandomHorizontalFlip, RandomRotate90, RandomVerticalFlip, Resize, ToTensor

__all__ = [
    "Compose",
    "Normalize",
    "RandomHorizontalFlip",
    "RandomRotate90",
    "RandomVerticalFlip",
    "Resize",
    "ToTensor",
    "build_transforms",
]
