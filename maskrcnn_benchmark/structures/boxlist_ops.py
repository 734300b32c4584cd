"""Operations on BoxLists: IoU, NMS, concatenation, size filtering."""

import torch

from .bounding_box import BoxList


def boxlist_iou(boxlist1, boxlist2):
    """IoU of every pair: a [N, M] tensor for N boxes in `boxlist1` and M in `boxlist2`.

    Both must describe the same image size. Same semantics as torchvision.ops.box_iou (continuous
    coordinates; two empty boxes give 0/0 = nan, as there).
    """
    if boxlist1.size != boxlist2.size:
        raise ValueError(f"boxlist_iou needs BoxLists of the same image size, got {boxlist1.size} and {boxlist2.size}")
    a = boxlist1.convert("xyxy").bbox
    b = boxlist2.convert("xyxy").bbox
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = torch.max(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def boxlist_nms(boxlist, nms_thresh, max_proposals=-1, score_field="scores"):
    """Non-maximum suppression of a BoxList by its `score_field`.

    Returns the kept boxes (all fields) ordered by decreasing score, at most `max_proposals` of them
    when that is positive. A threshold <= 0 disables NMS and returns the input.
    """
    if nms_thresh <= 0:
        return boxlist
    # Imported here so that structures (and data) work without the compiled extension.
    from maskrcnn_benchmark.layers import nms

    mode = boxlist.mode
    boxlist = boxlist.convert("xyxy")
    keep = nms(boxlist.bbox, boxlist.get_field(score_field), nms_thresh)
    if max_proposals > 0:
        keep = keep[:max_proposals]
    return boxlist[keep].convert(mode)


def boxlist_ml_nms(boxlist, nms_thresh, max_proposals=-1, score_field="scores", label_field="labels"):
    """NMS done independently per value of `label_field` (multi-label NMS), in one batched call."""
    if nms_thresh <= 0:
        return boxlist
    from maskrcnn_benchmark.layers import batched_nms

    mode = boxlist.mode
    boxlist = boxlist.convert("xyxy")
    keep = batched_nms(boxlist.bbox, boxlist.get_field(score_field), boxlist.get_field(label_field), nms_thresh)
    if max_proposals > 0:
        keep = keep[:max_proposals]
    return boxlist[keep].convert(mode)


def remove_small_boxes(boxlist, min_size):
    """Keep the boxes whose width and height are both >= `min_size`."""
    wh = boxlist.convert("xywh").bbox
    keep = (wh[:, 2] >= min_size) & (wh[:, 3] >= min_size)
    return boxlist[keep]


def _cat(values, what):
    first = values[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(values, dim=0)
    if hasattr(type(first), "cat"):
        return type(first).cat(values)
    if isinstance(first, (list, tuple)):
        return type(first)(x for v in values for x in v)
    raise TypeError(f"cat_boxlist: do not know how to concatenate field '{what}' of type {type(first).__name__}")


def cat_boxlist(bboxes):
    """Concatenate BoxLists of one image (same size, mode and field names) into one BoxList."""
    bboxes = list(bboxes)
    if not bboxes:
        raise ValueError("cat_boxlist needs at least one BoxList")
    for b in bboxes:
        if not isinstance(b, BoxList):
            raise TypeError(f"cat_boxlist expects BoxLists, got {type(b).__name__}")
    size, mode = bboxes[0].size, bboxes[0].mode
    fields = set(bboxes[0].fields())
    for b in bboxes[1:]:
        if b.size != size:
            raise ValueError(f"cat_boxlist: image sizes differ ({size} vs {b.size})")
        if b.mode != mode:
            raise ValueError(f"cat_boxlist: modes differ ({mode} vs {b.mode})")
        if set(b.fields()) != fields:
            raise ValueError(f"cat_boxlist: fields differ ({sorted(fields)} vs {sorted(b.fields())})")
    out = BoxList(torch.cat([b.bbox for b in bboxes], dim=0), size, mode)
    for name in bboxes[0].fields():
        out.add_field(name, _cat([b.get_field(name) for b in bboxes], name))
    return out
