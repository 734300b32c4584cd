import math

import torch

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.modeling.rpn.anchor_generator import (
    AnchorGenerator,
    anchor_visibility,
    make_anchor_generator,
    make_retinanet_anchor_generator,
)


def _features(*sizes):
    return [torch.zeros(2, 1, h, w) for h, w in sizes]


def test_counts_per_level():
    gen = AnchorGenerator([(32,), (64,)], (0.5, 1.0, 2.0), (4, 8))
    anchors = gen(_features((5, 7), (3, 4)))
    assert [a.shape for a in anchors] == [(5 * 7 * 3, 4), (3 * 4 * 3, 4)]
    assert gen.num_anchors_per_location() == [3, 3]


def test_sizes_ratios_and_centres_by_hand():
    gen = AnchorGenerator([(32,)], (0.5, 1.0, 2.0), (16,))
    anchors = gen(_features((2, 3)))[0].view(2, 3, 3, 4)  # y, x, anchor
    r = math.sqrt(2.0)
    # at (y=1, x=2): centre ((2 + 0.5) * 16, (1 + 0.5) * 16) = (40, 24)
    expected = torch.tensor(
        [
            [40 - 16 * r, 24 - 8 * r, 40 + 16 * r, 24 + 8 * r],  # h/w = 0.5
            [40 - 16, 24 - 16, 40 + 16, 24 + 16],
            [40 - 8 * r, 24 - 16 * r, 40 + 8 * r, 24 + 16 * r],
        ]
    )
    torch.testing.assert_close(anchors[1, 2], expected)
    w = anchors[..., 2] - anchors[..., 0]
    h = anchors[..., 3] - anchors[..., 1]
    torch.testing.assert_close(w * h, torch.full_like(w, 32.0**2))
    torch.testing.assert_close(h / w, torch.tensor([0.5, 1.0, 2.0]).expand_as(w))
    centres_x = (anchors[..., 0] + anchors[..., 2]) / 2
    torch.testing.assert_close(centres_x[0, :, 0], torch.tensor([8.0, 24.0, 40.0]))


def test_cache_returns_same_anchors_for_same_sizes():
    gen = AnchorGenerator([(32,)], (1.0,), (4,))
    a = gen(_features((4, 4)))
    b = gen(_features((4, 4)))
    c = gen(_features((4, 5)))
    assert a[0] is b[0] and c[0].shape[0] == 20


def test_visibility_with_straddle():
    anchors = torch.tensor(
        [[0.0, 0.0, 10.0, 10.0], [-1.0, 0.0, 10.0, 10.0], [0.0, 0.0, 12.0, 10.0], [5.0, 5.0, 11.0, 20.0]]
    )
    vis = anchor_visibility(anchors, [(10, 12), (20, 10)], straddle_thresh=0)
    assert vis.tolist() == [[True, False, True, False], [True, False, False, False]]
    assert anchor_visibility(anchors, [(10, 12)], 1).tolist() == [[True, True, True, False]]
    assert anchor_visibility(anchors, [(10, 12)], -1).all()


def test_builders_from_config():
    cfg = load_config("", [])
    gen = make_anchor_generator(cfg)
    assert gen.num_anchors_per_location() == [3] * 5 and gen.strides == (4, 8, 16, 32, 64)
    ret = make_retinanet_anchor_generator(cfg)
    assert ret.num_anchors_per_location() == [9] * 5
    # level 0: sizes 32 * 2**(i/3), ratio-major order
    cell = ret.cell_anchors[0]
    areas = (cell[:, 2] - cell[:, 0]) * (cell[:, 3] - cell[:, 1])
    sizes = torch.tensor([32.0 * 2 ** (i / 3) for i in range(3)])
    torch.testing.assert_close(areas, (sizes**2).repeat(3))
