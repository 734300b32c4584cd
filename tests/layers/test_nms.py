import pytest
import torch
import torchvision.ops as tvo
from ops_testing import DEVICES

from maskrcnn_benchmark.layers import batched_nms, nms


def reference(fn, *tensors_and_threshold):
    """torchvision's result computed on the CPU: exact IEEE arithmetic. torchvision's CUDA kernel lets
    nvcc fuse multiply-adds, so on borderline IoUs it can disagree with its own CPU kernel; ours does not."""
    *tensors, threshold = tensors_and_threshold
    device = tensors[0].device
    return fn(*(t.cpu() for t in tensors), threshold).to(device)


def random_boxes(num, generator, dtype=torch.float32, clusters=0):
    size = torch.exp(torch.empty(num, 2).uniform_(1.0, 5.0, generator=generator))
    if clusters:
        centre = (torch.rand(clusters, 2, generator=generator) * 500)[
            torch.randint(0, clusters, (num,), generator=generator)
        ]
        centre = centre + torch.randn(num, 2, generator=generator) * 0.1 * size
    else:
        centre = torch.rand(num, 2, generator=generator) * 500
    return torch.cat([centre - size / 2, centre + size / 2], dim=1).to(dtype)


@pytest.mark.parametrize("device", DEVICES)
# 64 and 129: the CUDA kernel's mask words cover 64 boxes (one full block; a block plus one box)
@pytest.mark.parametrize("num", [1, 50, 64, 129, 3000])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("clusters", [0, 20])
def test_nms_matches_torchvision(device, num, threshold, clusters):
    g = torch.Generator().manual_seed(num + clusters)
    boxes = random_boxes(num, g, clusters=clusters).to(device)
    scores = torch.rand(num, generator=g).to(device)
    keep = nms(boxes, scores, threshold)
    assert keep.dtype == torch.int64
    assert torch.equal(keep, reference(tvo.nms, boxes, scores, threshold))


@pytest.mark.parametrize("device", DEVICES)
def test_nms_float64(device):
    g = torch.Generator().manual_seed(5)
    boxes = random_boxes(800, g, dtype=torch.float64, clusters=30).to(device)
    scores = torch.rand(800, generator=g, dtype=torch.float64).to(device)
    assert torch.equal(nms(boxes, scores, 0.5), reference(tvo.nms, boxes, scores, 0.5))


@pytest.mark.parametrize("device", DEVICES)
def test_nms_ties_keep_input_order(device):
    g = torch.Generator().manual_seed(6)
    boxes = random_boxes(400, g, clusters=10).to(device)
    scores = torch.randint(0, 4, (400,), generator=g).float().to(device)  # many equal scores
    keep = nms(boxes, scores, 0.5)
    assert torch.equal(keep, reference(tvo.nms, boxes, scores, 0.5))
    # Among equal scores the kept indices are increasing.
    kept_scores = scores[keep]
    same = kept_scores[1:] == kept_scores[:-1]
    assert bool((keep[1:][same] > keep[:-1][same]).all())


def test_nms_threshold_is_strict():
    # IoU of the two boxes is exactly 0.5: kept at threshold 0.5, suppressed below it.
    boxes = torch.tensor([[0.0, 0.0, 4.0, 1.0], [0.0, 0.0, 2.0, 1.0]])
    scores = torch.tensor([0.9, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.49).tolist() == [0]
    assert tvo.nms(boxes, scores, 0.5).tolist() == [0, 1]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num, num_classes", [(500, 3), (5000, 80), (6000, 700)])
def test_batched_nms_matches_torchvision(device, num, num_classes):
    g = torch.Generator().manual_seed(num)
    boxes = random_boxes(num, g, clusters=40).to(device)
    # Distinct scores: torchvision's per-class path orders equal scores with an unstable sort (see below).
    scores = (torch.randperm(num, generator=g).float() / num).to(device)
    idxs = torch.randint(0, num_classes, (num,), generator=g).to(device)
    keep = batched_nms(boxes, scores, idxs, 0.5)
    assert torch.equal(keep, reference(tvo.batched_nms, boxes, scores, idxs, 0.5))


@pytest.mark.parametrize("device", DEVICES)
def test_batched_nms_ties(device):
    # Same kept set as torchvision; equal scores come in input order (as in nms), where torchvision's
    # batched_nms leaves their order to an unstable sort.
    g = torch.Generator().manual_seed(7)
    boxes = random_boxes(5000, g, clusters=40).to(device)
    scores = torch.randint(0, 50, (5000,), generator=g).float().to(device)
    idxs = torch.randint(0, 80, (5000,), generator=g).to(device)
    keep = batched_nms(boxes, scores, idxs, 0.5)
    ref = reference(tvo.batched_nms, boxes, scores, idxs, 0.5)
    assert sorted(keep.tolist()) == sorted(ref.tolist())
    kept_scores = scores[keep]
    assert bool((kept_scores[1:] <= kept_scores[:-1]).all())
    same = kept_scores[1:] == kept_scores[:-1]
    assert bool((keep[1:][same] > keep[:-1][same]).all())


def test_batched_nms_groups_are_independent():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10], [1.0, 1, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 2], dtype=torch.int32), 0.5).tolist() == [0, 1, 2]


def test_empty():
    empty = torch.zeros(0, 4)
    assert nms(empty, torch.zeros(0), 0.5).shape == (0,)
    keep = batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
    assert keep.shape == (0,) and keep.dtype == torch.int64


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nms(torch.zeros(3, 5), torch.zeros(3), 0.5), r"\[N, 4\]"),
        (lambda: nms(torch.zeros(3, 4), torch.zeros(2), 0.5), "one score per box"),
        (lambda: nms(torch.zeros(3, 4), torch.zeros(3, dtype=torch.float64), 0.5), "same dtype"),
        (lambda: nms(torch.zeros(3, 4, dtype=torch.int64), torch.zeros(3, dtype=torch.int64), 0.5), "floating"),
        (lambda: batched_nms(torch.zeros(3, 4), torch.zeros(3), torch.zeros(4, dtype=torch.int64), 0.5), "idxs"),
        (lambda: batched_nms(torch.zeros(3, 4), torch.zeros(3), torch.zeros(3), 0.5), "integer"),
    ],
)
def test_bad_inputs_raise(make, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        make()
