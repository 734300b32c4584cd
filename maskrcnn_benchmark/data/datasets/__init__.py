"""Dataset classes (the `factory` names of paths_catalog entries) and dataset tools.

Names are imported on first use (see maskrcnn_benchmark/data/__init__.py).
"""

import importlib

_EXPORTS = {
    "COCODataset": ".coco",
    "DatasetError": ".coco",
    "ConcatDataset": ".concat_dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
