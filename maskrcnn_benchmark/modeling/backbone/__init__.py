from . import detnas  # registers the DETNAS-COCO-* backbones
from .backbone import build_backbone
