"""Running a detector over a test set and handing the predictions to the COCO evaluation."""

import logging
import os
import time

import torch
from tqdm import tqdm

from maskrcnn_benchmark.engine.amp import autocast_context
from maskrcnn_benchmark.utils.comm import all_gather, get_world_size, is_main_process, synchronize
from maskrcnn_benchmark.nas.arch import arch_to_str


@torch.no_grad()
def compute_on_dataset(model, data_loader, device, arch=None, amp=False, progress=True):
    """Predictions of this process's share of the data: {dataset index: BoxList on the CPU}."""
    model.eval()
    results = {}
    kwargs = {"arch": tuple(arch)} if arch is not None else {}
    bar = tqdm(data_loader, desc="inference", disable=not (progress and is_main_process()), dynamic_ncols=True)
    for images, _, indices in bar:
        images = images.to(device)
        with autocast_context(device, amp):
            outputs = model(images, **kwargs)
        for idx, out in zip(indices, outputs):
            results[int(idx)] = _to_float_cpu(out)
    return results


def _to_float_cpu(boxlist):
    boxlist = boxlist.to("cpu")
    boxlist.bbox = boxlist.bbox.float()
    for name in boxlist.fields():
        value = boxlist.get_field(name)
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            boxlist.add_field(name, value.float())
    return boxlist


def gather_predictions(predictions, num_images):
    """Merge the per-process dicts (all_gather_object) into one list ordered by dataset index."""
    merged = {}
    for part in all_gather(predictions):
        merged.update(part)
    if not is_main_process():
        return None
    missing = sorted(set(range(num_images)) - set(merged))
    if missing:
        logging.getLogger(__name__).warning(
            "%d of %d images got no prediction (e.g. %s); the distributed sampler dropped or repeated some",
            len(missing),
            num_images,
            missing[:5],
        )
    return merged


def inference(
    model,
    data_loader,
    dataset_name,
    iou_types=("bbox",),
    box_only=False,
    device="cpu",
    output_folder=None,
    arch=None,
    amp=False,
    progress=True,
    logger=None,
    coco_eval_backend="pycocotools",
):
    """Predict over `data_loader`, evaluate on the main process and return the metrics dict.

    Other processes return None. `arch` selects the supernet path to evaluate.
    """
    from maskrcnn_benchmark.data.datasets.evaluation import evaluate

    logger = logger or logging.getLogger("maskrcnn_benchmark.inference")
    dataset = data_loader.dataset
    logger.info(
        "evaluating %s (%d images)%s",
        dataset_name,
        len(dataset),
        f" on path {arch_to_str(arch)}" if arch is not None else "",
    )
    start = time.perf_counter()
    predictions = compute_on_dataset(model, data_loader, device, arch=arch, amp=amp, progress=progress)
    synchronize()
    elapsed = time.perf_counter() - start
    logger.info(
        "inference took %.1f s (%.4f s / image per device, %d device(s))",
        elapsed,
        elapsed * get_world_size() / max(len(dataset), 1),
        get_world_size(),
    )
    predictions = gather_predictions(predictions, len(dataset))
    if predictions is None:
        return None
    if output_folder:
        os.makedirs(output_folder, exist_ok=True)
    results = evaluate(
        dataset, predictions, output_folder, iou_types=iou_types, box_only=box_only, backend=coco_eval_backend
    )
    for iou_type, metrics in results.items():
        logger.info("%s %s: %s", dataset_name, iou_type, "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return results


def evaluate_loaders(model, loaders, device, output_folders=None, **inference_kwargs):
    """inference() on each of `loaders` ({dataset name: loader}); {name: metrics} on the main process,
    {} elsewhere. `output_folders` ({name: folder}) receive the predictions and COCO results."""
    output_folders = output_folders or {}
    all_results = {}
    for name, loader in loaders.items():
        results = inference(
            model, loader, name, device=device, output_folder=output_folders.get(name), **inference_kwargs
        )
        if results is not None:
            all_results[name] = results
    return all_results
