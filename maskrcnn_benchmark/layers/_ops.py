"""Loads the compiled extension `maskrcnn_benchmark._C` and registers the fake (meta) kernels of its ops.

The C++ side registers the op schemas, the CPU/CUDA kernels, autograd and autocast. The fake kernels here
compute output shapes and dtypes, which is what `torch.compile` (FakeTensor tracing) needs; they check
their arguments with the C++ checks themselves (`csrc/checks.h`, registered as `_check_*` ops), so a bad
argument gives the same error traced or eager.
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


@torch.library.register_fake(_LIB + "roi_align")
def _roi_align_fake(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned):
    ops._check_roi_op_args("roi_align", input, rois, spatial_scale, pooled_height, pooled_width)
    return input.new_empty((rois.shape[0], input.shape[1], pooled_height, pooled_width))


@torch.library.register_fake(_LIB + "_roi_align_backward")
def _roi_align_backward_fake(
    grad, rois, spatial_scale, pooled_height, pooled_width, batch_size, channels, height, width, sampling_ratio, aligned
):
    ops._check_roi_op_backward_args(
        "roi_align backward", grad, rois, pooled_height, pooled_width, batch_size, channels, height, width
    )
    return grad.new_empty((batch_size, channels, height, width))


@torch.library.register_fake(_LIB + "roi_pool")
def _roi_pool_fake(input, rois, spatial_scale, pooled_height, pooled_width):
    ops._check_roi_op_args("roi_pool", input, rois, spatial_scale, pooled_height, pooled_width)
    shape = (rois.shape[0], input.shape[1], pooled_height, pooled_width)
    return input.new_empty(shape), input.new_empty(shape, dtype=torch.int32)


@torch.library.register_fake(_LIB + "_roi_pool_backward")
def _roi_pool_backward_fake(
    grad, rois, argmax, spatial_scale, pooled_height, pooled_width, batch_size, channels, height, width
):
    ops._check_roi_op_backward_args(
        "roi_pool backward", grad, rois, pooled_height, pooled_width, batch_size, channels, height, width
    )
    ops._check_roi_pool_argmax(grad, argmax)
    return grad.new_empty((batch_size, channels, height, width))


def _dynamic_length_indices(boxes):
    # How many boxes survive depends on the data: an unbacked size for the tracer.
    num_kept = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((num_kept,), dtype=torch.long)


@torch.library.register_fake(_LIB + "nms")
def _nms_fake(boxes, scores, iou_threshold):
    ops._check_nms_args("nms", boxes, scores)
    return _dynamic_length_indices(boxes)


@torch.library.register_fake(_LIB + "batched_nms")
def _batched_nms_fake(boxes, scores, idxs, iou_threshold):
    ops._check_nms_args("batched_nms", boxes, scores)
    ops._check_batched_nms_idxs(boxes, idxs)
    return _dynamic_length_indices(boxes)


@torch.library.register_fake(_LIB + "sigmoid_focal_loss")
def _sigmoid_focal_loss_fake(logits, labels, gamma, alpha):
    ops._check_focal_loss_args("sigmoid_focal_loss", logits, labels, gamma)
    return torch.empty_like(logits, memory_format=torch.contiguous_format)


@torch.library.register_fake(_LIB + "_sigmoid_focal_loss_backward")
def _sigmoid_focal_loss_backward_fake(grad, logits, labels, gamma, alpha):
    ops._check_focal_loss_args("sigmoid_focal_loss backward", logits, labels, gamma)
    ops._check_focal_loss_grad(grad, logits)
    return torch.empty_like(logits, memory_format=torch.contiguous_format)
