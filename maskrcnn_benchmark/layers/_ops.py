"""Loads the compiled extension `maskrcnn_benchmark._C` and registers the fake (meta) kernels of its ops.

The C++ side registers the op schemas, the CPU/CUDA kernels, autograd and autocast. The fake kernels here
only compute output shapes and dtypes, which is what `torch.compile` (FakeTensor tracing) needs.
"""

import torch

try:
    from maskrcnn_benchmark import _C  # noqa: F401  (loading it registers torch.ops.maskrcnn_benchmark)
except ImportError as e:  # pragma: no cover - exercised only on a machine without the build
    raise ImportError(
        "maskrcnn_benchmark._C (the compiled C++/CUDA ops) could not be imported: "
        f"{e}. Build it with `bash config.sh`, or `python setup.py build_ext --inplace` in the repository root."
    ) from e

ops = torch.ops.maskrcnn_benchmark

_LIB = "maskrcnn_benchmark::"


def pair_of_positive_ints(op, name, value):
    """`value` (an int or a pair of ints) as a (height, width) tuple of positive ints; ValueError otherwise."""
    pair = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints (height, width), got {value!r}")
    if pair[0] <= 0 or pair[1] <= 0:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return pair


def _check(cond, message):
    if not cond:
        raise RuntimeError(message)


def _check_roi_args(op, input, rois, pooled_height, pooled_width):
    _check(input.dim() == 4, f"{op}: input must be a 4-D tensor [N, C, H, W], got shape {tuple(input.shape)}")
    _check(
        rois.dim() == 2 and rois.shape[1] == 5,
        f"{op}: rois must be a [K, 5] tensor of (batch_index, x1, y1, x2, y2), got shape {tuple(rois.shape)}",
    )
    _check(
        input.dtype == rois.dtype,
        f"{op}: input and rois must have the same dtype, got input {input.dtype} and rois {rois.dtype}",
    )
    _check(
        input.device == rois.device,
        f"{op}: input and rois must be on the same device, got input on {input.device} and rois on {rois.device}",
    )
    _check(
        pooled_height > 0 and pooled_width > 0,
        f"{op}: output_size must be positive, got ({pooled_height}, {pooled_width})",
    )


@torch.library.register_fake(_LIB + "roi_align")
def _roi_align_fake(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned):
    _check_roi_args("roi_align", input, rois, pooled_height, pooled_width)
    return input.new_empty((rois.shape[0], input.shape[1], pooled_height, pooled_width))


@torch.library.register_fake(_LIB + "_roi_align_backward")
def _roi_align_backward_fake(
    grad, rois, spatial_scale, pooled_height, pooled_width, batch_size, channels, height, width, sampling_ratio, aligned
):
    return grad.new_empty((batch_size, channels, height, width))


@torch.library.register_fake(_LIB + "roi_pool")
def _roi_pool_fake(input, rois, spatial_scale, pooled_height, pooled_width):
    _check_roi_args("roi_pool", input, rois, pooled_height, pooled_width)
    shape = (rois.shape[0], input.shape[1], pooled_height, pooled_width)
    return input.new_empty(shape), input.new_empty(shape, dtype=torch.int32)


@torch.library.register_fake(_LIB + "_roi_pool_backward")
def _roi_pool_backward_fake(
    grad, rois, argmax, spatial_scale, pooled_height, pooled_width, batch_size, channels, height, width
):
    return grad.new_empty((batch_size, channels, height, width))


def _check_nms_args(op, boxes, scores):
    _check(
        boxes.dim() == 2 and boxes.shape[1] == 4,
        f"{op}: boxes must be an [N, 4] tensor of (x1, y1, x2, y2), got shape {tuple(boxes.shape)}",
    )
    _check(
        scores.dim() == 1 and scores.shape[0] == boxes.shape[0],
        f"{op}: scores must be a 1-D tensor with one score per box, got shape {tuple(scores.shape)}",
    )
    _check(
        boxes.dtype == scores.dtype,
        f"{op}: boxes and scores must have the same dtype, got boxes {boxes.dtype} and scores {scores.dtype}",
    )
    _check(
        boxes.device == scores.device,
        f"{op}: boxes and scores must be on the same device, got {boxes.device} and {scores.device}",
    )


def _dynamic_length_indices(boxes):
    # How many boxes survive depends on the data: an unbacked size for the tracer.
    num_kept = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((num_kept,), dtype=torch.long)


@torch.library.register_fake(_LIB + "nms")
def _nms_fake(boxes, scores, iou_threshold):
    _check_nms_args("nms", boxes, scores)
    return _dynamic_length_indices(boxes)


@torch.library.register_fake(_LIB + "batched_nms")
def _batched_nms_fake(boxes, scores, idxs, iou_threshold):
    _check_nms_args("batched_nms", boxes, scores)
    _check(
        idxs.dim() == 1 and idxs.shape[0] == boxes.shape[0],
        f"batched_nms: idxs must be a 1-D tensor with one index per box, got shape {tuple(idxs.shape)}",
    )
    return _dynamic_length_indices(boxes)


@torch.library.register_fake(_LIB + "sigmoid_focal_loss")
def _sigmoid_focal_loss_fake(logits, labels, gamma, alpha):
    _check(
        logits.dim() == 2, f"sigmoid_focal_loss: logits must be a 2-D tensor [N, C], got shape {tuple(logits.shape)}"
    )
    _check(
        labels.dim() == 1 and labels.shape[0] == logits.shape[0],
        "sigmoid_focal_loss: labels must be a 1-D tensor with one label per row of logits "
        f"({logits.shape[0]}), got shape {tuple(labels.shape)}",
    )
    return torch.empty_like(logits, memory_format=torch.contiguous_format)


@torch.library.register_fake(_LIB + "_sigmoid_focal_loss_backward")
def _sigmoid_focal_loss_backward_fake(grad, logits, labels, gamma, alpha):
    return torch.empty_like(logits, memory_format=torch.contiguous_format)
