from .build import build_transforms
from .transforms import Compose, Normalize, RandomHorizontalFlip, Resize, ToTensor

__all__ = ["Compose", "Normalize", "RandomHorizontalFlip", "Resize", "ToTensor", "build_transforms"]
