"""Checks made when a dataset is built: missing images, boxes outside the image, class counts."""

import logging

import pytest

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.data import make_data_loader
from maskrcnn_benchmark.data.datasets import COCODataset, DatasetError
from maskrcnn_benchmark.data.num_classes import resolve_num_classes
from maskrcnn_benchmark.modeling.detector import build_detection_model

from coco_testing import write_tiny_coco


def test_missing_images_stop_with_count_and_first_names(tmp_path):
    ann = write_tiny_coco(tmp_path, num_images=9, missing=(1, 2, 3, 4, 5, 6, 8))
    with pytest.raises(DatasetError) as e:
        COCODataset(ann, str(tmp_path / "images"), True)
    text = str(e.value)
    assert f"7 of the 9 images listed in {ann} are not in any of the image directories" in text
    assert "img1.png, img2.png, img3.png, img4.png, img5.png, ..." in text
    assert "img8.png" not in text and "img0.png" not in text
    assert "DATASETS.SKIP_MISSING_IMAGES True" in text


def test_missing_images_dropped_on_request(tmp_path, caplog):
    ann = write_tiny_coco(tmp_path, num_images=4, missing=(2,))
    with caplog.at_level(logging.WARNING):
        ds = COCODataset(ann, [str(tmp_path / "images")], False, skip_missing_images=True)
    assert ds.ids == [1, 2, 4] and [ds.get_img_info(i)["file_name"] for i in range(3)] == [
        "img0.png",
        "img1.png",
        "img3.png",
    ]
    assert "1 of the 4 images" in caplog.text and "img2.png" in caplog.text
    assert "dropping them (DATASETS.SKIP_MISSING_IMAGES)" in caplog.text


def test_skip_missing_images_key_reaches_the_loaders(tmp_path):
    ann = write_tiny_coco(tmp_path, num_images=4, missing=(0,))
    cat = tmp_path / "c.yaml"
    cat.write_text(f"t: {{ann_file: {ann}, image_root: images}}\n")
    opts = [
        "DATASETS.CATALOG",
        str(cat),
        "DATASETS.TRAIN",
        ("t",),
        "DATASETS.TEST",
        ("t",),
        "DATALOADER.NUM_WORKERS",
        0,
        "SOLVER.IMS_PER_BATCH",
        1,
        "SOLVER.MAX_ITER",
        2,
        "TEST.IMS_PER_BATCH",
        1,
    ]
    with pytest.raises(DatasetError, match="1 of the 4 images"):
        make_data_loader(load_config("", opts), is_train=False)
    with pytest.raises(DatasetError, match="1 of the 4 images"):
        make_data_loader(load_config("", opts), is_train=True)
    cfg = load_config("", opts + ["DATASETS.SKIP_MISSING_IMAGES", True])
    assert len(make_data_loader(cfg, is_train=False)[0].dataset) == 3
    assert len(make_data_loader(cfg, is_train=True).dataset) == 3


def test_boxes_outside_the_image_are_counted_clipped_and_dropped(tmp_path, caplog):
    boxes = {
        0: [[2, 2, 10, 8], [35, 25, 10, 10]],  # inside; reaches out right/bottom
        1: [[-5, 3, 10, 4], [5, 5, 0, 4]],  # reaches out left; zero width
        2: [[50, 40, 5, 5], [3, 3, 5, 5]],
    }  # wholly outside; inside
    ann = write_tiny_coco(tmp_path, num_images=3, size=(40, 30), boxes=boxes)
    with caplog.at_level(logging.WARNING):
        ds = COCODataset(ann, str(tmp_path / "images"), True)
    assert ds.box_report == {"clipped": 2, "dropped": 2}
    assert "2 boxes reach outside their image and are clipped to it, 2 boxes are empty" in caplog.text
    assert "annotation id 4 of img1.png" in caplog.text  # the zero-width box
    assert ds[0][1].bbox.tolist() == [[2, 2, 12, 10], [35, 25, 40, 30]]
    assert ds[1][1].bbox.tolist() == [[0, 3, 5, 7]]
    assert ds[2][1].bbox.tolist() == [[3, 3, 8, 8]]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        clean = COCODataset(write_tiny_coco(tmp_path / "clean"), str(tmp_path / "clean" / "images"), True)
    assert clean.box_report == {"clipped": 0, "dropped": 0} and "boxes" not in caplog.text


@pytest.fixture
def one_class(tmp_path):
    ann = write_tiny_coco(tmp_path / "one", categories=("tile",))
    three = write_tiny_coco(tmp_path / "three", categories=("a", "b", "c"))
    cat = tmp_path / "catalog.yaml"
    cat.write_text(
        f"one: {{ann_file: {ann}, image_root: one/images}}\nthree: {{ann_file: {three}, image_root: three/images}}\n"
    )
    return str(cat), ann


def _cfg(catalog, *opts):
    return load_config("", ["DATASETS.CATALOG", catalog, "DATASETS.TRAIN", ("one",), *opts])


def test_box_head_class_count_mismatch_names_key_and_numbers(one_class):
    catalog, ann = one_class
    with pytest.raises(ValueError) as e:  # background forgotten
        resolve_num_classes(_cfg(catalog, "MODEL.ROI_BOX_HEAD.NUM_CLASSES", 1))
    assert str(e.value).startswith(
        f"MODEL.ROI_BOX_HEAD.NUM_CLASSES is 1 but dataset 'one' ({ann}) has 1 category: the head "
        "counts the background too, so it must be 2. Set MODEL.ROI_BOX_HEAD.NUM_CLASSES 2, or 0"
    )
    with pytest.raises(ValueError, match="NUM_CLASSES is 5 but dataset 'one'"):  # left from shapes
        resolve_num_classes(_cfg(catalog, "MODEL.ROI_BOX_HEAD.NUM_CLASSES", 5))
    cfg = _cfg(catalog, "MODEL.ROI_BOX_HEAD.NUM_CLASSES", 2)
    assert resolve_num_classes(cfg) is cfg


def test_retinanet_class_count_is_checked_and_box_head_ignored(one_class):
    catalog, _ = one_class
    retina = ["MODEL.RETINANET_ON", True, "MODEL.RPN_ONLY", True]
    with pytest.raises(
        ValueError, match="MODEL.RETINANET.NUM_CLASSES is 81 but dataset 'one' .* has 1 category.* must be 2"
    ):
        resolve_num_classes(_cfg(catalog, *retina))
    cfg = _cfg(catalog, *retina, "MODEL.RETINANET.NUM_CLASSES", 2)  # ROI_BOX_HEAD stays 81: unused
    assert resolve_num_classes(cfg) is cfg
    rpn_only = _cfg(catalog, "MODEL.RPN_ONLY", True)  # no classifier, nothing to check
    assert resolve_num_classes(rpn_only) is rpn_only


def test_zero_means_from_the_dataset(one_class):
    catalog, _ = one_class
    cfg = resolve_num_classes(
        _cfg(
            catalog,
            "DATASETS.TRAIN",
            ("three",),
            "DATASETS.TEST",
            ("three",),
            "MODEL.ROI_BOX_HEAD.NUM_CLASSES",
            0,
            "MODEL.RETINANET.NUM_CLASSES",
            0,
        )
    )
    assert cfg.MODEL.ROI_BOX_HEAD.NUM_CLASSES == 4 and cfg.MODEL.RETINANET.NUM_CLASSES == 4
    assert cfg.is_frozen()
    with pytest.raises(ValueError, match="no annotation file of DATASETS.TRAIN/TEST was found"):
        resolve_num_classes(load_config("", ["MODEL.ROI_BOX_HEAD.NUM_CLASSES", 0]))


def test_datasets_that_disagree(one_class):
    catalog, _ = one_class
    with pytest.raises(
        ValueError,
        match=r"different numbers of categories: 'one' has 1 .*; "
        r"'three' has 3",
    ):
        resolve_num_classes(_cfg(catalog, "DATASETS.TEST", ("three",), "MODEL.ROI_BOX_HEAD.NUM_CLASSES", 0))


@pytest.mark.parametrize(
    "key, extra",
    [
        ("MODEL.ROI_BOX_HEAD.NUM_CLASSES", []),
        ("MODEL.RETINANET.NUM_CLASSES", ["MODEL.RETINANET_ON", True, "MODEL.RPN_ONLY", True]),
    ],
)
def test_unresolved_zero_is_a_clear_model_error(key, extra):
    cfg = load_config("", ["MODEL.BACKBONE.CONV_BODY", "R-18-FPN", key, 0, *extra])
    with pytest.raises(ValueError, match=f"{key} counts the background.* got 0 .*resolve_num_classes"):
        build_detection_model(cfg)
