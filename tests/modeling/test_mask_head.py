import torch
import torch.nn.functional as F
from torch import nn

from maskrcnn_benchmark.modeling.roi_heads.mask_head.loss import MaskRCNNLossComputation
from maskrcnn_benchmark.modeling.roi_heads.mask_head.mask_head import ROIMaskHead
from maskrcnn_benchmark.modeling.roi_heads.mask_head.inference import MaskPostProcessor
from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.segmentation_mask import SegmentationMask


def _target():
    t = BoxList(torch.tensor([[0.0, 0, 8, 8], [8, 8, 16, 16]]), (16, 16))
    t.add_field("labels", torch.tensor([1, 2]))
    t.add_field("masks", SegmentationMask([[[0, 0, 8, 0, 8, 8, 0, 8]], [[8, 8, 16, 8, 16, 16, 8, 16]]], (16, 16)))
    return t


def _positives():
    p = BoxList(torch.tensor([[0.0, 0, 8, 8], [0, 0, 16, 8], [8, 8, 16, 16]]), (16, 16))
    p.add_field("labels", torch.tensor([1, 1, 2]))
    p.add_field("matched_idxs", torch.tensor([0, 0, 1]))
    return p


def test_mask_loss_by_hand():
    logits = torch.randn(3, 3, 4, 4, requires_grad=True)
    loss = MaskRCNNLossComputation(resolution=4)([_positives()], logits, [_target()])
    # proposal 0 and 2 are their instance's box (all ones); proposal 1 spans twice the instance's
    # width, so the instance fills its left half.
    half = torch.zeros(4, 4)
    half[:, :2] = 1
    targets = torch.stack([torch.ones(4, 4), half, torch.ones(4, 4)])
    expected = F.binary_cross_entropy_with_logits(logits[[0, 1, 2], [1, 1, 2]], targets)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert logits.grad[:, 0].abs().sum() == 0  # only the ground-truth class channel is trained


def test_mask_loss_without_positives_is_zero_with_graph():
    p = BoxList(torch.zeros(0, 4), (16, 16))
    p.add_field("labels", torch.zeros(0, dtype=torch.int64))
    p.add_field("matched_idxs", torch.zeros(0, dtype=torch.int64))
    logits = torch.zeros(0, 3, 4, 4, requires_grad=True)
    loss = MaskRCNNLossComputation(4)([p], logits, [_target()])
    assert loss.item() == 0 and loss.requires_grad


class _Spatial(nn.Module):
    """A stand-in box feature extractor with spatial output: mean-pools each box's image."""

    spatial_output = True
    out_channels = 2

    def forward(self, features, proposals):
        n = sum(len(p) for p in proposals)
        return features[0].mean() + torch.zeros(n, 2, 2, 2)


def test_training_uses_positive_proposals_only_and_shared_features():
    predictor = nn.ConvTranspose2d(2, 3, 2, stride=2)
    sampled = _positives()
    sampled = BoxList(torch.cat([sampled.bbox, torch.tensor([[1.0, 1, 5, 5]])]), (16, 16))
    sampled.add_field("labels", torch.tensor([1, 1, 2, 0]))
    sampled.add_field("matched_idxs", torch.tensor([0, 0, 1, -1]))
    box_features = torch.arange(4.0)[:, None, None, None].expand(4, 2, 2, 2).clone()
    head = ROIMaskHead(
        _Spatial(), predictor, MaskPostProcessor(), MaskRCNNLossComputation(4), share_box_features=True
    ).train()
    x, positives, losses = head([torch.ones(1, 2, 4, 4)], [sampled], [_target()], box_features=box_features)
    assert len(positives[0]) == 3 and (positives[0].get_field("labels") > 0).all()
    assert x[:, 0, 0, 0].tolist() == [0.0, 1.0, 2.0]  # the box head's features of the positives
    assert losses["loss_mask"].requires_grad
    head.eval()
    det = BoxList(torch.tensor([[0.0, 0, 8, 8]]), (16, 16))
    det.add_field("labels", torch.tensor([2]))
    _, (out,), losses = head([torch.ones(1, 2, 4, 4)], [det])
    assert out.get_field("mask").shape == (1, 1, 4, 4) and losses == {}
