"""Datasets registered without editing the package: Python registration and yaml catalog files."""

import os
import subprocess
import sys

import pytest
import yaml

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.config import paths_catalog as pc
from maskrcnn_benchmark.data import dataset_catalog, make_data_loader, register_coco_instances

from coco_testing import write_tiny_coco

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def registry():
    """Registrations made by a test are forgotten afterwards."""
    before = dict(pc._REGISTERED)
    yield
    pc._REGISTERED.clear()
    pc._REGISTERED.update(before)


def _cfg(*opts):
    return load_config(
        "",
        [
            "INPUT.MIN_SIZE_TEST",
            32,
            "INPUT.MAX_SIZE_TEST",
            64,
            "DATALOADER.NUM_WORKERS",
            0,
            "TEST.IMS_PER_BATCH",
            2,
            *opts,
        ],
    )


def test_register_coco_instances_one_folder_and_several(tmp_path, registry, monkeypatch):
    ann = write_tiny_coco(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    register_coco_instances("mine", "d/ann.json", "d/images")
    entry = pc.DatasetCatalog.get("mine")
    assert entry == {"factory": "COCODataset", "args": {"root": [str(tmp_path / "d" / "images")], "ann_file": ann}}
    register_coco_instances("mine2", ann, ["d/images", str(tmp_path / "other")])
    assert pc.DatasetCatalog.get("mine2")["args"]["root"] == [str(tmp_path / "d" / "images"), str(tmp_path / "other")]
    register_coco_instances("mine", ann, str(tmp_path / "d" / "images"))  # same files: fine
    (loader,) = make_data_loader(_cfg("DATASETS.TEST", ("mine",)), is_train=False)
    assert len(loader.dataset) == 3


def test_register_errors(tmp_path, registry):
    register_coco_instances("mine", "a.json", "imgs")
    with pytest.raises(pc.CatalogError, match="'mine' is already registered"):
        register_coco_instances("mine", "b.json", "imgs")
    with pytest.raises(pc.CatalogError, match="'shapes_train' is a built-in dataset name"):
        register_coco_instances("shapes_train", "a.json", "imgs")
    with pytest.raises(pc.CatalogError, match="image_root must be a folder or a non-empty list"):
        register_coco_instances("x", "a.json", [])
    with pytest.raises(pc.CatalogError, match="ann_file must be a path"):
        register_coco_instances("x", None, "imgs")


def _catalog(path, entries):
    path.write_text(yaml.safe_dump(entries))
    return str(path)


def test_catalog_file_paths_relative_to_its_folder(tmp_path, monkeypatch):
    write_tiny_coco(tmp_path / "data" / "train")
    cat = _catalog(
        tmp_path / "data" / "catalog.yaml",
        {
            "tiles_train": {"ann_file": "train/ann.json", "image_root": "train/images"},
            "tiles_two": {"ann_file": "train/ann.json", "image_root": ["train/images", "/abs/imgs"]},
        },
    )
    monkeypatch.chdir(tmp_path)  # not the catalog's folder
    cfg = _cfg("DATASETS.CATALOG", cat, "DATASETS.TEST", ("tiles_train",))
    args = dataset_catalog(cfg).get("tiles_train")["args"]
    assert args == {
        "root": [str(tmp_path / "data" / "train" / "images")],
        "ann_file": str(tmp_path / "data" / "train" / "ann.json"),
    }
    assert dataset_catalog(cfg).get("tiles_two")["args"]["root"][1] == "/abs/imgs"
    (loader,) = make_data_loader(cfg, is_train=False)
    assert len(loader.dataset) == 3


def test_catalog_from_environment_and_config_first(tmp_path, monkeypatch):
    write_tiny_coco(tmp_path / "a")
    write_tiny_coco(tmp_path / "b", num_images=2)
    env_cat = _catalog(
        tmp_path / "env.yaml",
        {
            "x": {"ann_file": "b/ann.json", "image_root": "b/images"},
            "only_env": {"ann_file": "b/ann.json", "image_root": "b/images"},
        },
    )
    cfg_cat = _catalog(tmp_path / "cfg.yaml", {"x": {"ann_file": "a/ann.json", "image_root": "a/images"}})
    monkeypatch.setenv(pc.CATALOG_ENV, env_cat)
    assert dataset_catalog(_cfg()).get("x")["args"]["ann_file"] == str(tmp_path / "b" / "ann.json")
    both = dataset_catalog(_cfg("DATASETS.CATALOG", cfg_cat))
    assert both.get("x")["args"]["ann_file"] == str(tmp_path / "a" / "ann.json")
    assert both.get("only_env")["args"]["ann_file"] == str(tmp_path / "b" / "ann.json")


@pytest.mark.parametrize(
    "content, message",
    [
        ("- a\n- b\n", "expected a mapping of dataset names"),
        ("x: {ann_file: a.json}\n", "entry 'x': expected exactly the keys"),
        ("x: {ann_file: a.json, image_root: i, extra: 1}\n", "entry 'x': expected exactly the keys"),
        ("x: {ann_file: 3, image_root: i}\n", "entry 'x': ann_file must be a path"),
        ("x: {ann_file: a.json, image_root: []}\n", "entry 'x': image_root must be a folder"),
        ("x: [unclosed\n", "cannot read dataset catalog"),
    ],
)
def test_malformed_catalog_files(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(pc.CatalogError, match=message) as e:
        pc.DatasetCatalog.get("x", [str(path)])
    assert str(path) in str(e.value)
    with pytest.raises(pc.CatalogError, match="dataset catalog file not found: .*nope.yaml"):
        pc.DatasetCatalog.get("x", [str(tmp_path / "nope.yaml")])


def test_unknown_name_says_how_to_register(tmp_path):
    with pytest.raises(KeyError) as e:
        pc.DatasetCatalog.get("my_tiles")
    text = e.value.args[0]
    assert "unknown dataset 'my_tiles'" in text
    assert "DATASETS.CATALOG" in text and pc.CATALOG_ENV in text
    assert "my_tiles: {ann_file:" in text and "register_coco_instances('my_tiles'" in text


def test_catalog_subclass_in_paths_catalog(tmp_path, monkeypatch):
    write_tiny_coco(tmp_path / "datasets" / "mine")
    (tmp_path / "my_catalog.py").write_text(
        "from maskrcnn_benchmark.config.paths_catalog import DatasetCatalog as Base\n"
        "class DatasetCatalog(Base):\n"
        "    DATASETS = dict(Base.DATASETS, mine=('mine/images', 'mine/ann.json'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DETNAS_DATASETS", str(tmp_path / "datasets"))
    (loader,) = make_data_loader(_cfg("PATHS_CATALOG", "my_catalog", "DATASETS.TEST", ("mine",)), is_train=False)
    assert len(loader.dataset) == 3


def test_split_coco_of_a_registered_dataset(tmp_path):
    write_tiny_coco(tmp_path / "d", num_images=6)
    cat = _catalog(tmp_path / "catalog.yaml", {"tiles": {"ann_file": "d/ann.json", "image_root": "d/images"}})
    run = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "split_coco.py"),
            "--dataset",
            "tiles",
            "--catalog",
            cat,
            "--output-dir",
            str(tmp_path / "d" / "search"),
            "--num-val",
            "2",
            "--register",
            cat,
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "registered tiles_search_train and tiles_search_val" in run.stdout
    entries = yaml.safe_load(open(cat))
    assert entries["tiles_search_val"] == {"ann_file": "d/search/search_val.json", "image_root": "d/images"}
    cfg = _cfg("DATASETS.CATALOG", cat, "DATASETS.TEST", ("tiles_search_train", "tiles_search_val"))
    assert [len(loader.dataset) for loader in make_data_loader(cfg, is_train=False)] == [4, 2]
    bad = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "split_coco.py"),
            "--dataset",
            "nope",
            "--catalog",
            cat,
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown dataset 'nope'" in bad.stderr


def test_predictor_category_names_from_catalog(tmp_path):
    sys.path.insert(0, os.path.join(REPO, "demo"))
    try:
        from predictor import category_names_of
    finally:
        sys.path.pop(0)
    write_tiny_coco(tmp_path / "d", categories=("tile", "road"))
    cat = _catalog(tmp_path / "c.yaml", {"t": {"ann_file": "d/ann.json", "image_root": "d/images"}})
    cfg = _cfg("DATASETS.CATALOG", cat, "DATASETS.TEST", ("t",))
    assert category_names_of(cfg) == {1: "tile", 2: "road"}
