"""COCO-format detection dataset: image + BoxList target with labels and polygon masks."""

import contextlib
import io
import json
import logging
import math
import os

import torch
from PIL import Image
from pycocotools.coco import COCO

from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask

logger = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or not in the expected format."""


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_polygon_list(segm):
    return (
        isinstance(segm, list)
        and len(segm) > 0
        and all(isinstance(p, list) and len(p) % 2 == 0 and all(_is_number(v) for v in p) for p in segm)
    )


_CACHE = {}  # (path, mtime, size) -> COCO: the class-count check and the dataset read a file once


def _load_annotations(ann_file):
    if not os.path.isfile(ann_file):
        raise DatasetError(f"annotation file not found: {ann_file}")
    st = os.stat(ann_file)
    key = (os.path.abspath(ann_file), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _read_annotations(ann_file)
    return _CACHE[key]


def load_categories(ann_file):
    """The category entries of a COCO annotation file (validated; read once per process)."""
    return list(_load_annotations(ann_file).dataset["categories"])


def _read_annotations(ann_file):
    try:
        with open(ann_file) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read annotation file {ann_file}: {e}") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"annotation file {ann_file} is not valid JSON: {e}") from None
    _validate(data, ann_file)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress
        coco.createIndex()
    return coco


def _validate(data, ann_file):
    """Check the parts of the file we rely on; fill COCO's optional fields (iscrowd, area)."""
    if not isinstance(data, dict):
        raise DatasetError(f"{ann_file}: expected a JSON object with 'images' and 'categories'")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{ann_file}: expected a '{key}' list at the top level")
    data.setdefault("annotations", [])
    if not isinstance(data["annotations"], list):
        raise DatasetError(f"{ann_file}: 'annotations' must be a list")

    image_ids = set()
    for im in data["images"]:
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise DatasetError(f"{ann_file}: image entry {str(im)[:200]} needs 'id' and 'file_name'")
        for key in ("width", "height"):
            if not (isinstance(im.get(key), int) and im[key] > 0):
                raise DatasetError(
                    f"{ann_file}: image id {im['id']} ({im['file_name']}) needs a "
                    f"positive integer '{key}', got {im.get(key)!r}"
                )
        if im["id"] in image_ids:
            raise DatasetError(f"{ann_file}: image id {im['id']} appears more than once")
        image_ids.add(im["id"])
    category_ids = set()
    for cat in data["categories"]:
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int):
            raise DatasetError(f"{ann_file}: category entry {cat!r} needs an integer 'id'")
        category_ids.add(cat["id"])

    ann_ids = set()
    for ann in data["annotations"]:
        if not isinstance(ann, dict) or "id" not in ann:
            raise DatasetError(f"{ann_file}: annotation entry {str(ann)[:200]} has no 'id'")
        where = f"{ann_file}: annotation id {ann['id']}"
        if ann["id"] in ann_ids:
            raise DatasetError(f"{where} appears more than once")
        ann_ids.add(ann["id"])
        if ann.get("image_id") not in image_ids:
            raise DatasetError(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'")
        if ann.get("category_id") not in category_ids:
            raise DatasetError(f"{where}: category_id {ann.get('category_id')!r} is not in 'categories'")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
            raise DatasetError(f"{where}: 'bbox' must be 4 finite numbers [x, y, width, height], got {bbox!r}")
        ann.setdefault("iscrowd", 0)
        if ann["iscrowd"] not in (0, 1):
            raise DatasetError(f"{where}: 'iscrowd' must be 0 or 1, got {ann['iscrowd']!r}")
        ann.setdefault("area", float(bbox[2] * bbox[3]))
        segm = ann.get("segmentation")
        if not ann["iscrowd"] and segm not in (None, []) and not _is_polygon_list(segm):
            raise DatasetError(
                f"{where}: 'segmentation' of a non-crowd object must be a list of "
                f"polygons [[x0, y0, x1, y1, ...], ...] of even length"
            )


def _xyxy(bbox):
    x, y, w, h = bbox
    return [x, y, x + w, y + h]


def _clip(bbox, width, height):
    """COCO [x, y, w, h] as xyxy clipped to the image, or None when nothing of it is left."""
    x1, y1, x2, y2 = _xyxy(bbox)
    x1, y1 = min(max(x1, 0), width), min(max(y1, 0), height)
    x2, y2 = min(max(x2, 0), width), min(max(y2, 0), height)
    if x2 <= x1 or y2 <= y1:
        return None
    return [x1, y1, x2, y2]


class COCODataset(torch.utils.data.Dataset):
    """Images and instance annotations of a COCO-format json.

    `root` is an image directory or a list of them; each image is read from the first directory
    that has its `file_name` (the DetNAS search splits mix train2014 and val2014). Crowd objects
    never enter the target. With `remove_images_without_annotations` (training), images without a
    usable box are left out.

    Checked once, at construction: every listed image exists (else a DatasetError with the count
    and the first names, or, with `skip_missing_images`, they are dropped with a warning); boxes
    reaching outside their image are clipped and empty ones dropped, with one warning counting
    both. `dataset[idx]` is `(image, target, idx)`: the PIL image (RGB) or
    whatever `transforms(image, target)` makes of it, and a BoxList in xyxy with "labels" (1..C,
    contiguous) and "masks" (SegmentationMask) when every object has a polygon segmentation.
    """

    def __init__(self, ann_file, root, remove_images_without_annotations, transforms=None, skip_missing_images=False):
        self.ann_file = ann_file
        self.roots = [root] if isinstance(root, str) else list(root)
        if not self.roots:
            raise DatasetError(f"no image directory given for {ann_file}")
        for r in self.roots:
            if not os.path.isdir(r):
                raise DatasetError(f"image directory not found: {r} (images of {ann_file})")
        self.coco = _load_annotations(ann_file)
        self.transforms = transforms
        self._paths = {}

        ids = self._existing_images(sorted(self.coco.imgs.keys()), skip_missing_images)
        self._report_boxes(ids)
        if remove_images_without_annotations:
            ids = [i for i in ids if self._usable_annotations(i)[0]]
        self.ids = ids
        self.id_to_img_map = dict(enumerate(self.ids))
        json_ids = sorted(self.coco.cats.keys())
        self.json_category_id_to_contiguous_id = {j: i + 1 for i, j in enumerate(json_ids)}
        self.contiguous_category_id_to_json_id = {v: k for k, v in self.json_category_id_to_contiguous_id.items()}
        self.categories = {
            self.json_category_id_to_contiguous_id[c["id"]]: c.get("name", str(c["id"]))
            for c in self.coco.dataset["categories"]
        }

    def __len__(self):
        return len(self.ids)

    def get_img_info(self, idx):
        info = self.coco.imgs[self.ids[idx]]
        return {"height": info["height"], "width": info["width"], "id": info["id"], "file_name": info["file_name"]}

    # ---- checks at construction -------------------------------------------------------------------
    def _find_image(self, file_name):
        for r in self.roots:
            path = os.path.join(r, file_name)
            if os.path.isfile(path):
                return path
        return None

    def _existing_images(self, ids, skip_missing):
        missing = []
        for img_id in ids:
            path = self._find_image(self.coco.imgs[img_id]["file_name"])
            if path is None:
                missing.append(img_id)
            else:
                self._paths[img_id] = path
        if not missing:
            return ids
        names = ", ".join(self.coco.imgs[i]["file_name"] for i in missing[:5])
        more = ", ..." if len(missing) > 5 else ""
        what = (
            f"{len(missing)} of the {len(ids)} images listed in {self.ann_file} are not in any of "
            f"the image directories {self.roots}: {names}{more}"
        )
        if not skip_missing:
            raise DatasetError(
                f"{what}. Fix the image_root / file names, or set "
                "DATASETS.SKIP_MISSING_IMAGES True to train and test without them"
            )
        logger.warning("%s; dropping them (DATASETS.SKIP_MISSING_IMAGES)", what)
        missing = set(missing)
        return [i for i in ids if i not in missing]

    def _report_boxes(self, ids):
        """One warning counting the boxes that will be clipped or dropped in `ids`' targets."""
        clipped, dropped = [], []
        for img_id in ids:
            info = self.coco.imgs[img_id]
            for ann in self.coco.imgToAnns.get(img_id, []):
                if ann["iscrowd"]:
                    continue
                box = _clip(ann["bbox"], info["width"], info["height"])
                if box is None:
                    dropped.append((ann["id"], info["file_name"]))
                elif box != _xyxy(ann["bbox"]):
                    clipped.append((ann["id"], info["file_name"]))
        if clipped or dropped:
            examples = ", ".join(f"annotation id {a} of {f}" for a, f in (dropped + clipped)[:5])
            logger.warning(
                "%s: %d boxes reach outside their image and are clipped to it, %d boxes "
                "are empty (zero size, or wholly outside the image) and are dropped; e.g. "
                "%s",
                self.ann_file,
                len(clipped),
                len(dropped),
                examples,
            )
        self.box_report = {"clipped": len(clipped), "dropped": len(dropped)}

    # ---- targets --------------------------------------------------------------------------------
    def _usable_annotations(self, img_id):
        """Non-crowd annotations with a box of positive size once clipped, and those boxes (xyxy)."""
        info = self.coco.imgs[img_id]
        anns, boxes = [], []
        for ann in self.coco.imgToAnns.get(img_id, []):
            if ann["iscrowd"]:
                continue
            box = _clip(ann["bbox"], info["width"], info["height"])
            if box is not None:
                anns.append(ann)
                boxes.append(box)
        return anns, boxes

    def _target(self, img_id, image_size):
        anns, boxes = self._usable_annotations(img_id)
        target = BoxList(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), image_size, "xyxy")
        labels = [self.json_category_id_to_contiguous_id[a["category_id"]] for a in anns]
        target.add_field("labels", torch.tensor(labels, dtype=torch.int64))
        if anns and all(_is_polygon_list(a.get("segmentation")) for a in anns):
            target.add_field("masks", SegmentationMask([a["segmentation"] for a in anns], image_size))
        return target

    # ---- images ---------------------------------------------------------------------------------
    def image_path(self, idx):
        img_id = self.ids[idx]
        if img_id not in self._paths:
            file_name = self.coco.imgs[img_id]["file_name"]
            path = self._find_image(file_name)
            if path is not None:
                self._paths[img_id] = path
            else:
                raise DatasetError(
                    f"image '{file_name}' (id {img_id}) listed in {self.ann_file} is "
                    f"not in any of the image directories {self.roots}"
                )
        return self._paths[img_id]

    def load_image(self, idx):
        path = self.image_path(idx)
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DatasetError(f"cannot read image {path} (listed in {self.ann_file}): {e}") from None
        info = self.coco.imgs[self.ids[idx]]
        if img.size != (info["width"], info["height"]):
            raise DatasetError(
                f"image {path} is {img.size[0]}x{img.size[1]} but {self.ann_file} says {info['width']}x{info['height']}"
            )
        return img

    def __getitem__(self, idx):
        img = self.load_image(idx)
        target = self._target(self.ids[idx], img.size)
        if self.transforms is not None:
            img, target = self.transforms(img, target)
        return img, target, idx

    def __repr__(self):
        return f"COCODataset({self.ann_file}, {len(self)} images, {len(self.coco.cats)} categories)"
