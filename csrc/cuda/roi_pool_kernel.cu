// CUDA kernels of roi_pool: one thread per output element (max and argmax of its bin) in the forward; one
// thread per gradient element in the backward, adding at the argmax with atomics (float accumulation for
// half/bfloat16). Indices are 32-bit unless the output is too large for that (dispatch_index_type).
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <torch/library.h>

#include <cfloat>
#include <limits>

#include "checks.h"
#include "cuda/cuda_helpers.cuh"
#include "roi_geometry.h"

namespace maskrcnn_benchmark {
namespace cuda {
namespace {

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void roi_pool_forward_kernel(
    index_t total, const scalar_t* __restrict__ input, const scalar_t* __restrict__ rois, int64_t batch_size,
    index_t channels, int height, int width, int pooled_h, int pooled_w, acc_t spatial_scale,
    scalar_t* __restrict__ output, int32_t* __restrict__ argmax) {
  MASKRCNN_CUDA_LOOP_T(index_t, index, total) {
    const auto [k, c, p, q] = decode_bin_index<index_t>(index, channels, pooled_h, pooled_w);
    const scalar_t* roi = rois + k * 5;
    const int64_t b = roi_batch_index(roi[0], batch_size);
    if (b < 0) {
      output[index] = scalar_t(0);
      argmax[index] = -1;
      continue;
    }
    acc_t r[5];
    for (int i = 0; i < 5; ++i) {
      r[i] = static_cast<acc_t>(roi[i]);
    }
    const auto box = roi_pool_box<acc_t>(r, spatial_scale);
    int hs, he, ws, we;
    roi_pool_bin_range<acc_t>(box.start_h, box.height, pooled_h, p, height, &hs, &he);
    roi_pool_bin_range<acc_t>(box.start_w, box.width, pooled_w, q, width, &ws, &we);
    const bool empty = he <= hs || we <= ws;
    acc_t best = empty ? acc_t(0) : static_cast<acc_t>(-FLT_MAX);
    int32_t best_idx = -1;
    const scalar_t* plane = input + (b * channels + c) * height * width;
    for (int h = hs; h < he; ++h) {
      for (int w = ws; w < we; ++w) {
        const int32_t idx = h * width + w;
        const acc_t v = static_cast<acc_t>(plane[idx]);
        if (v > best) {
          best = v;
          best_idx = idx;
        }
      }
    }
    output[index] = static_cast<scalar_t>(best);
    argmax[index] = best_idx;
  }
}

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void roi_pool_backward_kernel(
    index_t total, const scalar_t* __restrict__ grad, const scalar_t* __restrict__ rois,
    const int32_t* __restrict__ argmax, int64_t batch_size, index_t channels, int64_t plane_size, index_t bins,
    acc_t* __restrict__ grad_input) {
  MASKRCNN_CUDA_LOOP_T(index_t, index, total) {
    const int32_t a = argmax[index];
    if (a < 0) {
      continue;
    }
    const index_t c = (index / bins) % channels;
    const index_t k = index / bins / channels;
    const int64_t b = roi_batch_index(rois[k * 5], batch_size);
    if (b < 0 || a >= plane_size) {
      continue;
    }
    gpuAtomicAdd(grad_input + (b * channels + c) * plane_size + a, static_cast<acc_t>(grad[index]));
  }
}

std::tuple<at::Tensor, at::Tensor> roi_pool_forward_cuda(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  check_roi_op_args("roi_pool", input, rois, spatial_scale, pooled_height, pooled_width);
  TORCH_CHECK(input.is_cuda(), "roi_pool: the CUDA kernel got input on ", input.device());
  TORCH_CHECK(
      input.size(2) * input.size(3) < std::numeric_limits<int32_t>::max(),
      "roi_pool: the feature map is too large (H * W must fit in int32), got shape ", input.sizes());
  c10::cuda::CUDAGuard device_guard(input.device());
  const int64_t num_rois = rois.size(0);
  const int64_t channels = input.size(1);
  auto output = at::empty({num_rois, channels, pooled_height, pooled_width}, input.options());
  auto argmax = at::empty({num_rois, channels, pooled_height, pooled_width}, input.options().dtype(at::kInt));
  const int64_t total = output.numel();
  if (total == 0) {
    return std::make_tuple(output, argmax);
  }
  TORCH_CHECK(input.numel() > 0, "roi_pool: input must not be empty when there are RoIs, got shape ", input.sizes());
  check_roi_batch_indices("roi_pool", rois, input.size(0));
  auto input_c = input.contiguous();
  auto rois_c = rois.contiguous();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_pool_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    dispatch_index_type(total, [&](auto index_zero) {
      using index_t = decltype(index_zero);
      roi_pool_forward_kernel<scalar_t, acc_t, index_t><<<blocks_for(total), kThreads, 0, stream>>>(
          static_cast<index_t>(total), input_c.data_ptr<scalar_t>(), rois_c.data_ptr<scalar_t>(), input.size(0),
          static_cast<index_t>(channels), static_cast<int>(input.size(2)), static_cast<int>(input.size(3)),
          static_cast<int>(pooled_height), static_cast<int>(pooled_width), static_cast<acc_t>(spatial_scale),
          output.data_ptr<scalar_t>(), argmax.data_ptr<int32_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return std::make_tuple(output, argmax);
}

at::Tensor roi_pool_backward_cuda(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax, double spatial_scale,
    int64_t pooled_height, int64_t pooled_width, int64_t batch_size, int64_t channels, int64_t height,
    int64_t width) {
  check_roi_op_backward_args(
      "roi_pool backward", grad, rois, pooled_height, pooled_width, batch_size, channels, height, width);
  check_roi_pool_argmax(grad, argmax);
  c10::cuda::CUDAGuard device_guard(grad.device());
  const auto acc_type = at::toOpMathType(grad.scalar_type());
  auto grad_acc = at::zeros({batch_size, channels, height, width}, grad.options().dtype(acc_type));
  const int64_t total = grad.numel();
  if (total == 0 || grad_acc.numel() == 0) {
    return grad_acc.to(grad.scalar_type());
  }
  check_roi_batch_indices("roi_pool backward", rois, batch_size);
  auto grad_c = grad.contiguous();
  auto rois_c = rois.contiguous();
  auto argmax_c = argmax.contiguous();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "roi_pool_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    dispatch_index_type(total, [&](auto index_zero) {
      using index_t = decltype(index_zero);
      roi_pool_backward_kernel<scalar_t, acc_t, index_t><<<blocks_for(total), kThreads, 0, stream>>>(
          static_cast<index_t>(total), grad_c.data_ptr<scalar_t>(), rois_c.data_ptr<scalar_t>(),
          argmax_c.data_ptr<int32_t>(), batch_size, static_cast<index_t>(channels), height * width,
          static_cast<index_t>(pooled_height * pooled_width), grad_acc.data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return grad_acc.scalar_type() == grad.scalar_type() ? grad_acc : grad_acc.to(grad.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CUDA, m) {
  m.impl("roi_pool", TORCH_FN(roi_pool_forward_cuda));
  m.impl("_roi_pool_backward", TORCH_FN(roi_pool_backward_cuda));
}

}  // namespace cuda
}  // namespace maskrcnn_benchmark
