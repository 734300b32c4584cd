import torch
import torch.nn.functional as F
from torchvision.models.detection._utils import BoxCoder as TVBoxCoder
from torchvision.ops import clip_boxes_to_image, nms

from maskrcnn_benchmark.modeling.balanced_positive_negative_sampler import BalancedPositiveNegativeSampler
from maskrcnn_benchmark.modeling.box_coder import BoxCoder
from maskrcnn_benchmark.modeling.matcher import Matcher
from maskrcnn_benchmark.modeling.roi_heads.box_head.inference import PostProcessor
from maskrcnn_benchmark.modeling.roi_heads.box_head.loss import FastRCNNLossComputation
from maskrcnn_benchmark.structures.bounding_box import BoxList

WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def _proposals(n, size, g):
    xy = torch.rand(n, 2, generator=g) * 60
    wh = torch.rand(n, 2, generator=g) * 30 + 5
    return BoxList(torch.cat([xy, xy + wh], 1), size)


def _reference_detections(logits, deltas, proposals, size, thresh, nms_thresh, top):
    """A loop over classes with torchvision's nms, then the best `top` by score."""
    probs = F.softmax(logits, -1)
    w, h = size
    boxes = TVBoxCoder(WEIGHTS).decode_single(deltas, proposals).view(len(proposals), -1, 4)
    all_boxes, all_scores, all_labels = [], [], []
    for c in range(1, probs.shape[1]):
        b = clip_boxes_to_image(boxes[:, c], (h, w))
        s = probs[:, c]
        keep = (s > thresh) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        b, s = b[keep], s[keep]
        keep = nms(b, s, nms_thresh)
        all_boxes.append(b[keep])
        all_scores.append(s[keep])
        all_labels.append(torch.full((len(keep),), c))
    boxes, scores, labels = torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_labels)
    order = scores.argsort(descending=True)[:top]
    return boxes[order], scores[order], labels[order]


def test_post_processor_matches_per_class_loop():
    g = torch.Generator().manual_seed(0)
    sizes = [(80, 70), (64, 90)]
    proposals = [_proposals(60, s, g) for s in sizes]
    logits = torch.randn(120, 5, generator=g) * 2
    deltas = torch.randn(120, 20, generator=g) * 0.5
    post = PostProcessor(score_thresh=0.1, nms=0.5, detections_per_img=25, box_coder=BoxCoder(WEIGHTS))
    results = post(logits, deltas, proposals)
    for i, (res, prop) in enumerate(zip(results, proposals)):
        sl = slice(60 * i, 60 * (i + 1))
        boxes, scores, labels = _reference_detections(logits[sl], deltas[sl], prop.bbox, sizes[i], 0.1, 0.5, 25)
        assert res.size == sizes[i] and len(res) == 25
        torch.testing.assert_close(res.get_field("scores"), scores)
        torch.testing.assert_close(res.bbox, boxes)
        assert torch.equal(res.get_field("labels"), labels)


def test_post_processor_class_agnostic_and_empty():
    g = torch.Generator().manual_seed(1)
    prop = _proposals(10, (100, 100), g)
    logits = torch.randn(10, 3, generator=g)
    deltas = torch.randn(10, 4, generator=g) * 0.1
    post = PostProcessor(0.0, 1.0, 100, BoxCoder(WEIGHTS), cls_agnostic_bbox_reg=True)
    (res,) = post(logits, deltas, [prop])
    # NMS at 1.0 suppresses nothing: every (proposal, class >= 1) pair survives, same box per row
    assert len(res) == 20
    decoded = BoxCoder(WEIGHTS).decode(deltas, prop.bbox).clamp(0, 100)
    probs = F.softmax(logits, -1)
    for box, score, label in zip(res.bbox, res.get_field("scores"), res.get_field("labels")):
        row = int((probs[:, label] - score).abs().argmin())
        torch.testing.assert_close(box, decoded[row])
    (none,) = PostProcessor(0.99, 0.5, 100, BoxCoder(WEIGHTS))(logits, torch.zeros(10, 12), [prop])
    assert len(none) == 0 and none.get_field("labels").dtype == torch.int64


def _loss_evaluator(batch=512, fraction=0.25, agnostic=False):
    return FastRCNNLossComputation(
        Matcher(0.5, 0.5, False),
        BalancedPositiveNegativeSampler(batch, fraction),
        BoxCoder(WEIGHTS),
        cls_agnostic_bbox_reg=agnostic,
    )


def test_subsample_attaches_targets():
    target = BoxList(torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40]]), (50, 50))
    target.add_field("labels", torch.tensor([3, 1]))
    proposals = BoxList(torch.tensor([[1.0, 1, 10, 10], [20, 20, 39, 41], [0, 30, 10, 40], [0, 0, 10, 10]]), (50, 50))
    (sampled,) = _loss_evaluator().subsample([proposals], [target])
    assert len(sampled) == 4  # everything fits in the sample, in no particular order
    by_row = {tuple(b.tolist()): i for i, b in enumerate(sampled.bbox)}
    i = by_row[(20.0, 20.0, 39.0, 41.0)]
    assert sampled.get_field("labels")[i] == 1 and sampled.get_field("matched_idxs")[i] == 1
    torch.testing.assert_close(
        sampled.get_field("regression_targets")[i],
        TVBoxCoder(WEIGHTS).encode_single(target.bbox[1:2], sampled.bbox[i : i + 1])[0],
    )
    assert sampled.get_field("labels")[by_row[(0.0, 30.0, 10.0, 40.0)]] == 0
    assert sampled.get_field("labels")[by_row[(0.0, 0.0, 10.0, 10.0)]] == 3

    empty = BoxList(torch.zeros(0, 4), (50, 50))
    empty.add_field("labels", torch.zeros(0, dtype=torch.int64))
    (bg,) = _loss_evaluator(batch=3).subsample([proposals], [empty])
    assert len(bg) == 3 and (bg.get_field("labels") == 0).all()
    assert (bg.get_field("regression_targets") == 0).all()


def test_fast_rcnn_loss_by_hand():
    g = torch.Generator().manual_seed(2)
    p = BoxList(torch.rand(3, 4), (10, 10))
    p.add_field("labels", torch.tensor([2, 0, 1]))
    p.add_field("regression_targets", torch.randn(3, 4, generator=g))
    logits = torch.randn(3, 3, generator=g, requires_grad=True)
    deltas = torch.randn(3, 12, generator=g, requires_grad=True)
    cls_loss, box_loss = _loss_evaluator()(logits, deltas, [p])
    targets = p.get_field("regression_targets")
    torch.testing.assert_close(cls_loss, F.cross_entropy(logits, torch.tensor([2, 0, 1])))
    expected = (
        F.smooth_l1_loss(deltas[0, 8:12], targets[0], beta=1.0, reduction="sum")
        + F.smooth_l1_loss(deltas[2, 4:8], targets[2], beta=1.0, reduction="sum")
    ) / 3
    torch.testing.assert_close(box_loss, expected)

    agnostic_deltas = torch.randn(3, 4, generator=g)
    _, box_loss = _loss_evaluator(agnostic=True)(logits, agnostic_deltas, [p])
    expected = F.smooth_l1_loss(agnostic_deltas[[0, 2]], targets[[0, 2]], beta=1.0, reduction="sum") / 3
    torch.testing.assert_close(box_loss, expected)


def test_fast_rcnn_loss_without_positives_keeps_graph():
    p = BoxList(torch.rand(2, 4), (10, 10))
    p.add_field("labels", torch.tensor([0, 0]))
    p.add_field("regression_targets", torch.zeros(2, 4))
    deltas = torch.randn(2, 8, requires_grad=True)
    _, box_loss = _loss_evaluator()(torch.randn(2, 2), deltas, [p])
    assert box_loss.item() == 0
    box_loss.backward()
    assert torch.equal(deltas.grad, torch.zeros(2, 8))


def test_post_processor_and_loss_with_no_proposals_at_all():
    empty = [BoxList(torch.zeros(0, 4), (50, 40)), BoxList(torch.zeros(0, 4), (30, 20))]
    out = PostProcessor()(torch.zeros(0, 5), torch.zeros(0, 20), empty)
    assert [len(o) for o in out] == [0, 0] and out[1].size == (30, 20)
    for p in empty:
        p.add_field("labels", torch.zeros(0, dtype=torch.int64))
        p.add_field("regression_targets", torch.zeros(0, 4))
    logits = torch.zeros(0, 5, requires_grad=True)
    regression = torch.zeros(0, 20, requires_grad=True)
    loss_computation = FastRCNNLossComputation(Matcher(0.5, 0.5), None, BoxCoder((10.0, 10.0, 5.0, 5.0)))
    cls_loss, box_loss = loss_computation(logits, regression, empty)
    assert cls_loss.item() == 0.0 and box_loss.item() == 0.0
    (cls_loss + box_loss).backward()
