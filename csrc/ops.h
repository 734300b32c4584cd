// Typed entry points into the dispatcher for the maskrcnn_benchmark ops, used by the autograd and
// autocast kernels to call "the next kernel down" (the backend kernel).
#pragma once
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ATen.h>
#include <tuple>

namespace maskrcnn_benchmark {
namespace ops {

inline at::Tensor roi_align(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("maskrcnn_benchmark::roi_align", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, int64_t, int64_t, int64_t, bool)>();
  return op.call(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned);
}

inline at::Tensor roi_align_backward(
    const at::Tensor& grad, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, c10::SymInt batch_size, c10::SymInt channels, c10::SymInt height, c10::SymInt width,
    int64_t sampling_ratio, bool aligned) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("maskrcnn_benchmark::_roi_align_backward", "")
                       .typed<at::Tensor(
                           const at::Tensor&, const at::Tensor&, double, int64_t, int64_t, c10::SymInt, c10::SymInt,
                           c10::SymInt, c10::SymInt, int64_t, bool)>();
  return op.call(
      grad, rois, spatial_scale, pooled_height, pooled_width, std::move(batch_size), std::move(channels),
      std::move(height), std::move(width), sampling_ratio, aligned);
}

inline std::tuple<at::Tensor, at::Tensor> roi_pool(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("maskrcnn_benchmark::roi_pool", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, double, int64_t, int64_t)>();
  return op.call(input, rois, spatial_scale, pooled_height, pooled_width);
}

inline at::Tensor roi_pool_backward(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax, double spatial_scale,
    int64_t pooled_height, int64_t pooled_width, c10::SymInt batch_size, c10::SymInt channels, c10::SymInt height,
    c10::SymInt width) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("maskrcnn_benchmark::_roi_pool_backward", "")
                       .typed<at::Tensor(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, double, int64_t, int64_t,
                           c10::SymInt, c10::SymInt, c10::SymInt, c10::SymInt)>();
  return op.call(
      grad, rois, argmax, spatial_scale, pooled_height, pooled_width, std::move(batch_size), std::move(channels),
      std::move(height), std::move(width));
}

inline at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("maskrcnn_benchmark::nms", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double)>();
  return op.call(boxes, scores, iou_threshold);
}

inline at::Tensor batched_nms(
    const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double iou_threshold) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("maskrcnn_benchmark::batched_nms", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, double)>();
  return op.call(boxes, scores, idxs, iou_threshold);
}

inline at::Tensor sigmoid_focal_loss(const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("maskrcnn_benchmark::sigmoid_focal_loss", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, double)>();
  return op.call(logits, labels, gamma, alpha);
}

inline at::Tensor sigmoid_focal_loss_backward(
    const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("maskrcnn_benchmark::_sigmoid_focal_loss_backward", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, double, double)>();
  return op.call(grad, logits, labels, gamma, alpha);
}

}  // namespace ops
}  // namespace maskrcnn_benchmark
