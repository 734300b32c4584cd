from .defaults import _C as cfg
from .loading import load_config

__all__ = ["cfg", "load_config"]
