import glob
import os

import pytest

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.config.defaults import _C as cfg
from maskrcnn_benchmark.config.loading import ConfigError
from maskrcnn_benchmark.config.paths_catalog import DatasetCatalog

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True)))
def test_every_shipped_config_loads(path):
    c = load_config(path)
    assert c.is_frozen()


def test_unknown_key_in_yaml_names_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("MODEL:\n  RPN:\n    NMS_THRESHOLD: 0.7\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*NMS_THRESHOLD"):
        load_config(str(f))


def test_wrong_type_and_odd_overrides():
    with pytest.raises(ConfigError, match="SOLVER.MAX_ITER"):
        load_config("", ["SOLVER.MAX_ITER", "many"])
    with pytest.raises(ConfigError, match="odd"):
        load_config("", ["SOLVER.MAX_ITER"])
    with pytest.raises(ConfigError, match="not found"):
        load_config("/no/such.yaml")


def test_overrides_apply_and_defaults_stay_untouched():
    c = load_config("", ["SOLVER.BASE_LR", 0.5, "DATASETS.TRAIN", "('shapes_train',)"])
    assert c.SOLVER.BASE_LR == 0.5 and c.DATASETS.TRAIN == ("shapes_train",)
    assert cfg.SOLVER.BASE_LR == 0.001


def test_catalog_resolves_under_env_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DETNAS_DATASETS", str(tmp_path))
    d = DatasetCatalog.get("shapes_train")
    assert d["factory"] == "COCODataset"
    assert d["args"]["ann_file"] == os.path.join(str(tmp_path), "shapes/annotations/train.json")
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        DatasetCatalog.get("nope")


def test_string_keys_keep_digit_strings():
    c = load_config("", ["MODEL.BACKBONE.ARCH", "21202112331300313132", "OUTPUT_DIR", "123"])
    assert c.MODEL.BACKBONE.ARCH == "21202112331300313132" and c.OUTPUT_DIR == "123"
    c = load_config("", ["MODEL.BACKBONE.ARCH", "'0031'", "MODEL.BACKBONE.CONV_BODY", "R-18-FPN"])
    assert c.MODEL.BACKBONE.ARCH == "0031" and c.MODEL.BACKBONE.CONV_BODY == "R-18-FPN"
