"""The COCOeval implementations TEST.COCO_EVAL_BACKEND selects: "pycocotools" (the reference) or
"faster" (faster-coco-eval: the same algorithm with per-image matching and accumulation in C++;
tests/data/test_coco_eval_backends.py checks that all 12 stats agree)."""

import contextlib
import copy
import io

BACKENDS = ("pycocotools", "faster")


def check_backend(backend):
    if backend not in BACKENDS:
        raise ValueError(f"TEST.COCO_EVAL_BACKEND must be one of {BACKENDS}, got {backend!r}")
    if backend == "faster":
        try:
            import faster_coco_eval  # noqa: F401
        except ImportError as e:
            raise ImportError(
                f"TEST.COCO_EVAL_BACKEND faster needs faster-coco-eval (pip install faster-coco-eval): {e}"
            ) from None
    return backend


def _faster_gt(coco_gt):
    """faster-coco-eval's COCO of a pycocotools COCO, built once per ground truth (the search
    evaluates hundreds of candidates on one)."""
    from faster_coco_eval import COCO

    cached = getattr(coco_gt, "_faster_coco", None)
    if cached is None:
        with contextlib.redirect_stdout(io.StringIO()):
            cached = COCO(copy.deepcopy(coco_gt.dataset))
        coco_gt._faster_coco = cached
    return cached


def _empty_like(coco_cls, gt_dataset):
    coco_dt = coco_cls()
    coco_dt.dataset = {
        "images": copy.copy(gt_dataset["images"]),
        "categories": copy.deepcopy(gt_dataset["categories"]),
        "annotations": [],
    }
    coco_dt.createIndex()
    return coco_dt


def run_cocoeval(coco_gt, results, iou_type, image_ids=None, backend="pycocotools"):
    """evaluate + accumulate + summarize on result dicts (left unchanged); returns the evaluator,
    whose `stats` hold the 12 COCO numbers. Prints what COCOeval prints."""
    check_backend(backend)
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as Eval

        gt = coco_gt
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as Eval

        gt = _faster_gt(coco_gt)
    # loadRes adds fields to the dicts it gets; keep the caller's results as they were.
    coco_dt = gt.loadRes(copy.deepcopy(results)) if results else _empty_like(COCO, gt.dataset)
    if backend == "pycocotools":
        coco_eval = Eval(gt, coco_dt, iou_type)
    else:
        coco_eval = Eval(gt, coco_dt, iou_type, print_function=print)
    if image_ids is not None:
        coco_eval.params.imgIds = sorted(image_ids)
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    return coco_eval
