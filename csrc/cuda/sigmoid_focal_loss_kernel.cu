// CUDA kernels of sigmoid_focal_loss: one thread per element, forward and backward fused (see
// focal_loss_math.h for the formulas shared with the CPU kernels).
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include "checks.h"
#include "cuda/cuda_helpers.cuh"
#include "focal_loss_math.h"

namespace maskrcnn_benchmark {
namespace cuda {
namespace {

template <typename scalar_t, typename acc_t>
__global__ void focal_loss_forward_kernel(
    int64_t total, int64_t cols, const scalar_t* __restrict__ logits, const int64_t* __restrict__ labels,
    FocalLossParams<acc_t> prm, scalar_t* __restrict__ loss) {
  MASKRCNN_CUDA_LOOP(index, total) {
    const int64_t label = labels[index / cols];
    if (label < 0) {
      loss[index] = scalar_t(0);
      continue;
    }
    const bool positive = (index % cols) == label - 1;
    loss[index] = static_cast<scalar_t>(focal_loss_value<acc_t>(static_cast<acc_t>(logits[index]), positive, prm));
  }
}

// grad_stride 0: the incoming gradient is one value broadcast to [N, C] (the gradient of loss.sum()).
template <typename scalar_t, typename acc_t>
__global__ void focal_loss_backward_kernel(
    int64_t total, int64_t cols, const scalar_t* __restrict__ grad, int64_t grad_stride,
    const scalar_t* __restrict__ logits, const int64_t* __restrict__ labels, FocalLossParams<acc_t> prm,
    scalar_t* __restrict__ grad_logits) {
  MASKRCNN_CUDA_LOOP(index, total) {
    const int64_t label = labels[index / cols];
    if (label < 0) {
      grad_logits[index] = scalar_t(0);
      continue;
    }
    const bool positive = (index % cols) == label - 1;
    grad_logits[index] = static_cast<scalar_t>(
        static_cast<acc_t>(grad[index * grad_stride]) *
        focal_loss_grad<acc_t>(static_cast<acc_t>(logits[index]), positive, prm));
  }
}

// Labels as int64, checked to lie in [-1, num_classes] (one reduction and one synchronisation).
at::Tensor checked_labels(const char* op, const at::Tensor& labels, int64_t num_classes) {
  auto labels_l = labels.to(at::kLong).contiguous();
  if (labels_l.numel() > 0) {
    const bool bad = at::logical_or(labels_l < -1, labels_l > num_classes).any().item<bool>();
    TORCH_CHECK(
        !bad, op, ": labels must be -1 (ignore), 0 (background) or 1..", num_classes,
        " (number of columns of logits), got values outside that range");
  }
  return labels_l;
}

at::Tensor sigmoid_focal_loss_forward_cuda(
    const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  check_focal_loss_args("sigmoid_focal_loss", logits, labels, gamma);
  c10::cuda::CUDAGuard device_guard(logits.device());
  auto loss = at::empty(logits.sizes(), logits.options());
  const int64_t total = loss.numel();
  if (total == 0) {
    return loss;
  }
  auto labels_l = checked_labels("sigmoid_focal_loss", labels, logits.size(1));
  auto logits_c = logits.contiguous();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "sigmoid_focal_loss_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    focal_loss_forward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
        total, logits.size(1), logits_c.data_ptr<scalar_t>(), labels_l.data_ptr<int64_t>(),
        FocalLossParams<acc_t>::make(gamma, alpha), loss.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return loss;
}

at::Tensor sigmoid_focal_loss_backward_cuda(
    const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  check_focal_loss_args("sigmoid_focal_loss backward", logits, labels, gamma);
  check_focal_loss_grad(grad, logits);
  c10::cuda::CUDAGuard device_guard(logits.device());
  auto grad_logits = at::empty(logits.sizes(), logits.options());
  const int64_t total = grad_logits.numel();
  if (total == 0) {
    return grad_logits;
  }
  auto labels_l = checked_labels("sigmoid_focal_loss backward", labels, logits.size(1));
  auto logits_c = logits.contiguous();
  const bool scalar_grad = grad.stride(0) == 0 && grad.stride(1) == 0;
  auto grad_c = scalar_grad ? grad : grad.contiguous();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "sigmoid_focal_loss_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    focal_loss_backward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
        total, logits.size(1), grad_c.data_ptr<scalar_t>(), scalar_grad ? 0 : 1, logits_c.data_ptr<scalar_t>(),
        labels_l.data_ptr<int64_t>(), FocalLossParams<acc_t>::make(gamma, alpha), grad_logits.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CUDA, m) {
  m.impl("sigmoid_focal_loss", TORCH_FN(sigmoid_focal_loss_forward_cuda));
  m.impl("_sigmoid_focal_loss_backward", TORCH_FN(sigmoid_focal_loss_backward_cuda));
}

}  // namespace cuda
}  // namespace maskrcnn_benchmark
