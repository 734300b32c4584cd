import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from maskrcnn_benchmark.data.datasets.synthetic_classification import class_names, make_classification_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_layout_and_counts(tmp_path):
    names = make_classification_dataset(
        str(tmp_path), num_classes=5, train_per_class=3, val_per_class=2, image_size=24, seed=0
    )
    assert names == sorted(names) and len(names) == 5
    for split, count in (("train", 3), ("val", 2)):
        assert sorted(os.listdir(tmp_path / split)) == names
        for n in names:
            files = sorted(os.listdir(tmp_path / split / n))
            assert len(files) == count
            img = Image.open(tmp_path / split / n / files[0])
            assert img.size == (24, 24) and img.mode == "RGB"


def test_deterministic(tmp_path):
    make_classification_dataset(str(tmp_path / "a"), num_classes=3, train_per_class=2, val_per_class=1)
    make_classification_dataset(str(tmp_path / "b"), num_classes=3, train_per_class=2, val_per_class=1)
    make_classification_dataset(str(tmp_path / "c"), num_classes=3, train_per_class=2, val_per_class=1, seed=1)
    name = class_names(3)[1]

    def px(d):
        return np.asarray(Image.open(tmp_path / d / "train" / name / "00001.png"))

    assert np.array_equal(px("a"), px("b")) and not np.array_equal(px("a"), px("c"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_classes"):
        make_classification_dataset(str(tmp_path), num_classes=25)
    with pytest.raises(ValueError, match="num_classes"):
        make_classification_dataset(str(tmp_path), num_classes=1)
    with pytest.raises(ValueError, match="image_size"):
        make_classification_dataset(str(tmp_path), image_size=8)


@pytest.mark.slow
def test_small_cnn_learns_it(tmp_path):
    """The classes are separable by a tiny CNN in a few seconds (what the supernet stage needs)."""
    import torchvision

    make_classification_dataset(
        str(tmp_path), num_classes=4, train_per_class=80, val_per_class=20, image_size=32, seed=0
    )

    def load(split):
        ds = torchvision.datasets.ImageFolder(str(tmp_path / split))
        x = torch.stack([torchvision.transforms.functional.to_tensor(img) for img, _ in ds])
        return x, torch.tensor([t for _, t in ds])

    x_train, y_train = load("train")
    x_val, y_val = load("val")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 16, 4),
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(10):
        perm = torch.randperm(len(x_train))
        for i in range(0, len(perm), 32):
            b = perm[i : i + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x_train[b]), y_train[b]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(x_val).argmax(1) == y_val).float().mean().item()
    assert accuracy > 0.75


def test_command_line(tmp_path):
    subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "make_classification_dataset.py"),
            "--output-dir",
            str(tmp_path),
            "--num-classes",
            "2",
            "--train-per-class",
            "1",
            "--val-per-class",
            "1",
            "--image-size",
            "16",
        ],
        check=True,
        capture_output=True,
    )
    assert len(os.listdir(tmp_path / "train")) == 2
