"""Content hashes of the data a score depends on, for evaluator fingerprints (see score_cache).

The image records (file name, size, id) and annotations are hashed, not the pixel files: at 5,000
images that would cost more than an evaluation, and a regenerated or edited image set changes them.
"""

import hashlib
import json


def dataset_digest(dataset, indices=None):
    """sha256 of the image records and annotations of a COCO-style dataset (of `indices`, in order).
    A concatenation of datasets is hashed part by part."""
    parts = getattr(dataset, "datasets", None)
    if parts is not None:
        if indices is None:
            return hashlib.sha256("".join(dataset_digest(d) for d in parts).encode()).hexdigest()
        records = [_record(*_locate(dataset, i)) for i in indices]
        return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()
    indices = range(len(dataset)) if indices is None else indices
    blob = json.dumps([_record(dataset, i) for i in indices], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _record(dataset, index):
    image_id = dataset.ids[index]
    return [dataset.coco.imgs[image_id], dataset.coco.imgToAnns.get(image_id, [])]


def _locate(concat, index):
    """(part, index in part) of `index` of a torch ConcatDataset."""
    for part, end in zip(concat.datasets, concat.cumulative_sizes):
        if index < end:
            return part, index - (end - len(part))
    raise IndexError(f"index {index} out of range for a dataset of {len(concat)}")


def config_datasets_digest(cfg):
    """Hash of the training and test datasets a detection config names (their annotations)."""
    from maskrcnn_benchmark.data import make_data_loader

    test = [dataset_digest(loader.dataset) for loader in make_data_loader(cfg, is_train=False, is_distributed=False)]
    train = make_data_loader(cfg, is_train=True, is_distributed=False).dataset
    return hashlib.sha256(json.dumps([dataset_digest(train), test]).encode()).hexdigest()
