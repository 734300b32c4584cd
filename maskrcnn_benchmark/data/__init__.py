"""Input pipeline: datasets, transforms, samplers, data loaders, evaluation.

Names are imported on first use, so that light tools (the dataset generators, split_coco) start
without loading torch and pycocotools.
"""

import importlib

_EXPORTS = {
    "register_coco_instances": "maskrcnn_benchmark.config.paths_catalog",
    "build_dataset": ".build",
    "dataset_catalog": ".build",
    "make_data_loader": ".build",
    "make_subset_loader": ".build",
    "BatchCollator": ".collate_batch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
