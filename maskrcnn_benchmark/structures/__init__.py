from .bounding_box import FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM, BoxList
from .image_list import ImageList, to_image_list
from .segmentation_mask import SegmentationMask

__all__ = ["BoxList", "FLIP_LEFT_RIGHT", "FLIP_TOP_BOTTOM", "ImageList", "SegmentationMask", "to_image_list"]
