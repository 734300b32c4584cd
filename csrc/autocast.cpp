// Autocast kernels: under torch.autocast the ops run in (at least) float32 and return the caller's dtype,
// because bilinear weights, box overlaps and log-probabilities lose too much in half/bfloat16.
#include <ATen/autocast_mode.h>
#include <torch/library.h>

#include "ops.h"

namespace maskrcnn_benchmark {
namespace {

// Half and bfloat16 go up to float32; float32 and float64 stay as they are.
at::Tensor to_float32_at_least(const at::Tensor& t) {
  if (t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16) {
    return t.to(at::kFloat);
  }
  return t;
}

template <c10::DispatchKey autocast_key>
at::Tensor roi_align_autocast(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  auto input_f = to_float32_at_least(input);
  auto rois_f = rois.to(input_f.scalar_type());
  return ops::roi_align(input_f, rois_f, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)
      .to(input.scalar_type());
}

template <c10::DispatchKey autocast_key>
std::tuple<at::Tensor, at::Tensor> roi_pool_autocast(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  auto input_f = to_float32_at_least(input);
  auto rois_f = rois.to(input_f.scalar_type());
  auto [output, argmax] = ops::roi_pool(input_f, rois_f, spatial_scale, pooled_height, pooled_width);
  return std::make_tuple(output.to(input.scalar_type()), argmax);
}

template <c10::DispatchKey autocast_key>
at::Tensor nms_autocast(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  auto boxes_f = to_float32_at_least(boxes);
  return ops::nms(boxes_f, scores.to(boxes_f.scalar_type()), iou_threshold);
}

template <c10::DispatchKey autocast_key>
at::Tensor batched_nms_autocast(
    const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double iou_threshold) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  auto boxes_f = to_float32_at_least(boxes);
  return ops::batched_nms(boxes_f, scores.to(boxes_f.scalar_type()), idxs, iou_threshold);
}

template <c10::DispatchKey autocast_key>
at::Tensor sigmoid_focal_loss_autocast(
    const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  return ops::sigmoid_focal_loss(to_float32_at_least(logits), labels, gamma, alpha).to(logits.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, AutocastCPU, m) {
  constexpr auto key = c10::DispatchKey::AutocastCPU;
  m.impl("roi_align", TORCH_FN(roi_align_autocast<key>));
  m.impl("roi_pool", TORCH_FN(roi_pool_autocast<key>));
  m.impl("nms", TORCH_FN(nms_autocast<key>));
  m.impl("batched_nms", TORCH_FN(batched_nms_autocast<key>));
  m.impl("sigmoid_focal_loss", TORCH_FN(sigmoid_focal_loss_autocast<key>));
}

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, AutocastCUDA, m) {
  constexpr auto key = c10::DispatchKey::AutocastCUDA;
  m.impl("roi_align", TORCH_FN(roi_align_autocast<key>));
  m.impl("roi_pool", TORCH_FN(roi_pool_autocast<key>));
  m.impl("nms", TORCH_FN(nms_autocast<key>));
  m.impl("batched_nms", TORCH_FN(batched_nms_autocast<key>));
  m.impl("sigmoid_focal_loss", TORCH_FN(sigmoid_focal_loss_autocast<key>));
}

}  // namespace maskrcnn_benchmark
