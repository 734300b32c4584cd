"""Fixtures of the end-to-end tests (their helpers: e2e_testing.py)."""

import pytest

from maskrcnn_benchmark.data.datasets.synthetic_shapes import make_shapes_dataset


@pytest.fixture(scope="session")
def tiny_datasets(tmp_path_factory):
    """A datasets root holding `shapes/` with 24 train (8 of them search-val) and 6 minival images."""
    root = tmp_path_factory.mktemp("datasets")
    make_shapes_dataset(str(root / "shapes"), num_train=24, num_minival=6, num_search_val=8, image_size=64, seed=5)
    return str(root)
