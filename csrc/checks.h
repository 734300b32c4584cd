// Argument checks shared by the CPU and CUDA kernels and the fake (torch.compile) kernels, so every
// backend rejects bad input with the same message (a Python RuntimeError naming the argument and what was
// expected). Sizes are read as SymInts so the checks also run on FakeTensors with symbolic shapes
// (checks.cpp registers them as ops for maskrcnn_benchmark/layers/_ops.py).
#pragma once
#include <ATen/ATen.h>

namespace maskrcnn_benchmark {

inline void check_roi_op_args(
    const char* op,
    const at::Tensor& input,
    const at::Tensor& rois,
    double spatial_scale,
    int64_t pooled_height,
    int64_t pooled_width) {
  TORCH_CHECK(input.dim() == 4, op, ": input must be a 4-D tensor [N, C, H, W], got shape ", input.sym_sizes());
  TORCH_CHECK(
      rois.dim() == 2 && rois.sym_size(1) == 5,
      op, ": rois must be a [K, 5] tensor of (batch_index, x1, y1, x2, y2), got shape ", rois.sym_sizes());
  TORCH_CHECK(
      at::isFloatingType(input.scalar_type()),
      op, ": input must be a floating point tensor, got ", input.scalar_type());
  TORCH_CHECK(
      input.scalar_type() == rois.scalar_type(),
      op, ": input and rois must have the same dtype, got input ", input.scalar_type(), " and rois ",
      rois.scalar_type());
  TORCH_CHECK(
      input.device() == rois.device(),
      op, ": input and rois must be on the same device, got input on ", input.device(), " and rois on ",
      rois.device());
  TORCH_CHECK(
      pooled_height > 0 && pooled_width > 0,
      op, ": output_size must be positive, got (", pooled_height, ", ", pooled_width, ")");
  TORCH_CHECK(
      spatial_scale > 0 && std::isfinite(spatial_scale),
      op, ": spatial_scale must be a positive finite number, got ", spatial_scale);
}

inline void check_roi_op_backward_args(
    const char* op,
    const at::Tensor& grad,
    const at::Tensor& rois,
    int64_t pooled_height,
    int64_t pooled_width,
    const c10::SymInt& batch_size,
    const c10::SymInt& channels,
    const c10::SymInt& height,
    const c10::SymInt& width) {
  TORCH_CHECK(
      rois.dim() == 2 && rois.sym_size(1) == 5,
      op, ": rois must be a [K, 5] tensor of (batch_index, x1, y1, x2, y2), got shape ", rois.sym_sizes());
  TORCH_CHECK(
      grad.dim() == 4 && grad.sym_size(0) == rois.sym_size(0) && grad.sym_size(1) == channels &&
          grad.sym_size(2) == pooled_height && grad.sym_size(3) == pooled_width,
      op, ": grad must have shape [", rois.sym_size(0), ", ", channels, ", ", pooled_height, ", ", pooled_width,
      "], got ", grad.sym_sizes());
  TORCH_CHECK(
      grad.scalar_type() == rois.scalar_type(),
      op, ": grad and rois must have the same dtype, got ", grad.scalar_type(), " and ", rois.scalar_type());
  TORCH_CHECK(
      grad.device() == rois.device(),
      op, ": grad and rois must be on the same device, got ", grad.device(), " and ", rois.device());
  TORCH_CHECK(
      batch_size >= 0 && channels >= 0 && height >= 0 && width >= 0,
      op, ": input shape must be non-negative, got [", batch_size, ", ", channels, ", ", height, ", ", width, "]");
}

inline void check_roi_pool_argmax(const at::Tensor& grad, const at::Tensor& argmax) {
  TORCH_CHECK(
      argmax.sym_sizes() == grad.sym_sizes() && argmax.scalar_type() == at::kInt && argmax.device() == grad.device(),
      "roi_pool backward: argmax must be an int32 tensor shaped like grad ", grad.sym_sizes(), " on ", grad.device(),
      ", got ", argmax.scalar_type(), " ", argmax.sym_sizes(), " on ", argmax.device());
}

inline void check_nms_args(const char* op, const at::Tensor& boxes, const at::Tensor& scores) {
  TORCH_CHECK(
      boxes.dim() == 2 && boxes.sym_size(1) == 4,
      op, ": boxes must be an [N, 4] tensor of (x1, y1, x2, y2), got shape ", boxes.sym_sizes());
  TORCH_CHECK(
      scores.dim() == 1 && scores.sym_size(0) == boxes.sym_size(0),
      op, ": scores must be a 1-D tensor with one score per box (", boxes.sym_size(0), "), got shape ",
      scores.sym_sizes());
  TORCH_CHECK(
      at::isFloatingType(boxes.scalar_type()),
      op, ": boxes must be a floating point tensor, got ", boxes.scalar_type());
  TORCH_CHECK(
      boxes.scalar_type() == scores.scalar_type(),
      op, ": boxes and scores must have the same dtype, got boxes ", boxes.scalar_type(), " and scores ",
      scores.scalar_type());
  TORCH_CHECK(
      boxes.device() == scores.device(),
      op, ": boxes and scores must be on the same device, got boxes on ", boxes.device(), " and scores on ",
      scores.device());
}

inline void check_batched_nms_idxs(const at::Tensor& boxes, const at::Tensor& idxs) {
  TORCH_CHECK(
      idxs.dim() == 1 && idxs.sym_size(0) == boxes.sym_size(0),
      "batched_nms: idxs must be a 1-D tensor with one index per box (", boxes.sym_size(0), "), got shape ",
      idxs.sym_sizes());
  TORCH_CHECK(
      at::isIntegralType(idxs.scalar_type(), /*includeBool=*/false),
      "batched_nms: idxs must be an integer tensor, got ", idxs.scalar_type());
  TORCH_CHECK(
      idxs.device() == boxes.device(),
      "batched_nms: idxs and boxes must be on the same device, got idxs on ", idxs.device(), " and boxes on ",
      boxes.device());
}

inline void check_focal_loss_args(const char* op, const at::Tensor& logits, const at::Tensor& labels, double gamma) {
  TORCH_CHECK(logits.dim() == 2, op, ": logits must be a 2-D tensor [N, C], got shape ", logits.sym_sizes());
  TORCH_CHECK(
      at::isFloatingType(logits.scalar_type()),
      op, ": logits must be a floating point tensor, got ", logits.scalar_type());
  TORCH_CHECK(
      labels.dim() == 1 && labels.sym_size(0) == logits.sym_size(0),
      op, ": labels must be a 1-D tensor with one label per row of logits (", logits.sym_size(0), "), got shape ",
      labels.sym_sizes());
  TORCH_CHECK(
      labels.scalar_type() == at::kLong || labels.scalar_type() == at::kInt,
      op, ": labels must be an int64 or int32 tensor, got ", labels.scalar_type());
  TORCH_CHECK(
      logits.device() == labels.device(),
      op, ": logits and labels must be on the same device, got logits on ", logits.device(), " and labels on ",
      labels.device());
  TORCH_CHECK(gamma >= 0 && std::isfinite(gamma), op, ": gamma must be a finite number >= 0, got ", gamma);
}

inline void check_focal_loss_grad(const at::Tensor& grad, const at::Tensor& logits) {
  TORCH_CHECK(
      grad.sym_sizes() == logits.sym_sizes() && grad.scalar_type() == logits.scalar_type() &&
          grad.device() == logits.device(),
      "sigmoid_focal_loss backward: grad must match logits ", logits.sym_sizes(), " ", logits.scalar_type(), " on ",
      logits.device(), ", got ", grad.sym_sizes(), " ", grad.scalar_type(), " on ", grad.device());
}

}  // namespace maskrcnn_benchmark
