"""Evaluation of a dataset's predictions: `evaluate(dataset, predictions, output_folder, ...)`."""

from .coco_eval import do_coco_evaluation


def evaluate(dataset, predictions, output_folder, iou_types=("bbox",), box_only=False, backend="pycocotools"):
    """Evaluate `predictions` ({dataset index: BoxList in the model's input size}, or a list in
    dataset order) on `dataset`; write `<iou_type>.json` result files to `output_folder` (if any).

    Returns {iou_type: {"AP", "AP50", "AP75", "APs", "APm", "APl"}} for iou_types "bbox"/"segm", or
    with `box_only` (RPN proposals, scored by "objectness") {"box_proposal": {"AR@100", "ARs@100",
    "ARm@100", "ARl@100", "AR@1000", ...}}. `backend` is the COCOeval implementation:
    "pycocotools" or "faster" (faster-coco-eval, same numbers).
    """
    if isinstance(predictions, (list, tuple)):
        predictions = dict(enumerate(predictions))
    if not isinstance(predictions, dict):
        raise TypeError(f"predictions must be a dict {{index: BoxList}} or a list, got {type(predictions).__name__}")
    if isinstance(iou_types, str):
        iou_types = (iou_types,)
    if hasattr(dataset, "coco"):
        return do_coco_evaluation(dataset, predictions, output_folder, tuple(iou_types), box_only, backend)
    raise NotImplementedError(
        f"no evaluation for datasets of type {type(dataset).__name__} (only COCO-format datasets are supported)"
    )


__all__ = ["evaluate"]
