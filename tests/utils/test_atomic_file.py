import json
import os

import pytest
import torch

from maskrcnn_benchmark.utils.atomic_file import (
    atomic_open,
    atomic_savefig,
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
)


def test_each_writer_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "old")
    atomic_write_text(tmp_path / "a.txt", "new")
    atomic_write_json(tmp_path / "sub" / "b.json", {"x": [1, 2]}, indent=1)
    atomic_torch_save({"w": torch.arange(3)}, tmp_path / "c.pth")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    atomic_savefig(fig, tmp_path / "d.png", dpi=20)
    plt.close(fig)
    assert (tmp_path / "a.txt").read_text() == "new"
    assert json.loads((tmp_path / "sub" / "b.json").read_text()) == {"x": [1, 2]}
    assert torch.equal(torch.load(tmp_path / "c.pth", weights_only=True)["w"], torch.arange(3))
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "c.pth", "d.png", "sub"]
    assert os.listdir(tmp_path / "sub") == ["b.json"]


def test_a_failed_write_keeps_the_old_content_and_removes_the_temporary_file(tmp_path):
    path = tmp_path / "state.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"a": float("nan")}, allow_nan=False)
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_open(path) as f:
            f.write('{"half": ')
            raise RuntimeError("interrupted")
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["state.json"]


def test_only_whole_file_writes_are_offered(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"):
        with atomic_open(tmp_path / "x", "a"):
            pass
