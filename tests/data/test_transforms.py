import numpy as np
import pytest
import torch
from PIL import Image

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.data.transforms import (
    Compose,
    Normalize,
    RandomHorizontalFlip,
    Resize,
    ToTensor,
    build_transforms,
)
from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask


def _image(w=40, h=30, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _target(w=40, h=30):
    t = BoxList(torch.tensor([[4.0, 3.0, 20.0, 15.0]]), (w, h))
    t.add_field("labels", torch.tensor([1]))
    t.add_field("masks", SegmentationMask([[[4, 3, 20, 3, 20, 15, 4, 15]]], (w, h)))
    return t


@pytest.mark.parametrize(
    "wh,min_size,max_size,expected_hw",
    [
        ((640, 480), 800, 1333, (800, 1066)),  # shorter side -> 800, int(800 * 640 / 480)
        ((480, 640), 800, 1333, (1066, 800)),
        # 800 * 5 > 1333: shorter side round(1333 * 200 / 1000) = 267, longer int(267 * 5) = 1335 (the
        # rule rounds the shorter side, so the longer may pass max_size by the rounding, as in
        # maskrcnn-benchmark).
        ((1000, 200), 800, 1333, (267, 1335)),
        ((200, 1000), 800, 1333, (1335, 267)),
        ((800, 600), 600, 1000, (600, 800)),  # already the right size
        ((120, 100), 128, 160, (128, 153)),
        ((100, 100), 128, None, (128, 128)),
    ],
)
def test_resize_rule_hand_values(wh, min_size, max_size, expected_hw):
    assert Resize(min_size, max_size).get_size(wh) == expected_hw


def test_resize_draws_one_size_per_image():
    r = Resize((100, 200), 10000)
    torch.manual_seed(0)
    drawn = {r.get_size((50, 50))[0] for _ in range(50)}
    assert drawn == {100, 200}
    torch.manual_seed(3)
    a = [r.get_size((50, 50)) for _ in range(10)]
    torch.manual_seed(3)
    assert a == [r.get_size((50, 50)) for _ in range(10)]


def test_resize_image_and_target():
    img, target = Resize(60, 1000)(_image(), _target())
    assert img.size == (80, 60) and target.size == (80, 60)
    assert target.bbox.tolist() == [[8, 6, 40, 30]]
    assert target.get_field("masks").size == (80, 60)
    img, none = Resize(15, 1000)(_image(), None)
    assert img.size == (20, 15) and none is None


def test_flip_always_and_never():
    img, target = _image(), _target()
    flipped, ft = RandomHorizontalFlip(1.0)(img, target)
    assert np.array_equal(np.asarray(flipped), np.asarray(img)[:, ::-1])
    assert ft.bbox.tolist() == [[20, 3, 36, 15]]
    mask = ft.get_field("masks").get_mask_tensor()[0].numpy()
    assert np.array_equal(mask, target.get_field("masks").get_mask_tensor()[0].numpy()[:, ::-1])
    same, st = RandomHorizontalFlip(0.0)(img, target)
    assert same is img and st is target
    t = torch.rand(3, 4, 5)
    assert torch.equal(RandomHorizontalFlip(1.0)(t, None)[0], t.flip(-1))


def test_flip_probability():
    flip = RandomHorizontalFlip(0.5)
    t = torch.arange(2.0).reshape(1, 1, 2)
    torch.manual_seed(0)
    flips = sum(flip(t, None)[0][0, 0, 0].item() == 1.0 for _ in range(400))
    assert 150 < flips < 250


def test_to_tensor_and_normalize_bgr255():
    img = Image.fromarray(np.array([[[10, 20, 30], [40, 50, 60]]], dtype=np.uint8))
    x, _ = ToTensor()(img, None)
    assert x.shape == (3, 1, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x[:, 0, 0], torch.tensor([10, 20, 30]) / 255.0)
    y, _ = Normalize(mean=[1.0, 2.0, 3.0], std=[2.0, 1.0, 0.5], to_bgr255=True)(x, None)
    # BGR order, 0-255 scale, then (x - mean) / std.
    torch.testing.assert_close(y[:, 0, 0], torch.tensor([(30 - 1) / 2, (20 - 2) / 1, (10 - 3) / 0.5]))
    z, _ = Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], to_bgr255=False)(x, None)
    torch.testing.assert_close(z[:, 0, 1], (torch.tensor([40, 50, 60]) / 255.0 - 0.5) / 0.25)
    with pytest.raises(ValueError):
        Normalize([0, 0], [1, 1, 1])


def test_build_transforms_from_config():
    cfg = load_config(
        "",
        [
            "INPUT.MIN_SIZE_TRAIN",
            (60,),
            "INPUT.MAX_SIZE_TRAIN",
            100,
            "INPUT.MIN_SIZE_TEST",
            45,
            "INPUT.MAX_SIZE_TEST",
            100,
            "INPUT.HORIZONTAL_FLIP_PROB_TRAIN",
            1.0,
            "INPUT.PIXEL_MEAN",
            [0.0, 0.0, 0.0],
            "INPUT.PIXEL_STD",
            [1.0, 1.0, 1.0],
        ],
    )
    train = build_transforms(cfg, is_train=True)
    test = build_transforms(cfg, is_train=False)
    assert isinstance(train, Compose) and "Resize" in repr(train)
    img, target = _image(), _target()
    x, t = train(img, target)
    assert x.shape == (3, 60, 80) and t.size == (80, 60)
    assert t.bbox.tolist() == [[40, 6, 72, 30]]  # resized x2 then flipped in an 80-wide image
    # BGR 0-255 with mean 0 / std 1: the flipped, resized image's last column is the first one.
    assert x.max() > 1.5 and x.min() >= 0
    x, t = test(img, target)
    assert x.shape == (3, 45, 60) and t.bbox.tolist() == [[6, 4.5, 30, 22.5]]
