import json
import os
import subprocess
import sys

import pytest

from maskrcnn_benchmark.data.datasets.split_coco import split_coco

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _coco(num_images=10):
    return {
        "info": {"description": "x"},
        "licenses": [{"id": 1}],
        "categories": [{"id": 5, "name": "a"}],
        "images": [{"id": 100 + i, "file_name": f"{i}.jpg", "width": 10, "height": 10} for i in range(num_images)],
        "annotations": [
            {"id": 1000 + k, "image_id": 100 + k % num_images, "category_id": 5, "bbox": [0, 0, 1, 1]}
            for k in range(3 * num_images)
        ],
    }


def _write(tmp_path, data):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    return str(path)


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_split_partitions_images_and_annotations(tmp_path):
    data = _coco(10)
    train_path, val_path = split_coco(_write(tmp_path, data), str(tmp_path / "out"), num_val=3, seed=0)
    train, val = _load(train_path), _load(val_path)
    assert os.path.basename(train_path) == "search_train.json"
    assert len(val["images"]) == 3 and len(train["images"]) == 7
    val_ids = {im["id"] for im in val["images"]}
    train_ids = {im["id"] for im in train["images"]}
    assert not val_ids & train_ids and val_ids | train_ids == {im["id"] for im in data["images"]}
    assert all(a["image_id"] in val_ids for a in val["annotations"])
    assert all(a["image_id"] in train_ids for a in train["annotations"])
    assert len(val["annotations"]) + len(train["annotations"]) == len(data["annotations"])
    for part in (train, val):
        assert part["categories"] == data["categories"] and part["info"] == data["info"]
        assert part["licenses"] == data["licenses"]
        # Input order is kept.
        ids = [im["id"] for im in part["images"]]
        assert ids == sorted(ids)


def test_split_is_seeded(tmp_path):
    src = _write(tmp_path, _coco(50))

    def val_ids(seed, out):
        return [im["id"] for im in _load(split_coco(src, str(tmp_path / out), 10, seed=seed)[1])["images"]]

    assert val_ids(0, "a") == val_ids(0, "b")
    assert val_ids(0, "a") != val_ids(1, "c")


def test_custom_names_and_errors(tmp_path):
    src = _write(tmp_path, _coco(4))
    t, v = split_coco(src, str(tmp_path), 1, train_name="a.json", val_name="b.json")
    assert t.endswith("a.json") and v.endswith("b.json")
    with pytest.raises(ValueError, match="between 1 and 3"):
        split_coco(src, str(tmp_path), 4)
    with pytest.raises(ValueError, match="between 1 and 3"):
        split_coco(src, str(tmp_path), 0)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        split_coco(str(tmp_path / "nope.json"), str(tmp_path), 1)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        split_coco(str(tmp_path / "bad.json"), str(tmp_path), 1)
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="'images'"):
        split_coco(str(tmp_path / "list.json"), str(tmp_path), 1)
    with pytest.raises(ValueError, match="same file"):
        split_coco(src, str(tmp_path), 1, train_name="x.json", val_name="x.json")


def test_command_line(tmp_path):
    src = _write(tmp_path, _coco(6))
    ok = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "split_coco.py"),
            "--input",
            src,
            "--output-dir",
            str(tmp_path / "o"),
            "--num-val",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and len(_load(tmp_path / "o" / "search_val.json")["images"]) == 2
    bad = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "split_coco.py"),
            "--input",
            src,
            "--output-dir",
            str(tmp_path / "o"),
            "--num-val",
            "6",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "num_val must be between 1 and 5" in bad.stderr


def test_several_inputs_are_merged_first(tmp_path):
    a, b = _coco(6), _coco(4)
    for im in b["images"]:
        im["id"] += 50
    for ann in b["annotations"]:
        ann["id"] += 5000
        ann["image_id"] += 50
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a))
    pb.write_text(json.dumps(b))
    train, val = split_coco([str(pa), str(pb)], str(tmp_path / "o"), num_val=3, seed=1)
    t, v = _load(train), _load(val)
    assert len(t["images"]) + len(v["images"]) == 10
    assert len(t["annotations"]) + len(v["annotations"]) == 30
    b["categories"] = [{"id": 6, "name": "b"}]
    pb.write_text(json.dumps(b))
    with pytest.raises(ValueError, match="other categories"):
        split_coco([str(pa), str(pb)], str(tmp_path / "o2"), num_val=3)
    with pytest.raises(ValueError, match="also appear"):
        split_coco([str(pa), str(pa)], str(tmp_path / "o3"), num_val=3)
