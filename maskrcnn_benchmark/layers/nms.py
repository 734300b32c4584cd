"""Non-maximum suppression (greedy, IoU without the legacy +1), as torchvision.ops.nms / batched_nms."""

from ._ops import ops


def nms(boxes, scores, iou_threshold):
    """Indices (int64) of the boxes kept, by decreasing score; equal scores keep their input order.

    `boxes[N, 4]` are (x1, y1, x2, y2); a box is dropped when its IoU with a higher-scored kept box is
    greater than `iou_threshold`.
    """
    return ops.nms(boxes, scores, float(iou_threshold))


def batched_nms(boxes, scores, idxs, iou_threshold):
    """Like `nms`, but boxes only suppress boxes with the same value in `idxs[N]` (e.g. the class or image).

    Returns the kept indices of all groups together, by decreasing score.
    """
    return ops.batched_nms(boxes, scores, idxs, float(iou_threshold))
