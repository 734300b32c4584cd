"""Dataset names -> files.

Every path is relative to the datasets root: `datasets/` beside the package, or the folder named by the
environment variable DETNAS_DATASETS (the demo points it at its own output folder). COCO is linked in
by `config.sh --coco PATH`; the shapes datasets are written by `tools/make_shapes_dataset.py`; the
search splits by `tools/split_coco.py`.
"""
import os

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def datasets_root():
    return os.environ.get("DETNAS_DATASETS", os.path.join(_REPO_ROOT, "datasets"))


class DatasetCatalog:
    DATASETS = {
        # COCO 2017 and the 2014 splits used by maskrcnn-benchmark and the paper.
        "coco_2017_train": ("coco/train2017", "coco/annotations/instances_train2017.json"),
        "coco_2017_val": ("coco/val2017", "coco/annotations/instances_val2017.json"),
        "coco_2014_train": ("coco/train2014", "coco/annotations/instances_train2014.json"),
        "coco_2014_val": ("coco/val2014", "coco/annotations/instances_val2014.json"),
        "coco_2014_minival": ("coco/val2014", "coco/annotations/instances_minival2014.json"),
        "coco_2014_valminusminival": (
            "coco/val2014", "coco/annotations/instances_valminusminival2014.json"),
        # DetNAS search splits of trainval35k (tools/split_coco.py); images live in both 2014 folders.
        "coco_search_train": (
            ("coco/train2014", "coco/val2014"), "coco/annotations/search_train.json"),
        "coco_search_val": (("coco/train2014", "coco/val2014"), "coco/annotations/search_val.json"),
        # Generated shapes (tools/make_shapes_dataset.py).
        "shapes_train": ("shapes/images", "shapes/annotations/train.json"),
        "shapes_minival": ("shapes/images", "shapes/annotations/minival.json"),
        "shapes_search_train": ("shapes/images", "shapes/annotations/search_train.json"),
        "shapes_search_val": ("shapes/images", "shapes/annotations/search_val.json"),
    }
    # ImageFolder classification sets (ImageNet supernet training).
    CLASSIFICATION = {
        "imagenet_train": "imagenet/train",
        "imagenet_val": "imagenet/val",
        "tiny_cls_train": "tiny_cls/train",
        "tiny_cls_val": "tiny_cls/val",
    }

    @staticmethod
    def get(name):
        """Return dict(factory, args) for a detection dataset name."""
        if name not in DatasetCatalog.DATASETS:
            known = ", ".join(sorted(DatasetCatalog.DATASETS))
            raise KeyError(f"unknown dataset '{name}' (DATASETS.TRAIN/TEST); known: {known}")
        img_dirs, ann = DatasetCatalog.DATASETS[name]
        root = datasets_root()
        if isinstance(img_dirs, str):
            img_dirs = (img_dirs,)
        return dict(
            factory="COCODataset",
            args=dict(
                root=[os.path.join(root, d) for d in img_dirs],
                ann_file=os.path.join(root, ann),
            ),
        )

    @staticmethod
    def get_classification(name):
        """Return the ImageFolder root of a classification dataset name."""
        if name not in DatasetCatalog.CLASSIFICATION:
            known = ", ".join(sorted(DatasetCatalog.CLASSIFICATION))
            raise KeyError(f"unknown classification dataset '{name}'; known: {known}")
        return os.path.join(datasets_root(), DatasetCatalog.CLASSIFICATION[name])
