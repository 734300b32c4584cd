"""Dataset names -> files.

Three sources, looked up in this order:
1. names registered in Python with `register_coco_instances(name, ann_file, image_root)`;
2. yaml catalog files: `DATASETS.CATALOG` (config key) and then the environment variable
   DETNAS_DATASET_CATALOG, each mapping a name to `{ann_file: ..., image_root: ...}` (image_root a
   folder or a list of folders); relative paths are resolved against the catalog file's folder;
3. the built-in names below, relative to the datasets root: `datasets/` beside the package, or the
   folder named by DETNAS_DATASETS. COCO is linked in by `config.sh --coco PATH`; the shapes datasets
   are written by `tools/make_shapes_dataset.py`; the search splits by `tools/split_coco.py`.
"""

import os

import yaml

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


CATALOG_ENV = "DETNAS_DATASET_CATALOG"
_REGISTERED = {}  # name -> (image roots, ann_file), absolute paths
_CATALOG_KEYS = ("ann_file", "image_root")


def datasets_root():
    return os.environ.get("DETNAS_DATASETS", os.path.join(_REPO_ROOT, "datasets"))


class CatalogError(ValueError):
    """A dataset registration or catalog file is malformed."""


def _roots(image_root, where):
    roots = [image_root] if isinstance(image_root, str) else image_root
    if not isinstance(roots, (list, tuple)) or not roots or not all(isinstance(r, str) and r for r in roots):
        raise CatalogError(f"{where}: image_root must be a folder or a non-empty list of folders, got {image_root!r}")
    return tuple(roots)


def register_coco_instances(name, ann_file, image_root):
    """Make `name` usable in DATASETS.TRAIN / DATASETS.TEST in this process.

    `ann_file` is a COCO-format json, `image_root` the folder of its images or a list of folders
    (each image is read from the first one that has it). Relative paths are taken from the current
    directory now. Registering a name again with other files is an error.
    """
    where = f"register_coco_instances({name!r})"
    if not isinstance(name, str) or not name:
        raise CatalogError(f"{where}: the name must be a non-empty string")
    if not isinstance(ann_file, str) or not ann_file:
        raise CatalogError(f"{where}: ann_file must be a path, got {ann_file!r}")
    entry = (tuple(os.path.abspath(r) for r in _roots(image_root, where)), os.path.abspath(ann_file))
    if name in DatasetCatalog.DATASETS:
        raise CatalogError(f"{where}: '{name}' is a built-in dataset name; choose another")
    if _REGISTERED.get(name, entry) != entry:
        raise CatalogError(f"{where}: '{name}' is already registered with {_REGISTERED[name]}")
    _REGISTERED[name] = entry


def unregister(name):
    """Forget a name given to `register_coco_instances` (tests, notebooks)."""
    _REGISTERED.pop(name, None)


def load_catalog_file(path):
    """{name: (image roots, ann_file)} of a yaml catalog file, paths made absolute."""
    if not os.path.isfile(path):
        raise CatalogError(f"dataset catalog file not found: {path}")
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise CatalogError(f"cannot read dataset catalog {path}: {e}") from None
    if not isinstance(data, dict):
        raise CatalogError(
            f"dataset catalog {path}: expected a mapping of dataset names to {{ann_file: ..., image_root: ...}}"
        )
    base = os.path.dirname(os.path.abspath(path))
    out = {}
    for name, entry in data.items():
        where = f"dataset catalog {path}, entry '{name}'"
        if not isinstance(entry, dict) or set(entry) != set(_CATALOG_KEYS):
            raise CatalogError(f"{where}: expected exactly the keys {list(_CATALOG_KEYS)}, got {entry!r}")
        if not isinstance(entry["ann_file"], str) or not entry["ann_file"]:
            raise CatalogError(f"{where}: ann_file must be a path, got {entry['ann_file']!r}")
        roots = _roots(entry["image_root"], where)
        out[str(name)] = (
            tuple(os.path.join(base, os.path.expanduser(r)) for r in roots),
            os.path.join(base, os.path.expanduser(entry["ann_file"])),
        )
    return out


def catalog_files(cfg_catalog=""):
    """The catalog files in force: DATASETS.CATALOG first, then $DETNAS_DATASET_CATALOG."""
    return [p for p in (cfg_catalog, os.environ.get(CATALOG_ENV, "")) if p]


def _coco_entry(roots, ann_file):
    return dict(factory="COCODataset", args=dict(root=list(roots), ann_file=ann_file))


class DatasetCatalog:
    DATASETS = {
        # COCO 2017 and the 2014 splits used by maskrcnn-benchmark and the paper.
        "coco_2017_train": ("coco/train2017", "coco/annotations/instances_train2017.json"),
        "coco_2017_val": ("coco/val2017", "coco/annotations/instances_val2017.json"),
        "coco_2014_train": ("coco/train2014", "coco/annotations/instances_train2014.json"),
        "coco_2014_val": ("coco/val2014", "coco/annotations/instances_val2014.json"),
        "coco_2014_minival": ("coco/val2014", "coco/annotations/instances_minival2014.json"),
        "coco_2014_valminusminival": ("coco/val2014", "coco/annotations/instances_valminusminival2014.json"),
        # DetNAS search splits of trainval35k (tools/split_coco.py); images live in both 2014 folders.
        "coco_search_train": (("coco/train2014", "coco/val2014"), "coco/annotations/search_train.json"),
        "coco_search_val": (("coco/train2014", "coco/val2014"), "coco/annotations/search_val.json"),
        # Generated shapes (tools/make_shapes_dataset.py).
        "shapes_train": ("shapes/images", "shapes/annotations/train.json"),
        "shapes_minival": ("shapes/images", "shapes/annotations/minival.json"),
        "shapes_search_train": ("shapes/images", "shapes/annotations/search_train.json"),
        "shapes_search_val": ("shapes/images", "shapes/annotations/search_val.json"),
    }

    @classmethod
    def get(cls, name, catalog_files=()):
        """Return dict(factory, args) for a detection dataset name (see the module doc for the
        order of the sources)."""
        if name in _REGISTERED:
            return _coco_entry(*_REGISTERED[name])
        from_files = {}
        for path in catalog_files:
            for key, entry in load_catalog_file(path).items():
                from_files.setdefault(key, entry)
        if name in from_files:
            return _coco_entry(*from_files[name])
        if name not in cls.DATASETS:
            known = ", ".join(sorted(set(cls.DATASETS) | set(_REGISTERED) | set(from_files)))
            raise KeyError(
                f"unknown dataset '{name}' (DATASETS.TRAIN/TEST). Register your own in a yaml "
                f"catalog file named by DATASETS.CATALOG or ${CATALOG_ENV}, one entry per name: "
                f"'{name}: {{ann_file: path/to/instances.json, image_root: path/to/images}}', or "
                f"in Python with register_coco_instances('{name}', ann_file, image_root). "
                f"Known: {known}"
            )
        img_dirs, ann = cls.DATASETS[name]
        root = datasets_root()
        if isinstance(img_dirs, str):
            img_dirs = (img_dirs,)
        return _coco_entry([os.path.join(root, d) for d in img_dirs], os.path.join(root, ann))


class BoundCatalog:
    """A catalog class with the config's catalog files bound: `.get(name)` as build_dataset wants."""

    def __init__(self, catalog, files):
        self.catalog, self.files = catalog, list(files)

    def get(self, name):
        if isinstance(self.catalog, type) and issubclass(self.catalog, DatasetCatalog):
            return self.catalog.get(name, catalog_files=self.files)
        return self.catalog.get(name)  # a PATHS_CATALOG module of the old form
