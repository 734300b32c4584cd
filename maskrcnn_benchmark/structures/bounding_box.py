"""`BoxList`: the boxes of one image together with per-box fields (labels, scores, masks, ...).

Coordinates are continuous: a box (x1, y1, x2, y2) covers the area x1 <= x < x2, so its width is
x2 - x1 and an image of width W spans [0, W]. This is torchvision's convention; maskrcnn-benchmark's
legacy "+1" is gone everywhere (see the boxes paragraph of ARCHITECTURE.md).
"""

import torch

# transpose() methods, the values PIL uses for the same flips.
FLIP_LEFT_RIGHT = 0
FLIP_TOP_BOTTOM = 1

_MODES = ("xyxy", "xywh")


class BoxList:
    """A [N, 4] box tensor for one image of `image_size` = (width, height), plus named fields.

    Fields are tensors or objects with a first dimension of N (e.g. `SegmentationMask`). Geometric
    operations (resize, transpose, crop) are applied to every field that implements them; indexing is
    applied to every field. Operations return new BoxLists and never modify this one.
    """

    def __init__(self, bbox, image_size, mode="xyxy"):
        device = bbox.device if isinstance(bbox, torch.Tensor) else torch.device("cpu")
        bbox = torch.as_tensor(bbox, device=device)
        if not bbox.is_floating_point():
            bbox = bbox.float()
        if bbox.numel() == 0:
            bbox = bbox.reshape(0, 4)
        if bbox.ndim != 2 or bbox.shape[1] != 4:
            raise ValueError(f"BoxList expects boxes of shape [N, 4], got {tuple(bbox.shape)}")
        if mode not in _MODES:
            raise ValueError(f"BoxList mode must be one of {_MODES}, got {mode!r}")
        if len(image_size) != 2:
            raise ValueError(f"BoxList image_size must be (width, height), got {image_size!r}")
        self.bbox = bbox
        self.size = tuple(image_size)
        self.mode = mode
        self.extra_fields = {}

    # ---- fields ---------------------------------------------------------------------------------
    def add_field(self, field, field_data):
        self.extra_fields[field] = field_data

    def get_field(self, field):
        if field not in self.extra_fields:
            raise KeyError(f"BoxList has no field '{field}' (fields: {self.fields()})")
        return self.extra_fields[field]

    def has_field(self, field):
        return field in self.extra_fields

    def fields(self):
        return list(self.extra_fields.keys())

    def _copy_extra_fields(self, other):
        for k, v in other.extra_fields.items():
            self.extra_fields[k] = v

    def copy_with_fields(self, fields, skip_missing=False):
        """A BoxList with the same boxes and only `fields` (a name or a list of names)."""
        if isinstance(fields, str):
            fields = [fields]
        out = BoxList(self.bbox, self.size, self.mode)
        for f in fields:
            if self.has_field(f):
                out.add_field(f, self.get_field(f))
            elif not skip_missing:
                raise KeyError(f"BoxList has no field '{f}' (fields: {self.fields()})")
        return out

    # ---- modes ----------------------------------------------------------------------------------
    def _split_into_xyxy(self):
        if self.mode == "xyxy":
            return self.bbox.unbind(dim=-1)
        x, y, w, h = self.bbox.unbind(dim=-1)
        return x, y, x + w, y + h

    def convert(self, mode):
        """This BoxList in `mode` ("xyxy" or "xywh"); fields are shared, not copied."""
        if mode not in _MODES:
            raise ValueError(f"BoxList mode must be one of {_MODES}, got {mode!r}")
        if mode == self.mode:
            return self
        x1, y1, x2, y2 = self._split_into_xyxy()
        if mode == "xyxy":
            bbox = torch.stack((x1, y1, x2, y2), dim=-1)
        else:
            bbox = torch.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)
        out = BoxList(bbox, self.size, mode=mode)
        out._copy_extra_fields(self)
        return out

    def _from_xyxy(self, x1, y1, x2, y2, size):
        out = BoxList(torch.stack((x1, y1, x2, y2), dim=-1), size, mode="xyxy")
        return out.convert(self.mode)

    # ---- geometry -------------------------------------------------------------------------------
    def resize(self, size, *args, **kwargs):
        """Scale to a new image size (width, height); fields with a `resize` method follow."""
        ratio_w = float(size[0]) / float(self.size[0])
        ratio_h = float(size[1]) / float(self.size[1])
        x1, y1, x2, y2 = self._split_into_xyxy()
        out = self._from_xyxy(x1 * ratio_w, y1 * ratio_h, x2 * ratio_w, y2 * ratio_h, size)
        for k, v in self.extra_fields.items():
            if not isinstance(v, torch.Tensor) and hasattr(v, "resize"):
                v = v.resize(size, *args, **kwargs)
            out.add_field(k, v)
        return out

    def transpose(self, method):
        """Flip the boxes (and flippable fields) left-right or top-bottom inside the image."""
        if method not in (FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM):
            raise ValueError(f"transpose method must be FLIP_LEFT_RIGHT (0) or FLIP_TOP_BOTTOM (1), got {method!r}")
        width, height = self.size
        x1, y1, x2, y2 = self._split_into_xyxy()
        if method == FLIP_LEFT_RIGHT:
            x1, x2 = width - x2, width - x1
        else:
            y1, y2 = height - y2, height - y1
        out = self._from_xyxy(x1, y1, x2, y2, self.size)
        for k, v in self.extra_fields.items():
            if not isinstance(v, torch.Tensor) and hasattr(v, "transpose"):
                v = v.transpose(method)
            out.add_field(k, v)
        return out

    def rotate90(self):
        """Rotate the image 90 degrees counter-clockwise (PIL's ROTATE_90): a point (x, y) of a
        W x H image goes to (y, W - x) of the H x W result. Fields with `rotate90` follow."""
        width, height = self.size
        x1, y1, x2, y2 = self._split_into_xyxy()
        out = self._from_xyxy(y1, width - x2, y2, width - x1, (height, width))
        for k, v in self.extra_fields.items():
            if not isinstance(v, torch.Tensor) and hasattr(v, "rotate90"):
                v = v.rotate90()
            out.add_field(k, v)
        return out

    def crop(self, box):
        """Crop to the region `box` = (x1, y1, x2, y2): boxes are shifted and clamped to it.

        Boxes falling entirely outside become empty (zero width or height); `clip_to_image` with
        `remove_empty=True` drops them.
        """
        box = [v.item() if isinstance(v, torch.Tensor) else v for v in box]
        if len(box) != 4:
            raise ValueError(f"crop box must be (x1, y1, x2, y2), got {box!r}")
        cx1, cy1, cx2, cy2 = (float(v) for v in box)
        w, h = box[2] - box[0], box[3] - box[1]
        x1, y1, x2, y2 = self._split_into_xyxy()
        x1 = (x1 - cx1).clamp(min=0, max=cx2 - cx1)
        y1 = (y1 - cy1).clamp(min=0, max=cy2 - cy1)
        x2 = (x2 - cx1).clamp(min=0, max=cx2 - cx1)
        y2 = (y2 - cy1).clamp(min=0, max=cy2 - cy1)
        out = self._from_xyxy(x1, y1, x2, y2, (w, h))
        for k, v in self.extra_fields.items():
            if not isinstance(v, torch.Tensor) and hasattr(v, "crop"):
                v = v.crop(box)
            out.add_field(k, v)
        return out

    def clip_to_image(self, remove_empty=True):
        """Clamp boxes to [0, width] x [0, height]; with `remove_empty`, drop boxes of zero area."""
        width, height = self.size
        x1, y1, x2, y2 = self._split_into_xyxy()
        out = self._from_xyxy(
            x1.clamp(min=0, max=width),
            y1.clamp(min=0, max=height),
            x2.clamp(min=0, max=width),
            y2.clamp(min=0, max=height),
            self.size,
        )
        out._copy_extra_fields(self)
        if remove_empty:
            cx1, cy1, cx2, cy2 = out._split_into_xyxy()
            keep = (cx2 > cx1) & (cy2 > cy1)
            out = out[keep]
        return out

    def area(self):
        if self.mode == "xywh":
            return self.bbox[:, 2] * self.bbox[:, 3]
        return (self.bbox[:, 2] - self.bbox[:, 0]) * (self.bbox[:, 3] - self.bbox[:, 1])

    # ---- containers -----------------------------------------------------------------------------
    def to(self, device):
        out = BoxList(self.bbox.to(device), self.size, self.mode)
        for k, v in self.extra_fields.items():
            if hasattr(v, "to"):
                v = v.to(device)
            out.add_field(k, v)
        return out

    def __getitem__(self, item):
        """Select boxes by an int, a slice, a bool mask or a tensor/list of indices."""
        if isinstance(item, int):
            # Keep the result a (one-box) BoxList rather than a 1-D tensor.
            if not -len(self) <= item < len(self):
                raise IndexError(f"box index {item} out of range for a BoxList of {len(self)} boxes")
            item = torch.tensor([item], dtype=torch.long, device=self.bbox.device)
        elif isinstance(item, (list, tuple)):
            item = torch.as_tensor(item, device=self.bbox.device)
            if item.numel() == 0:
                item = item.long()
        out = BoxList(self.bbox[item], self.size, self.mode)
        for k, v in self.extra_fields.items():
            out.add_field(k, v[item])
        return out

    def __len__(self):
        return self.bbox.shape[0]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(num_boxes={len(self)}, image_width={self.size[0]}, "
            f"image_height={self.size[1]}, mode={self.mode})"
        )
