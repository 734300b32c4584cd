"""NUM_CLASSES of the detector heads checked against the datasets (0 = take it from them).

The heads count the background as a class, so a dataset of C categories needs NUM_CLASSES C + 1.
A wrong count otherwise shows up as an IndexError deep inside the loss, or trains silently.
"""

import logging

from .build import dataset_catalog

logger = logging.getLogger(__name__)

BOX_HEAD_KEY = "MODEL.ROI_BOX_HEAD.NUM_CLASSES"
RETINANET_KEY = "MODEL.RETINANET.NUM_CLASSES"


def classifier_key(cfg):
    """The NUM_CLASSES key the built detector uses, or None (an RPN-only model has no classes)."""
    if cfg.MODEL.RETINANET_ON:
        return RETINANET_KEY
    if cfg.MODEL.RPN_ONLY:
        return None
    return BOX_HEAD_KEY


def _get(cfg, key):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def dataset_category_counts(cfg, names):
    """[(name, ann_file, number of categories)] of COCO datasets among `names` whose file exists."""
    import os

    from .datasets.coco import load_categories

    catalog = dataset_catalog(cfg)
    out = []
    for name in names:
        entry = catalog.get(name)
        if entry["factory"] != "COCODataset":
            continue
        ann_file = entry["args"]["ann_file"]
        if os.path.isfile(ann_file):
            out.append((name, ann_file, len(load_categories(ann_file))))
    return out


def resolve_num_classes(cfg):
    """`cfg` with NUM_CLASSES 0 replaced by the datasets' categories + 1 (a new frozen config), after
    checking that DATASETS.TRAIN/TEST agree with each other and with the head's NUM_CLASSES.

    Raises ValueError naming the key, both numbers and the dataset on a mismatch.
    """
    key = classifier_key(cfg)
    zero_keys = [k for k in (BOX_HEAD_KEY, RETINANET_KEY) if _get(cfg, k) == 0]
    if key is None and not zero_keys:
        return cfg
    names = list(dict.fromkeys(list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST)))
    counts = dataset_category_counts(cfg, names)
    if len({c for _, _, c in counts}) > 1:
        listed = "; ".join(f"'{n}' has {c} ({f})" for n, f, c in counts)
        raise ValueError(f"DATASETS.TRAIN/TEST have different numbers of categories: {listed}")
    if not counts:
        if key in zero_keys:
            raise ValueError(
                f"{key} is 0, which takes the number of classes from the dataset, but "
                "no annotation file of DATASETS.TRAIN/TEST was found; set it to the "
                "number of categories + 1 (background)"
            )
        return cfg
    name, ann_file, categories = counts[0]
    wanted = categories + 1
    if key is not None and key not in zero_keys and _get(cfg, key) != wanted:
        raise ValueError(
            f"{key} is {_get(cfg, key)} but dataset '{name}' ({ann_file}) has {categories} "
            f"categor{'y' if categories == 1 else 'ies'}: the head counts the background too, so it "
            f"must be {wanted}. Set {key} {wanted}, or 0 to take it from the dataset"
        )
    if not zero_keys:
        return cfg
    cfg = cfg.clone()
    cfg.defrost()
    for k in zero_keys:
        section, leaf = k.rsplit(".", 1)
        _get(cfg, section)[leaf] = wanted
    cfg.freeze()
    logger.info("%s from dataset '%s': %d categories + background = %d", ", ".join(zero_keys), name, categories, wanted)
    return cfg
