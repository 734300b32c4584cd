import math

import torch
from torchvision.models.detection._utils import BoxCoder as TVBoxCoder

from maskrcnn_benchmark.modeling.box_coder import BoxCoder


def _random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_encode_by_hand():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    proposal = torch.tensor([[0.0, 0.0, 10.0, 20.0]])  # centre (5, 10), size 10 x 20
    gt = torch.tensor([[2.0, 4.0, 22.0, 24.0]])  # centre (12, 14), size 20 x 20
    expected = torch.tensor([[10 * 7 / 10, 10 * 4 / 20, 5 * math.log(2.0), 5 * math.log(1.0)]])
    torch.testing.assert_close(coder.encode(gt, proposal), expected)


def test_round_trip_and_multiclass_decode():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    proposals = _random_boxes(50, 0)
    gt = _random_boxes(50, 1)
    codes = coder.encode(gt, proposals)
    torch.testing.assert_close(coder.decode(codes, proposals), gt, rtol=1e-5, atol=1e-4)
    # k boxes per reference: [N, 4k] decodes each group of 4 against the same reference.
    other = _random_boxes(50, 2)
    codes2 = torch.cat([codes, coder.encode(other, proposals)], dim=1)
    torch.testing.assert_close(coder.decode(codes2, proposals), torch.cat([gt, other], 1), rtol=1e-5, atol=1e-4)
    # leading batch dimensions
    torch.testing.assert_close(
        coder.decode(codes.view(5, 10, 4), proposals.view(5, 10, 4)), gt.view(5, 10, 4), rtol=1e-5, atol=1e-4
    )


def test_matches_torchvision_box_coder():
    weights = (1.0, 1.0, 1.0, 1.0)
    ours, theirs = BoxCoder(weights), TVBoxCoder(weights)
    proposals, gt = _random_boxes(40, 3), _random_boxes(40, 4)
    torch.testing.assert_close(ours.encode(gt, proposals), theirs.encode_single(gt, proposals))
    codes = torch.randn(40, 8, generator=torch.Generator().manual_seed(5)) * 3  # large dw/dh too
    torch.testing.assert_close(
        ours.decode(codes, proposals), theirs.decode_single(codes, proposals), rtol=1e-5, atol=1e-4
    )


def test_decode_clamps_size_codes():
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0), bbox_xform_clip=math.log(1000.0 / 16))
    box = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    out = coder.decode(torch.tensor([[0.0, 0.0, 100.0, 100.0]]), box)
    torch.testing.assert_close(out, torch.tensor([[-492.0, -492.0, 508.0, 508.0]]))


def test_decode_of_no_boxes_is_empty():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    assert coder.decode(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)
    assert coder.decode(torch.zeros(0, 8), torch.zeros(0, 4)).shape == (0, 8)
    assert coder.decode(torch.zeros(2, 0, 12), torch.zeros(2, 0, 4)).shape == (2, 0, 12)
