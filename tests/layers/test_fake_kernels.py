"""The fake (torch.compile) kernels: shapes under symbolic sizes, and argument checks that are the C++ checks
themselves, so a bad argument gives the same error traced as eager."""

import re

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import ShapeEnv
from torch.library import opcheck

from maskrcnn_benchmark.layers import roi_align
from maskrcnn_benchmark.layers._ops import ops

X = torch.randn(2, 3, 10, 12)
ROIS = torch.tensor([[0.0, 1.0, 1.0, 8.0, 8.0], [1.0, 0.0, 2.0, 5.0, 9.0]])
BOXES = torch.tensor([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 5.0, 5.0], [8.0, 8.0, 9.0, 9.0]])
SCORES = torch.tensor([0.9, 0.8, 0.7])
LOGITS = torch.randn(4, 3)
LABELS = torch.tensor([0, 1, 3, -1])
POOL_GRAD = torch.randn(2, 3, 2, 2)

# (op, arguments, a piece of the expected message): each is refused by the argument checks alone.
BAD_CALLS = [
    (ops.roi_align, (X, ROIS[:, :4], 0.5, 2, 2, 2, True), r"rois must be a \[K, 5\] tensor"),
    (ops.roi_align, (X[0], ROIS, 0.5, 2, 2, 2, True), "input must be a 4-D tensor"),
    (ops.roi_align, (X, ROIS.double(), 0.5, 2, 2, 2, True), "input and rois must have the same dtype"),
    (ops.roi_align, (X.long(), ROIS.long(), 0.5, 2, 2, 2, True), "input must be a floating point tensor"),
    (ops.roi_align, (X, ROIS, -1.0, 2, 2, 2, True), "spatial_scale must be a positive finite number"),
    (ops.roi_pool, (X, ROIS, 0.5, 0, 2), "output_size must be positive"),
    (ops._roi_align_backward, (POOL_GRAD[:, :2], ROIS, 0.5, 2, 2, 2, 3, 10, 12, 2, True), "grad must have shape"),
    (ops._roi_pool_backward, (POOL_GRAD, ROIS, POOL_GRAD, 0.5, 2, 2, 2, 3, 10, 12), "argmax must be an int32"),
    (ops.nms, (BOXES, SCORES[:2], 0.5), r"one score per box \("),
    (ops.nms, (BOXES.long(), SCORES.long(), 0.5), "boxes must be a floating point tensor"),
    (ops.nms, (BOXES, SCORES.double(), 0.5), "boxes and scores must have the same dtype"),
    (ops.batched_nms, (BOXES, SCORES, SCORES, 0.5), "idxs must be an integer tensor"),
    (ops.batched_nms, (BOXES, SCORES, LABELS[:2], 0.5), r"one index per box \("),
    (ops.sigmoid_focal_loss, (LOGITS, LABELS.float(), 2.0, 0.25), "labels must be an int64 or int32 tensor"),
    (ops.sigmoid_focal_loss, (LOGITS[None], LABELS, 2.0, 0.25), r"logits must be a 2-D tensor \[N, C\]"),
    (ops.sigmoid_focal_loss, (LOGITS, LABELS, -1.0, 0.25), "gamma must be a finite number >= 0"),
    (ops._sigmoid_focal_loss_backward, (LOGITS[:, :2], LOGITS, LABELS, 2.0, 0.25), "grad must match logits"),
]


def _message(op, args):
    with pytest.raises(RuntimeError) as caught:
        op(*args)
    return str(caught.value).splitlines()[0]


def _fake_message(op, args, mode):
    fake_args = tuple(mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args)
    with mode:
        return _message(op, fake_args)


@pytest.mark.parametrize("op, args, match", BAD_CALLS, ids=lambda v: getattr(v, "__name__", None))
def test_fake_kernels_refuse_what_the_kernels_refuse_with_the_same_message(op, args, match):
    eager = _message(op, args)
    assert re.search(match, eager), eager
    assert _fake_message(op, args, FakeTensorMode()) == eager
    # With symbolic sizes the same check refuses it; the message then names the sizes symbolically.
    assert re.search(match, _fake_message(op, args, FakeTensorMode(shape_env=ShapeEnv())))


def test_fake_kernels_give_shapes():
    with FakeTensorMode(shape_env=ShapeEnv()):
        x = torch.empty(2, 8, 10, 12)
        rois = torch.empty(5, 5)
        assert ops.roi_align(x, rois, 0.5, 3, 4, 2, True).shape == (5, 8, 3, 4)
        out, argmax = ops.roi_pool(x, rois, 0.5, 2, 2)
        assert out.shape == (5, 8, 2, 2) and argmax.dtype == torch.int32
        assert ops._roi_align_backward(torch.empty(5, 8, 3, 4), rois, 0.5, 3, 4, 2, 8, 10, 12, 2, True).shape == x.shape
        logits = torch.empty(7, 3)
        assert ops.sigmoid_focal_loss(logits, torch.empty(7, dtype=torch.int64), 2.0, 0.25).shape == (7, 3)
        keep = ops.nms(torch.empty(9, 4), torch.empty(9), 0.5)
        assert keep.dim() == 1 and keep.dtype == torch.int64


def _opcheck_cases():
    boxes = torch.rand(30, 4, generator=torch.Generator().manual_seed(0)) * 20
    boxes[:, 2:] += boxes[:, :2]
    scores = torch.rand(30, generator=torch.Generator().manual_seed(1))
    x = X.clone().requires_grad_()
    no_autograd = ("test_schema", "test_faketensor")  # nms has no gradient and a data-dependent output size
    return [
        (ops.roi_align, (x, ROIS, 0.5, 2, 3, 2, True), None),
        (ops.roi_align, (x, ROIS, 0.5, 2, 2, 0, False), None),
        (ops.roi_pool, (x, ROIS, 0.5, 3, 2), None),
        (ops.sigmoid_focal_loss, (LOGITS.clone().requires_grad_(), LABELS, 2.0, 0.25), None),
        (ops.nms, (boxes, scores, 0.5), no_autograd),
        (ops.batched_nms, (boxes, scores, torch.arange(30) % 3, 0.5), no_autograd),
    ]


@pytest.mark.parametrize("case", range(len(_opcheck_cases())))
def test_opcheck_every_op(case):
    """torch.library.opcheck: schema, autograd registration, fake kernel against the real one, and AOT
    dispatch with dynamic shapes (the checks run on symbolic sizes)."""
    op, args, utils = _opcheck_cases()[case]
    kwargs = {} if utils is None else {"test_utils": utils}
    opcheck(op, args, **kwargs)


def test_compile_with_dynamic_shapes_reuses_one_graph():
    torch._dynamo.reset()
    compiled = torch.compile(lambda x, rois: roi_align(x, rois, 2, 0.5, 2), dynamic=True, backend="aot_eager")
    for n, k in ((2, 3), (3, 5)):
        x = torch.randn(n, 3, 9, 11)
        rois = ROIS[:1].repeat(k, 1)
        torch.testing.assert_close(compiled(x, rois), roi_align(x, rois, 2, 0.5, 2))
