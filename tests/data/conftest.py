import pytest

from maskrcnn_benchmark.data.datasets.synthetic_shapes import make_shapes_dataset


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory):
    """A small generated datasets root holding `shapes/` as paths_catalog expects it."""
    root = tmp_path_factory.mktemp("datasets")
    make_shapes_dataset(str(root / "shapes"), num_train=24, num_minival=8, num_search_val=6, seed=3)
    return root


@pytest.fixture
def shapes_env(shapes_root, monkeypatch):
    """DETNAS_DATASETS pointing at `shapes_root`, so catalog names like shapes_train resolve."""
    monkeypatch.setenv("DETNAS_DATASETS", str(shapes_root))
    return shapes_root
