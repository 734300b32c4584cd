"""Average recall of region proposals (RPN-only evaluation), as Detectron reports it.

For each image the proposals (best objectness first, at most `limit`) are matched one-to-one to the
non-crowd ground-truth boxes whose area falls in the range, greedily: the (proposal, box) pair of
highest IoU is matched first, both are removed, and so on. Recall at an IoU threshold is the fraction
of all ground-truth boxes matched with at least that IoU; average recall (AR) is the mean over the
thresholds 0.50, 0.55, ..., 0.95.
"""

import torch

from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.boxlist_ops import boxlist_iou

AREA_RANGES = {
    "all": (0.0, 1e10),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e10),
}


def greedy_match_overlaps(iou):
    """IoUs of the greedy one-to-one matching of an [P proposals, G boxes] IoU matrix, per box.

    Boxes left unmatched (more boxes than proposals) get 0.
    """
    iou = torch.nan_to_num(iou, nan=0.0)  # empty boxes give 0/0
    num_p, num_g = iou.shape
    matched = torch.zeros(num_g, dtype=iou.dtype)
    for _ in range(min(num_p, num_g)):
        best_per_box, best_proposal = iou.max(dim=0)
        value, box = best_per_box.max(dim=0)
        if value < 0:
            break
        matched[box] = value
        iou[best_proposal[box], :] = -1
        iou[:, box] = -1
    return matched


def _score_field(boxlist):
    for name in ("objectness", "scores"):
        if boxlist.has_field(name):
            return name
    raise KeyError(f"proposals need an 'objectness' or 'scores' field, got {boxlist.fields()}")


def evaluate_box_proposals(predictions, dataset, thresholds=None, area="all", limit=None):
    """AR of `predictions` {idx: BoxList in original image size} against `dataset.coco`.

    Returns dict(ar, recalls (per threshold), thresholds, gt_overlaps, num_pos).
    """
    if area not in AREA_RANGES:
        raise ValueError(f"unknown area {area!r}; known: {list(AREA_RANGES)}")
    low, high = AREA_RANGES[area]
    if thresholds is None:
        thresholds = torch.arange(0.5, 0.95 + 1e-5, 0.05)
    overlaps = []
    num_pos = 0
    for idx, prediction in predictions.items():
        info = dataset.get_img_info(idx)
        anns = [a for a in dataset.coco.imgToAnns.get(info["id"], []) if not a["iscrowd"]]
        anns = [a for a in anns if low <= a["area"] <= high]
        if not anns:
            continue
        num_pos += len(anns)
        gt = BoxList(
            torch.tensor([a["bbox"] for a in anns], dtype=torch.float32), (info["width"], info["height"]), mode="xywh"
        ).convert("xyxy")
        if len(prediction) == 0:
            overlaps.append(torch.zeros(len(anns)))
            continue
        order = prediction.get_field(_score_field(prediction)).argsort(descending=True)
        if limit is not None:
            order = order[:limit]
        proposals = prediction[order].convert("xyxy")
        overlaps.append(greedy_match_overlaps(boxlist_iou(proposals, gt).float().cpu()))
    gt_overlaps = torch.cat(overlaps) if overlaps else torch.zeros(0)
    recalls = torch.tensor([(gt_overlaps >= t).sum().item() / max(num_pos, 1) for t in thresholds])
    return {
        "ar": recalls.mean().item(),
        "recalls": recalls,
        "thresholds": thresholds,
        "gt_overlaps": gt_overlaps,
        "num_pos": num_pos,
    }
