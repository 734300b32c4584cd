// Autograd kernels: the differentiable ops save what their backward needs and call the backward op, so
// autograd works for every backend (CPU and CUDA) and under torch.compile. Double backward is not supported.
#include <torch/autograd.h>
#include <torch/library.h>

#include "ops.h"

namespace maskrcnn_benchmark {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class ROIAlignFunction : public torch::autograd::Function<ROIAlignFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx, const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
      int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["pooled_height"] = pooled_height;
    ctx->saved_data["pooled_width"] = pooled_width;
    ctx->saved_data["sampling_ratio"] = sampling_ratio;
    ctx->saved_data["aligned"] = aligned;
    ctx->saved_data["input_shape"] = input.sym_sizes();
    ctx->save_for_backward({rois});
    at::AutoDispatchBelowADInplaceOrView guard;
    return {ops::roi_align(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)};
  }

  static variable_list backward(AutogradContext* ctx, const variable_list& grad_output) {
    const auto rois = ctx->get_saved_variables()[0];
    const auto shape = ctx->saved_data["input_shape"].toList();
    auto grad_input = ops::roi_align_backward(
        grad_output[0], rois, ctx->saved_data["spatial_scale"].toDouble(),
        ctx->saved_data["pooled_height"].toInt(), ctx->saved_data["pooled_width"].toInt(),
        shape.get(0).toSymInt(), shape.get(1).toSymInt(), shape.get(2).toSymInt(), shape.get(3).toSymInt(),
        ctx->saved_data["sampling_ratio"].toInt(), ctx->saved_data["aligned"].toBool());
    return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Registered for the backward op so that differentiating a gradient fails with a message instead of
// silently returning zeros.
class ROIAlignBackwardFunction : public torch::autograd::Function<ROIAlignBackwardFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& rois, double spatial_scale,
      int64_t pooled_height, int64_t pooled_width, c10::SymInt batch_size, c10::SymInt channels,
      c10::SymInt height, c10::SymInt width, int64_t sampling_ratio, bool aligned) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return {ops::roi_align_backward(
        grad, rois, spatial_scale, pooled_height, pooled_width, std::move(batch_size), std::move(channels),
        std::move(height), std::move(width), sampling_ratio, aligned)};
  }
  static variable_list backward(AutogradContext*, const variable_list&) {
    TORCH_CHECK(false, "roi_align: double backward is not supported");
  }
};

class ROIPoolFunction : public torch::autograd::Function<ROIPoolFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx, const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
      int64_t pooled_height, int64_t pooled_width) {
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["pooled_height"] = pooled_height;
    ctx->saved_data["pooled_width"] = pooled_width;
    ctx->saved_data["input_shape"] = input.sym_sizes();
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [output, argmax] = ops::roi_pool(input, rois, spatial_scale, pooled_height, pooled_width);
    ctx->save_for_backward({rois, argmax});
    ctx->mark_non_differentiable({argmax});
    return {output, argmax};
  }

  static variable_list backward(AutogradContext* ctx, const variable_list& grad_output) {
    const auto saved = ctx->get_saved_variables();
    const auto shape = ctx->saved_data["input_shape"].toList();
    auto grad_input = ops::roi_pool_backward(
        grad_output[0], saved[0], saved[1], ctx->saved_data["spatial_scale"].toDouble(),
        ctx->saved_data["pooled_height"].toInt(), ctx->saved_data["pooled_width"].toInt(),
        shape.get(0).toSymInt(), shape.get(1).toSymInt(), shape.get(2).toSymInt(), shape.get(3).toSymInt());
    return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class ROIPoolBackwardFunction : public torch::autograd::Function<ROIPoolBackwardFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax,
      double spatial_scale, int64_t pooled_height, int64_t pooled_width, c10::SymInt batch_size,
      c10::SymInt channels, c10::SymInt height, c10::SymInt width) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return {ops::roi_pool_backward(
        grad, rois, argmax, spatial_scale, pooled_height, pooled_width, std::move(batch_size), std::move(channels),
        std::move(height), std::move(width))};
  }
  static variable_list backward(AutogradContext*, const variable_list&) {
    TORCH_CHECK(false, "roi_pool: double backward is not supported");
  }
};

class SigmoidFocalLossFunction : public torch::autograd::Function<SigmoidFocalLossFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
    ctx->saved_data["gamma"] = gamma;
    ctx->saved_data["alpha"] = alpha;
    ctx->save_for_backward({logits, labels});
    at::AutoDispatchBelowADInplaceOrView guard;
    return {ops::sigmoid_focal_loss(logits, labels, gamma, alpha)};
  }

  static variable_list backward(AutogradContext* ctx, const variable_list& grad_output) {
    const auto saved = ctx->get_saved_variables();
    auto grad_logits = ops::sigmoid_focal_loss_backward(
        grad_output[0], saved[0], saved[1], ctx->saved_data["gamma"].toDouble(), ctx->saved_data["alpha"].toDouble());
    return {grad_logits, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class SigmoidFocalLossBackwardFunction : public torch::autograd::Function<SigmoidFocalLossBackwardFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels,
      double gamma, double alpha) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return {ops::sigmoid_focal_loss_backward(grad, logits, labels, gamma, alpha)};
  }
  static variable_list backward(AutogradContext*, const variable_list&) {
    TORCH_CHECK(false, "sigmoid_focal_loss: double backward is not supported");
  }
};

at::Tensor roi_align_autograd(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  return ROIAlignFunction::apply(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)[0];
}

at::Tensor roi_align_backward_autograd(
    const at::Tensor& grad, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, c10::SymInt batch_size, c10::SymInt channels, c10::SymInt height, c10::SymInt width,
    int64_t sampling_ratio, bool aligned) {
  return ROIAlignBackwardFunction::apply(
      grad, rois, spatial_scale, pooled_height, pooled_width, std::move(batch_size), std::move(channels),
      std::move(height), std::move(width), sampling_ratio, aligned)[0];
}

std::tuple<at::Tensor, at::Tensor> roi_pool_autograd(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  auto result = ROIPoolFunction::apply(input, rois, spatial_scale, pooled_height, pooled_width);
  return std::make_tuple(result[0], result[1]);
}

at::Tensor roi_pool_backward_autograd(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax, double spatial_scale,
    int64_t pooled_height, int64_t pooled_width, c10::SymInt batch_size, c10::SymInt channels, c10::SymInt height,
    c10::SymInt width) {
  return ROIPoolBackwardFunction::apply(
      grad, rois, argmax, spatial_scale, pooled_height, pooled_width, std::move(batch_size), std::move(channels),
      std::move(height), std::move(width))[0];
}

at::Tensor sigmoid_focal_loss_autograd(
    const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  return SigmoidFocalLossFunction::apply(logits, labels, gamma, alpha)[0];
}

at::Tensor sigmoid_focal_loss_backward_autograd(
    const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  return SigmoidFocalLossBackwardFunction::apply(grad, logits, labels, gamma, alpha)[0];
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, Autograd, m) {
  m.impl("roi_align", TORCH_FN(roi_align_autograd));
  m.impl("_roi_align_backward", TORCH_FN(roi_align_backward_autograd));
  m.impl("roi_pool", TORCH_FN(roi_pool_autograd));
  m.impl("_roi_pool_backward", TORCH_FN(roi_pool_backward_autograd));
  m.impl("sigmoid_focal_loss", TORCH_FN(sigmoid_focal_loss_autograd));
  m.impl("_sigmoid_focal_loss_backward", TORCH_FN(sigmoid_focal_loss_backward_autograd));
}

}  // namespace maskrcnn_benchmark
