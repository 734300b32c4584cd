"""`SegmentationMask`: instance masks of one image kept as polygons until a raster is needed.

Polygons use the same continuous coordinates as BoxList: pixel (i, j) covers [j, j+1) x [i, i+1),
so a polygon (0,0)-(2,0)-(2,2)-(0,2) covers exactly the top-left 2x2 pixels. Rasterisation is done by
pycocotools (the COCO API), so a mask made here is the mask COCO's own `annToMask` makes from the
same polygons. Geometric operations are exact on the vertices; nothing is rasterised until
`get_mask_tensor()` / `crop_and_resize_targets()`.
"""

import numpy as np
import pycocotools.mask as mask_utils
import torch

from .bounding_box import FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM


def _as_polygon(poly, where):
    arr = poly.detach().cpu().numpy() if isinstance(poly, torch.Tensor) else np.asarray(poly)
    arr = np.asarray(arr, dtype=np.float64).reshape(-1)
    if arr.size % 2:
        raise ValueError(
            f"{where}: a polygon must be a flat list [x0, y0, x1, y1, ...] of even length, got {arr.size} numbers"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: polygon coordinates must be finite numbers")
    return arr


def _rasterise(polygons, height, width):
    """uint8 [height, width] union of `polygons` (float64 flat arrays with >= 3 points) via COCO."""
    if not polygons:
        return np.zeros((height, width), dtype=np.uint8)
    rles = mask_utils.frPyObjects([p.tolist() for p in polygons], height, width)
    return mask_utils.decode(mask_utils.merge(rles))


class SegmentationMask:
    """Polygon masks of N instances in an image of `size` = (width, height).

    `polygons[i]` is the list of polygons (flat [x0, y0, x1, y1, ...]) making up instance i. Polygons
    with fewer than 3 points enclose nothing and are dropped (pycocotools would misread a 4-number
    polygon as a box).
    """

    def __init__(self, polygons, size, mode="poly"):
        if mode != "poly":
            raise ValueError(f"SegmentationMask holds polygons (mode='poly'); got mode={mode!r}")
        if len(size) != 2:
            raise ValueError(f"SegmentationMask size must be (width, height), got {size!r}")
        if isinstance(polygons, SegmentationMask):
            polygons = polygons.polygons
        if not isinstance(polygons, (list, tuple)):
            raise TypeError(
                f"SegmentationMask expects a list (instances) of lists (polygons), got {type(polygons).__name__}"
            )
        instances = []
        for i, inst in enumerate(polygons):
            if not isinstance(inst, (list, tuple)):
                raise TypeError(
                    f"SegmentationMask instance {i}: expected a list of polygons, got {type(inst).__name__}"
                )
            polys = [_as_polygon(p, f"SegmentationMask instance {i}") for p in inst]
            instances.append([p for p in polys if p.size >= 6])
        self.polygons = instances
        self.size = tuple(size)
        self.mode = mode
        # Where rasterised tensors are delivered; polygons themselves always stay on the CPU.
        self.device = torch.device("cpu")

    def _new(self, polygons, size):
        out = SegmentationMask.__new__(SegmentationMask)
        out.polygons = polygons
        out.size = tuple(size)
        out.mode = self.mode
        out.device = self.device
        return out

    def _map(self, fn, size):
        return self._new([[fn(p) for p in inst] for inst in self.polygons], size)

    # ---- geometry -------------------------------------------------------------------------------
    def resize(self, size, *args, **kwargs):
        ratio_w = float(size[0]) / float(self.size[0])
        ratio_h = float(size[1]) / float(self.size[1])
        scale = np.array([ratio_w, ratio_h])

        def scaled(p):
            return (p.reshape(-1, 2) * scale).reshape(-1)

        return self._map(scaled, size)

    def transpose(self, method):
        if method not in (FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM):
            raise ValueError(f"transpose method must be FLIP_LEFT_RIGHT (0) or FLIP_TOP_BOTTOM (1), got {method!r}")
        axis = 0 if method == FLIP_LEFT_RIGHT else 1
        extent = float(self.size[axis])

        def flipped(p):
            q = p.reshape(-1, 2).copy()
            q[:, axis] = extent - q[:, axis]
            return q.reshape(-1)

        return self._map(flipped, self.size)

    def rotate90(self):
        """Counter-clockwise by 90 degrees, as BoxList.rotate90: (x, y) -> (y, W - x)."""
        width, height = self.size

        def rotated(p):
            q = p.reshape(-1, 2)
            return np.stack([q[:, 1], float(width) - q[:, 0]], axis=1).reshape(-1)

        return self._map(rotated, (height, width))

    def crop(self, box):
        """Shift into the frame of `box` = (x1, y1, x2, y2); the new size is the box size.

        Vertices are not clipped: rasterising clips to the frame, which gives the same pixels.
        """
        box = [v.item() if isinstance(v, torch.Tensor) else v for v in box]
        if len(box) != 4:
            raise ValueError(f"crop box must be (x1, y1, x2, y2), got {box!r}")
        offset = np.array([float(box[0]), float(box[1])])

        def shifted(p):
            return (p.reshape(-1, 2) - offset).reshape(-1)

        return self._map(shifted, (box[2] - box[0], box[3] - box[1]))

    # ---- rasterisation --------------------------------------------------------------------------
    def _raster_size(self):
        width, height = (int(round(float(v))) for v in self.size)
        if width <= 0 or height <= 0:
            raise ValueError(f"cannot rasterise masks of an empty image size {self.size}")
        return height, width

    def get_mask_tensor(self):
        """uint8 [N, H, W] binary masks (1 inside), as COCO's `annToMask` would draw them."""
        height, width = self._raster_size()
        masks = np.zeros((len(self), height, width), dtype=np.uint8)
        for i, inst in enumerate(self.polygons):
            masks[i] = _rasterise(inst, height, width)
        return torch.from_numpy(masks).to(self.device)

    def convert(self, mode):
        """ "poly" -> this object; "mask" -> the uint8 [N, H, W] tensor of `get_mask_tensor()`."""
        if mode == "poly":
            return self
        if mode == "mask":
            return self.get_mask_tensor()
        raise ValueError(f"SegmentationMask.convert: mode must be 'poly' or 'mask', got {mode!r}")

    def crop_and_resize_targets(self, proposals, resolution):
        """Mask-head targets: float [N, M, M] of instance i cropped to box i, drawn at M x M.

        `proposals` is a BoxList (or an [N, 4] xyxy tensor) with one box per instance, in this
        mask's image coordinates. The polygon is cropped and scaled exactly, then rasterised at
        M x M, so no resolution is lost to an intermediate full-image raster. Boxes narrower than
        one pixel are treated as one pixel wide.
        """
        if hasattr(proposals, "convert"):
            if tuple(proposals.size) != self.size:
                raise ValueError(f"proposals are for image size {proposals.size}, masks for {self.size}")
            boxes = proposals.convert("xyxy").bbox
        else:
            boxes = proposals
        if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] != len(self):
            raise ValueError(
                f"crop_and_resize_targets needs one box per instance ({len(self)}), got "
                f"boxes of shape {tuple(boxes.shape)}"
            )
        m = int(resolution)
        device = boxes.device
        boxes_np = boxes.detach().to("cpu", torch.float64).numpy()
        targets = np.zeros((len(self), m, m), dtype=np.float32)
        for i, (inst, (x1, y1, x2, y2)) in enumerate(zip(self.polygons, boxes_np)):
            w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
            origin = np.array([x1, y1])
            scale = np.array([m / w, m / h])
            polys = [((p.reshape(-1, 2) - origin) * scale).reshape(-1) for p in inst]
            targets[i] = _rasterise(polys, m, m)
        return torch.from_numpy(targets).to(device)

    # ---- containers -----------------------------------------------------------------------------
    def to(self, device):
        out = self._new(self.polygons, self.size)
        out.device = torch.device(device)
        return out

    def _indices(self, item):
        n = len(self)
        if isinstance(item, torch.Tensor):
            item = item.detach().cpu().numpy()
        if isinstance(item, (list, tuple)):
            item = np.asarray(item)
            if item.size == 0:
                return []
        if isinstance(item, np.ndarray):
            if item.dtype == np.bool_:
                if item.shape != (n,):
                    raise IndexError(f"bool mask of shape {item.shape} for {n} instances")
                return np.nonzero(item)[0].tolist()
            if not np.issubdtype(item.dtype, np.integer):
                raise IndexError(f"SegmentationMask indices must be integers or bools, got {item.dtype}")
            idx = item.reshape(-1).tolist()
            for i in idx:
                if not -n <= i < n:
                    raise IndexError(f"instance index {i} out of range for {n} instances")
            return idx
        raise IndexError(f"SegmentationMask cannot be indexed by {type(item).__name__}")

    def __getitem__(self, item):
        """A SegmentationMask of the selected instances (int, slice, bool mask, index list/tensor)."""
        if isinstance(item, (int, np.integer)):
            n = len(self)
            if not -n <= item < n:
                raise IndexError(f"instance index {item} out of range for {n} instances")
            return self._new([self.polygons[item]], self.size)
        if isinstance(item, slice):
            return self._new(self.polygons[item], self.size)
        return self._new([self.polygons[i] for i in self._indices(item)], self.size)

    def __len__(self):
        return len(self.polygons)

    def __iter__(self):
        return iter(self.polygons)

    @classmethod
    def cat(cls, masks):
        """Concatenate the instances of SegmentationMasks of one image size."""
        masks = list(masks)
        if not masks:
            raise ValueError("SegmentationMask.cat needs at least one SegmentationMask")
        size = masks[0].size
        for m in masks[1:]:
            if m.size != size:
                raise ValueError(f"SegmentationMask.cat: sizes differ ({size} vs {m.size})")
        out = masks[0]._new([inst for m in masks for inst in m.polygons], size)
        return out

    def __repr__(self):
        return (
            f"SegmentationMask(num_instances={len(self)}, image_width={self.size[0]}, "
            f"image_height={self.size[1]}, mode={self.mode})"
        )
