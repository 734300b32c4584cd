import math

import torch
from torchvision.models.detection._utils import BoxCoder as TVBoxCoder
from torchvision.ops import batched_nms as tv_batched_nms
from torchvision.ops import clip_boxes_to_image, sigmoid_focal_loss as tv_focal_loss
from torch.nn import functional as F

from maskrcnn_benchmark.modeling.box_coder import BoxCoder
from maskrcnn_benchmark.modeling.matcher import Matcher
from maskrcnn_benchmark.modeling.rpn.retinanet.inference import RetinaNetPostProcessor
from maskrcnn_benchmark.modeling.rpn.retinanet.loss import RetinaNetLossComputation
from maskrcnn_benchmark.modeling.rpn.retinanet.retinanet import RetinaNetHead
from maskrcnn_benchmark.structures.bounding_box import BoxList

WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def test_head_prior_and_shapes():
    head = RetinaNetHead(16, num_classes=3, num_anchors=9, num_convs=2, prior_prob=0.01)
    logits, deltas = head([torch.randn(2, 16, 8, 8), torch.randn(2, 16, 4, 4)])
    assert [tuple(t.shape) for t in logits] == [(2, 27, 8, 8), (2, 27, 4, 4)]
    assert [tuple(t.shape) for t in deltas] == [(2, 36, 8, 8), (2, 36, 4, 4)]
    torch.testing.assert_close(head.cls_logits.bias, torch.full((27,), -math.log(99.0)))


def test_loss_by_hand():
    anchors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 12], [3, 3, 13, 13], [30, 30, 40, 40], [0, 0, 20, 20]])
    gt = BoxList(torch.tensor([[0.0, 0, 10, 11], [30, 30, 40, 41]]), (64, 64))
    gt.add_field("labels", torch.tensor([2, 3]))
    empty = BoxList(torch.zeros(0, 4), (64, 64))
    empty.add_field("labels", torch.zeros(0, dtype=torch.int64))
    g = torch.Generator().manual_seed(0)
    cls = torch.randn(2, 5, 3, generator=g, requires_grad=True)
    reg = torch.randn(2, 5, 4, generator=g, requires_grad=True)
    loss = RetinaNetLossComputation(
        Matcher(0.5, 0.4, True), BoxCoder(WEIGHTS), gamma=2.0, alpha=0.25, bbox_reg_beta=0.11, regress_norm=4.0
    )
    cls_loss, reg_loss = loss(anchors, cls, reg, [(64, 64)] * 2, [gt, empty])
    # IoUs with gt 0: 0.91, 0.92, 0.36 (background, < 0.4), 0, 0.275; anchor 3 matches gt 1 (0.91).
    labels = torch.tensor([2, 2, 0, 3, 0])
    one_hot = F.one_hot(labels, 4)[:, 1:].float()
    expected_cls = (
        tv_focal_loss(cls[0], one_hot, alpha=0.25, gamma=2.0, reduction="sum")
        + tv_focal_loss(cls[1], torch.zeros(5, 3), alpha=0.25, gamma=2.0, reduction="sum")
    ) / (3 + 2)
    torch.testing.assert_close(cls_loss, expected_cls)
    codes = TVBoxCoder(WEIGHTS).encode_single(gt.bbox[[0, 0, 1]], anchors[[0, 1, 3]])
    expected_reg = F.smooth_l1_loss(reg[0, [0, 1, 3]], codes, beta=0.11, reduction="sum") / (3 * 4)
    torch.testing.assert_close(reg_loss, expected_reg)


def test_loss_ignores_between_thresholds():
    anchors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 14.5]])
    gt = BoxList(torch.tensor([[0.0, 0, 10, 10]]), (32, 32))
    gt.add_field("labels", torch.tensor([1]))
    # anchor 1's IoU with the gt is 100 / 145 = 0.69: between 0.5 and 0.8 -> ignored.
    cls = torch.randn(1, 2, 1, requires_grad=True)
    loss = RetinaNetLossComputation(Matcher(0.8, 0.5, True), BoxCoder(WEIGHTS))
    cls_loss, _ = loss(anchors, cls, torch.zeros(1, 2, 4), [(32, 32)], [gt])
    cls_loss.backward()
    assert cls.grad[0, 1].abs().sum() == 0 and cls.grad[0, 0].abs().sum() > 0


def test_post_processor_matches_reference():
    g = torch.Generator().manual_seed(3)
    num_fg, sizes = 3, [(60, 80), (50, 50)]
    anchors, cls, reg = [], [], []
    for n in (200, 50):
        xy = torch.rand(n, 2, generator=g) * 70
        wh = torch.rand(n, 2, generator=g) * 30 + 2
        anchors.append(torch.cat([xy - wh / 2, xy + wh / 2], 1))
        cls.append(torch.randn(2, n, num_fg, generator=g) - 1)
        reg.append(torch.randn(2, n, 4, generator=g) * 0.3)
    post = RetinaNetPostProcessor(
        score_thresh=0.3, pre_nms_top_n=100, nms_thresh=0.5, detections_per_img=40, box_coder=BoxCoder(WEIGHTS)
    )
    results = post(anchors, cls, reg, sizes)
    coder = TVBoxCoder(WEIGHTS)
    for i, (h, w) in enumerate(sizes):
        boxes, scores, labels = [], [], []
        for a, c, r in zip(anchors, cls, reg):
            s = c[i].sigmoid().flatten()
            top_s, top_i = s.topk(min(100, s.numel()))
            keep = top_s > 0.3
            top_s, top_i = top_s[keep], top_i[keep]
            rows = top_i // num_fg
            b = clip_boxes_to_image(coder.decode_single(r[i, rows], a[rows]), (h, w))
            nonempty = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])  # boxes clipped away are dropped
            boxes.append(b[nonempty])
            scores.append(top_s[nonempty])
            labels.append(top_i[nonempty] % num_fg + 1)
        boxes, scores, labels = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
        keep = tv_batched_nms(boxes, scores, labels, 0.5)[:40]
        res = results[i]
        assert res.size == (w, h)
        torch.testing.assert_close(res.get_field("scores"), scores[keep])
        torch.testing.assert_close(res.bbox, boxes[keep])
        assert torch.equal(res.get_field("labels"), labels[keep])
