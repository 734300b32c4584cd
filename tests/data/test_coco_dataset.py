import json
import logging
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO

from maskrcnn_benchmark.data.datasets import COCODataset, ConcatDataset, DatasetError
from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask


def _square(x, y, s):
    return [x, y, x + s, y, x + s, y + s, x, y + s]


@pytest.fixture
def tiny(tmp_path):
    """Three 40x30 images, non-contiguous category ids, a crowd object and edge cases."""
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    for i in range(3):
        Image.fromarray(np.full((30, 40, 3), 60 * i, dtype=np.uint8)).save(img_dir / f"{i}.png")
    data = {
        "images": [{"id": 10 + i, "file_name": f"{i}.png", "width": 40, "height": 30} for i in range(3)],
        "categories": [{"id": 3, "name": "c3"}, {"id": 7, "name": "c7"}, {"id": 11, "name": "c11"}],
        "annotations": [
            # image 10: two objects, one partly outside the image (clipped)
            {
                "id": 1,
                "image_id": 10,
                "category_id": 7,
                "bbox": [2, 3, 10, 5],
                "iscrowd": 0,
                "area": 50,
                "segmentation": [_square(2, 3, 5)],
            },
            {
                "id": 2,
                "image_id": 10,
                "category_id": 11,
                "bbox": [35, 20, 10, 20],
                "iscrowd": 0,
                "area": 200,
                "segmentation": [_square(35, 20, 5)],
            },
            {
                "id": 3,
                "image_id": 10,
                "category_id": 3,
                "bbox": [0, 0, 40, 30],
                "iscrowd": 1,
                "area": 1200,
                "segmentation": {"counts": [0, 1200], "size": [30, 40]},
            },
            # image 11: only a crowd object and a degenerate box
            {
                "id": 4,
                "image_id": 11,
                "category_id": 3,
                "bbox": [1, 1, 5, 5],
                "iscrowd": 1,
                "area": 25,
                "segmentation": [_square(1, 1, 5)],
            },
            {
                "id": 5,
                "image_id": 11,
                "category_id": 3,
                "bbox": [5, 5, 0, 4],
                "iscrowd": 0,
                "area": 0,
                "segmentation": [_square(5, 5, 1)],
            },
            # image 12: a valid object without segmentation, no iscrowd/area keys
            {"id": 6, "image_id": 12, "category_id": 3, "bbox": [4, 4, 8, 8]},
        ],
    }
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(data))
    return tmp_path, data


def _write(tmp_path, data, name="ann.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_training_filters_and_targets(tiny):
    root, _ = tiny
    ds = COCODataset(str(root / "ann.json"), str(root / "images"), remove_images_without_annotations=True)
    # Image 11 has only a crowd object and an empty box: dropped for training.
    assert ds.ids == [10, 12] and len(ds) == 2
    assert ds.json_category_id_to_contiguous_id == {3: 1, 7: 2, 11: 3}
    assert ds.contiguous_category_id_to_json_id == {1: 3, 2: 7, 3: 11}
    assert ds.id_to_img_map == {0: 10, 1: 12}
    assert ds.get_img_info(1) == {"height": 30, "width": 40, "id": 12, "file_name": "2.png"}

    img, target, idx = ds[0]
    assert idx == 0 and isinstance(img, Image.Image) and img.size == (40, 30) and img.mode == "RGB"
    assert isinstance(target, BoxList) and target.mode == "xyxy" and target.size == (40, 30)
    # xywh -> xyxy, clipped to the image; the crowd object is not in the target.
    assert target.bbox.tolist() == [[2, 3, 12, 8], [35, 20, 40, 30]]
    assert target.get_field("labels").tolist() == [2, 3]
    masks = target.get_field("masks")
    assert isinstance(masks, SegmentationMask) and len(masks) == 2
    # Masks are what COCO's annToMask draws.
    ref = ds.coco.annToMask(ds.coco.anns[1])
    assert np.array_equal(masks.get_mask_tensor()[0].numpy(), ref)

    _, target, _ = ds[1]
    assert target.get_field("labels").tolist() == [1] and not target.has_field("masks")


def test_test_mode_keeps_every_image(tiny, caplog):
    root, _ = tiny
    with caplog.at_level(logging.WARNING):
        ds = COCODataset(str(root / "ann.json"), [str(root / "images")], remove_images_without_annotations=False)
    assert ds.ids == [10, 11, 12]
    # The empty box is reported once, when the dataset is built, not when the image is read.
    assert "annotation id 5" in caplog.text and "1.png" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _, target, _ = ds[1]
    assert len(target) == 0 and target.get_field("labels").shape == (0,)
    assert caplog.text == ""


def test_transforms_are_applied(tiny):
    root, _ = tiny
    seen = []

    def transforms(img, target):
        seen.append((img.size, len(target)))
        return torch.zeros(3, 2, 2), target.resize((80, 60))

    ds = COCODataset(str(root / "ann.json"), str(root / "images"), True, transforms=transforms)
    img, target, _ = ds[0]
    assert seen == [((40, 30), 2)] and img.shape == (3, 2, 2)
    assert target.bbox[0].tolist() == [4, 6, 24, 16]


def test_images_found_in_the_first_directory_that_has_them(tiny):
    root, _ = tiny
    second = root / "second"
    second.mkdir()
    shutil.move(str(root / "images" / "2.png"), second / "2.png")
    Image.fromarray(np.full((30, 40, 3), 200, dtype=np.uint8)).save(second / "0.png")
    ds = COCODataset(str(root / "ann.json"), [str(root / "images"), str(second)], True)
    assert ds.image_path(0) == str(root / "images" / "0.png")
    assert ds.image_path(1) == str(second / "2.png")
    assert np.asarray(ds[1][0]).mean() == 120


def test_matches_pycocotools_on_generated_shapes(shapes_root):
    ann = str(shapes_root / "shapes" / "annotations" / "train.json")
    ds = COCODataset(ann, str(shapes_root / "shapes" / "images"), True)
    coco = COCO(ann)
    assert ds.ids == sorted(coco.getImgIds())
    for idx in range(3):
        img, target, _ = ds[idx]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=ds.ids[idx]))
        expected = [
            [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns
        ]
        torch.testing.assert_close(target.bbox, torch.tensor(expected, dtype=torch.float32))
        masks = target.get_field("masks").get_mask_tensor().numpy()
        for m, a in zip(masks, anns):
            assert np.array_equal(m, coco.annToMask(a))


def test_concat_dataset_global_indices(tiny):
    root, _ = tiny
    a = COCODataset(str(root / "ann.json"), str(root / "images"), True)
    b = COCODataset(str(root / "ann.json"), str(root / "images"), False)
    cat = ConcatDataset([a, b])
    assert len(cat) == 5
    assert cat.get_idxs(3) == (1, 1) and cat.get_img_info(3)["id"] == 11
    assert cat[4][2] == 4 and cat[-1][2] == 4
    assert cat[1][1].bbox.tolist() == a[1][1].bbox.tolist()
    with pytest.raises(IndexError):
        cat.get_idxs(5)


# ---- bad input ----------------------------------------------------------------------------------


def test_missing_annotation_file_and_image_dir(tiny):
    root, _ = tiny
    with pytest.raises(DatasetError, match="annotation file not found: .*nope.json"):
        COCODataset(str(root / "nope.json"), str(root / "images"), True)
    with pytest.raises(DatasetError, match="image directory not found: .*missing_dir"):
        COCODataset(str(root / "ann.json"), [str(root / "images"), str(root / "missing_dir")], True)


def test_image_missing_on_disk(tiny):
    root, _ = tiny
    os.remove(root / "images" / "2.png")
    # Found when the dataset is built (tests/data/test_data_checks.py has the details) ...
    with pytest.raises(DatasetError, match=r"1 of the 3 images listed in .*ann.json are not in any"):
        COCODataset(str(root / "ann.json"), str(root / "images"), True)
    # ... and still when an image disappears afterwards.
    shutil.copy(root / "images" / "1.png", root / "images" / "2.png")
    ds = COCODataset(str(root / "ann.json"), str(root / "images"), True)
    ds._paths.clear()
    os.remove(root / "images" / "2.png")
    with pytest.raises(DatasetError, match=r"image '2.png' \(id 12\) listed in .*ann.json is not in any"):
        ds[1]


def test_corrupt_image(tiny):
    root, _ = tiny
    (root / "images" / "0.png").write_bytes(b"\x89PNG not really")
    ds = COCODataset(str(root / "ann.json"), str(root / "images"), True)
    with pytest.raises(DatasetError, match="cannot read image .*0.png"):
        ds[0]


def test_truncated_jpeg(tiny):
    root, data = tiny
    path = root / "images" / "0.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    data["images"][0]["file_name"] = "0.jpg"
    ds = COCODataset(_write(root, data, "trunc.json"), str(root / "images"), True)
    with pytest.raises(DatasetError, match="cannot read image .*0.jpg"):
        ds[0]


def test_image_size_mismatch(tiny):
    root, data = tiny
    data["images"][0]["width"] = 41
    ds = COCODataset(_write(root, data, "size.json"), str(root / "images"), True)
    with pytest.raises(DatasetError, match="0.png is 40x30 but .* says 41x30"):
        ds[0]


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotation id 1: 'bbox' must be 4 finite"),
        (lambda d: d["annotations"][1].update(bbox=[1, 2, "3", 4]), r"annotation id 2: 'bbox' must be 4"),
        (lambda d: d["annotations"][1].update(bbox=[1, 2, float("nan"), 4]), r"annotation id 2: 'bbox'"),
        (lambda d: d["annotations"][0].update(category_id=99), r"annotation id 1: category_id 99"),
        (lambda d: d["annotations"][0].update(image_id=99), r"annotation id 1: image_id 99"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3]]), r"annotation id 1: 'segmentation'"),
        (lambda d: d["annotations"][0].update(iscrowd=2), r"annotation id 1: 'iscrowd'"),
        (lambda d: d["annotations"][1].update(id=1), r"annotation id 1 appears more than once"),
        (lambda d: d["images"][0].pop("file_name"), r"needs 'id' and 'file_name'"),
        (lambda d: d["images"][1].update(height=0), r"image id 11 \(1.png\) needs a positive integer 'height'"),
        (lambda d: d.pop("categories"), r"expected a 'categories' list"),
    ],
)
def test_malformed_annotations(tiny, edit, match):
    root, data = tiny
    edit(data)
    path = _write(root, data, "bad.json")
    with pytest.raises(DatasetError, match=match) as info:
        COCODataset(path, str(root / "images"), True)
    assert "bad.json" in str(info.value)


def test_not_json(tiny):
    root, _ = tiny
    (root / "broken.json").write_text('{"images": [')
    with pytest.raises(DatasetError, match="broken.json is not valid JSON"):
        COCODataset(str(root / "broken.json"), str(root / "images"), True)
    assert issubclass(DatasetError, ValueError)
