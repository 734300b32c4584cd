// The argument checks of checks.h as ops, so the fake kernels in maskrcnn_benchmark/layers/_ops.py call the
// very checks the CPU and CUDA kernels run instead of restating them. CompositeImplicitAutograd: they only
// read metadata, so they run unchanged on real tensors and on FakeTensors (symbolic sizes included).
#include <string>

#include <torch/library.h>

#include "checks.h"

namespace maskrcnn_benchmark {
namespace {

void roi_op_args(
    c10::string_view op, const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
    int64_t pooled_height, int64_t pooled_width) {
  check_roi_op_args(std::string(op).c_str(), input, rois, spatial_scale, pooled_height, pooled_width);
}

void roi_op_backward_args(
    c10::string_view op, const at::Tensor& grad, const at::Tensor& rois, int64_t pooled_height,
    int64_t pooled_width, c10::SymInt batch_size, c10::SymInt channels, c10::SymInt height, c10::SymInt width) {
  check_roi_op_backward_args(
      std::string(op).c_str(), grad, rois, pooled_height, pooled_width, batch_size, channels, height, width);
}

void roi_pool_argmax(const at::Tensor& grad, const at::Tensor& argmax) {
  check_roi_pool_argmax(grad, argmax);
}

void nms_args(c10::string_view op, const at::Tensor& boxes, const at::Tensor& scores) {
  check_nms_args(std::string(op).c_str(), boxes, scores);
}

void batched_nms_idxs(const at::Tensor& boxes, const at::Tensor& idxs) {
  check_batched_nms_idxs(boxes, idxs);
}

void focal_loss_args(c10::string_view op, const at::Tensor& logits, const at::Tensor& labels, double gamma) {
  check_focal_loss_args(std::string(op).c_str(), logits, labels, gamma);
}

void focal_loss_grad(const at::Tensor& grad, const at::Tensor& logits) {
  check_focal_loss_grad(grad, logits);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(maskrcnn_benchmark, m) {
  m.def(
      "_check_roi_op_args(str op, Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width) -> ()");
  m.def(
      "_check_roi_op_backward_args(str op, Tensor grad, Tensor rois, int pooled_height, int pooled_width, "
      "SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> ()");
  m.def("_check_roi_pool_argmax(Tensor grad, Tensor argmax) -> ()");
  m.def("_check_nms_args(str op, Tensor boxes, Tensor scores) -> ()");
  m.def("_check_batched_nms_idxs(Tensor boxes, Tensor idxs) -> ()");
  m.def("_check_focal_loss_args(str op, Tensor logits, Tensor labels, float gamma) -> ()");
  m.def("_check_focal_loss_grad(Tensor grad, Tensor logits) -> ()");
}

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CompositeImplicitAutograd, m) {
  m.impl("_check_roi_op_args", TORCH_FN(roi_op_args));
  m.impl("_check_roi_op_backward_args", TORCH_FN(roi_op_backward_args));
  m.impl("_check_roi_pool_argmax", TORCH_FN(roi_pool_argmax));
  m.impl("_check_nms_args", TORCH_FN(nms_args));
  m.impl("_check_batched_nms_idxs", TORCH_FN(batched_nms_idxs));
  m.impl("_check_focal_loss_args", TORCH_FN(focal_loss_args));
  m.impl("_check_focal_loss_grad", TORCH_FN(focal_loss_grad));
}

}  // namespace maskrcnn_benchmark
