import pytest
import torch
import torch.nn.functional as F
from torchvision.models.detection._utils import BoxCoder as TVBoxCoder
from torchvision.ops import box_iou, clip_boxes_to_image, nms

from maskrcnn_benchmark.modeling.balanced_positive_negative_sampler import BalancedPositiveNegativeSampler
from maskrcnn_benchmark.modeling.box_coder import BoxCoder
from maskrcnn_benchmark.modeling.matcher import Matcher
from maskrcnn_benchmark.modeling.rpn.inference import RPNPostProcessor
from maskrcnn_benchmark.modeling.rpn.loss import RPNLossComputation
from maskrcnn_benchmark.structures.bounding_box import BoxList


def _random_level(num_images, num_anchors, extent, g):
    xy = torch.rand(num_anchors, 2, generator=g) * extent
    wh = torch.rand(num_anchors, 2, generator=g) * extent / 3 + 1
    anchors = torch.cat([xy - wh / 2, xy + wh / 2], 1)
    logits = torch.randn(num_images, num_anchors, generator=g)
    deltas = torch.randn(num_images, num_anchors, 4, generator=g) * 0.2
    return anchors, logits, deltas


def _reference_proposals(anchors, logits, deltas, image_sizes, pre, post, fpn_post, thresh, min_size):
    """maskrcnn-benchmark's order of work with torchvision pieces: per image and level top-k,
    decode, clip, remove small, NMS, keep `post`; then the best `fpn_post` over levels."""
    coder = TVBoxCoder((1.0, 1.0, 1.0, 1.0))
    results = []
    for i, (h, w) in enumerate(image_sizes):
        boxes, scores = [], []
        for a, lg, d in zip(anchors, logits, deltas):
            s, idx = lg[i].topk(min(pre, lg.shape[1]))
            b = clip_boxes_to_image(coder.decode_single(d[i, idx], a[idx]), (h, w))
            wh = b[:, 2:] - b[:, :2]
            keep = ((wh >= min_size) & (wh > 0)).all(1)
            b, s = b[keep], s[keep]
            keep = nms(b, s, thresh)[:post]
            boxes.append(b[keep])
            scores.append(s[keep])
        boxes, scores = torch.cat(boxes), torch.cat(scores)
        order = scores.argsort(descending=True)[:fpn_post]
        results.append((boxes[order], scores[order].sigmoid()))
    return results


@pytest.mark.parametrize("pre,post,fpn_post,min_size", [(50, 50, 40, 0), (60, 20, 45, 4.0)])
def test_post_processor_per_image_matches_reference(pre, post, fpn_post, min_size):
    g = torch.Generator().manual_seed(0)
    levels = [_random_level(2, n, 100, g) for n in (300, 80, 20)]
    anchors, logits, deltas = (list(t) for t in zip(*levels))
    image_sizes = [(90, 100), (70, 64)]
    selector = RPNPostProcessor(pre, post, 0.7, min_size, BoxCoder((1.0, 1.0, 1.0, 1.0)), fpn_post_nms_top_n=fpn_post)
    proposals = selector(anchors, logits, deltas, image_sizes)
    expected = _reference_proposals(anchors, logits, deltas, image_sizes, pre, post, fpn_post, 0.7, min_size)
    for p, (boxes, scores), (h, w) in zip(proposals, expected, image_sizes):
        assert p.size == (w, h) and p.mode == "xyxy"
        torch.testing.assert_close(p.bbox, boxes)
        torch.testing.assert_close(p.get_field("objectness"), scores)
    assert len(proposals[0]) == fpn_post


def test_post_processor_per_batch_top_n_and_gt_added():
    g = torch.Generator().manual_seed(1)
    anchors, logits, deltas = _random_level(2, 200, 100, g)
    logits[1] -= 3.0  # image 1 scores lower: a batch-wide top-N favours image 0
    sizes = [(100, 100), (100, 100)]
    per_image = RPNPostProcessor(200, 200, 0.7, 0, BoxCoder((1.0,) * 4), fpn_post_nms_top_n=30)
    per_batch = RPNPostProcessor(
        200, 200, 0.7, 0, BoxCoder((1.0,) * 4), fpn_post_nms_top_n=30, fpn_post_nms_per_batch=True
    )
    a = per_image([anchors], [logits], [deltas], sizes)
    b = per_batch([anchors], [logits], [deltas], sizes)
    assert [len(p) for p in a] == [30, 30]
    assert sum(len(p) for p in b) == 30 and len(b[0]) > len(b[1])
    # the batch-wide top 30 scores, each image's share a prefix of its own ranking
    full = RPNPostProcessor(200, 200, 0.7, 0, BoxCoder((1.0,) * 4), fpn_post_nms_top_n=200)(
        [anchors], [logits], [deltas], sizes
    )
    best = torch.cat([p.get_field("objectness") for p in full]).sort(descending=True).values[:30]
    got = torch.cat([p.get_field("objectness") for p in b]).sort(descending=True).values
    torch.testing.assert_close(got, best)
    for p, f in zip(b, full):
        torch.testing.assert_close(p.bbox, f.bbox[: len(p)])

    target = BoxList(torch.tensor([[1.0, 2, 30, 40]]), (100, 100))
    empty = BoxList(torch.zeros(0, 4), (100, 100))
    with_gt = per_image([anchors], [logits], [deltas], sizes, targets=[target, empty])
    assert [len(p) for p in with_gt] == [31, 30]
    torch.testing.assert_close(with_gt[0].bbox[-1], target.bbox[0])
    assert with_gt[0].get_field("objectness")[-1] == 1.0


def _loss(straddle=-1, batch=256):
    return RPNLossComputation(
        Matcher(0.7, 0.3, True),
        BalancedPositiveNegativeSampler(batch, 0.5),
        BoxCoder((1.0, 1.0, 1.0, 1.0)),
        straddle_thresh=straddle,
    )


def test_rpn_loss_by_hand():
    anchors = torch.tensor([[0.0, 0, 10, 10], [2, 2, 12, 12], [20, 20, 30, 30], [50, 50, 60, 60], [0, 0, 12, 12]])
    gt = BoxList(torch.tensor([[0.0, 0, 10, 11]]), (64, 64))
    gt.add_field("labels", torch.tensor([1]))
    logits = torch.tensor([[2.0, -1.0, 0.5, -2.0, 0.3]], requires_grad=True)
    deltas = torch.randn(1, 5, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    obj_loss, box_loss = _loss()(anchors, logits, deltas, [(64, 64)], [gt])
    iou = box_iou(gt.bbox, anchors)[0]
    # anchor 0 (IoU 0.91) and 4 (110/144 = 0.76) positive; 1 (0.52) ignored; 2, 3 negative
    assert iou[0] > 0.7 and iou[4] > 0.7 and 0.3 < iou[1] < 0.7
    labels = torch.tensor([1.0, 0, 0, 1])
    sampled = [0, 2, 3, 4]
    expected_obj = F.binary_cross_entropy_with_logits(logits[0, sampled], labels)
    codes = TVBoxCoder((1.0,) * 4).encode_single(gt.bbox.expand(2, 4), anchors[[0, 4]])
    expected_box = F.smooth_l1_loss(deltas[0, [0, 4]], codes, beta=1 / 9, reduction="sum") / 4
    torch.testing.assert_close(obj_loss, expected_obj)
    torch.testing.assert_close(box_loss, expected_box)
    (obj_loss + box_loss).backward()
    assert deltas.grad[0, [1, 2, 3]].abs().sum() == 0 and deltas.grad[0, 0].abs().sum() > 0


def test_rpn_loss_straddle_and_no_ground_truth():
    anchors = torch.tensor([[0.0, 0, 10, 10], [-5, -5, 5, 5], [20, 20, 30, 30]])
    logits = torch.zeros(2, 3, requires_grad=True)
    deltas = torch.zeros(2, 3, 4, requires_grad=True)
    gt = BoxList(torch.tensor([[-5.0, -5, 5, 5]]), (32, 32))
    empty = BoxList(torch.zeros(0, 4), (32, 32))
    obj_loss, box_loss = _loss(straddle=0)(anchors, logits, deltas, [(32, 32)] * 2, [gt, empty])
    # image 0: anchor 1 matches but straddles the border -> ignored; 0 and 2 negative.
    # image 1: no ground truth, the two visible anchors are negative.
    torch.testing.assert_close(obj_loss, torch.tensor(0.6931), atol=1e-4, rtol=0)
    assert box_loss.item() == 0 and box_loss.requires_grad
    (obj_loss + box_loss).backward()
    assert logits.grad[:, 1].abs().sum() == 0
