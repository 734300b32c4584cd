// CUDA kernels of roi_align: one thread per output element in the forward; one thread per gradient
// element in the backward, adding into grad_input with atomics (float accumulation for half/bfloat16).
// Indices are 32-bit unless the output is too large for that (dispatch_index_type).
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <torch/library.h>

#include "checks.h"
#include "cuda/cuda_helpers.cuh"
#include "roi_geometry.h"

namespace maskrcnn_benchmark {
namespace cuda {
namespace {

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void roi_align_forward_kernel(
    index_t total, const scalar_t* __restrict__ input, const scalar_t* __restrict__ rois, int64_t batch_size,
    index_t channels, int height, int width, int pooled_h, int pooled_w, int sampling_ratio, bool aligned,
    acc_t spatial_scale, scalar_t* __restrict__ output) {
  MASKRCNN_CUDA_LOOP_T(index_t, index, total) {
    const auto [k, c, p, q] = decode_bin_index<index_t>(index, channels, pooled_h, pooled_w);
    const scalar_t* roi = rois + k * 5;
    const int64_t b = roi_batch_index(roi[0], batch_size);
    if (b < 0) {
      output[index] = scalar_t(0);
      continue;
    }
    acc_t r[5];
    for (int i = 0; i < 5; ++i) {
      r[i] = static_cast<acc_t>(roi[i]);
    }
    const auto box = roi_align_box<acc_t>(r, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned);
    const scalar_t* plane = input + (b * channels + c) * height * width;
    acc_t sum = 0;
    for (int iy = 0; iy < box.grid_h; ++iy) {
      const auto y = bilinear_axis_sample<acc_t>(
          roi_align_sample_coord<acc_t>(box.start_h, box.bin_h, p, iy, box.grid_h), height);
      if (!y.valid) {
        continue;
      }
      for (int ix = 0; ix < box.grid_w; ++ix) {
        const auto x = bilinear_axis_sample<acc_t>(
            roi_align_sample_coord<acc_t>(box.start_w, box.bin_w, q, ix, box.grid_w), width);
        if (!x.valid) {
          continue;
        }
        sum += y.w_lo * x.w_lo * static_cast<acc_t>(plane[y.lo * width + x.lo]) +
            y.w_lo * x.w_hi * static_cast<acc_t>(plane[y.lo * width + x.hi]) +
            y.w_hi * x.w_lo * static_cast<acc_t>(plane[y.hi * width + x.lo]) +
            y.w_hi * x.w_hi * static_cast<acc_t>(plane[y.hi * width + x.hi]);
      }
    }
    output[index] = static_cast<scalar_t>(sum / box.count);
  }
}

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void roi_align_backward_kernel(
    index_t total, const scalar_t* __restrict__ grad, const scalar_t* __restrict__ rois, int64_t batch_size,
    index_t channels, int height, int width, int pooled_h, int pooled_w, int sampling_ratio, bool aligned,
    acc_t spatial_scale, acc_t* __restrict__ grad_input) {
  MASKRCNN_CUDA_LOOP_T(index_t, index, total) {
    const auto [k, c, p, q] = decode_bin_index<index_t>(index, channels, pooled_h, pooled_w);
    const scalar_t* roi = rois + k * 5;
    const int64_t b = roi_batch_index(roi[0], batch_size);
    if (b < 0) {
      continue;
    }
    acc_t r[5];
    for (int i = 0; i < 5; ++i) {
      r[i] = static_cast<acc_t>(roi[i]);
    }
    const auto box = roi_align_box<acc_t>(r, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned);
    const acc_t g = static_cast<acc_t>(grad[index]) / box.count;
    acc_t* plane = grad_input + (b * channels + c) * height * width;
    for (int iy = 0; iy < box.grid_h; ++iy) {
      const auto y = bilinear_axis_sample<acc_t>(
          roi_align_sample_coord<acc_t>(box.start_h, box.bin_h, p, iy, box.grid_h), height);
      if (!y.valid) {
        continue;
      }
      for (int ix = 0; ix < box.grid_w; ++ix) {
        const auto x = bilinear_axis_sample<acc_t>(
            roi_align_sample_coord<acc_t>(box.start_w, box.bin_w, q, ix, box.grid_w), width);
        if (!x.valid) {
          continue;
        }
        gpuAtomicAdd(plane + y.lo * width + x.lo, g * y.w_lo * x.w_lo);
        gpuAtomicAdd(plane + y.lo * width + x.hi, g * y.w_lo * x.w_hi);
        gpuAtomicAdd(plane + y.hi * width + x.lo, g * y.w_hi * x.w_lo);
        gpuAtomicAdd(plane + y.hi * width + x.hi, g * y.w_hi * x.w_hi);
      }
    }
  }
}

at::Tensor roi_align_forward_cuda(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  check_roi_op_args("roi_align", input, rois, spatial_scale, pooled_height, pooled_width);
  TORCH_CHECK(input.is_cuda(), "roi_align: the CUDA kernel got input on ", input.device());
  c10::cuda::CUDAGuard device_guard(input.device());
  const int64_t num_rois = rois.size(0);
  const int64_t channels = input.size(1);
  auto output = at::empty({num_rois, channels, pooled_height, pooled_width}, input.options());
  const int64_t total = output.numel();
  if (total == 0) {
    return output;
  }
  TORCH_CHECK(input.numel() > 0, "roi_align: input must not be empty when there are RoIs, got shape ", input.sizes());
  check_roi_batch_indices("roi_align", rois, input.size(0));
  auto input_c = input.contiguous();
  auto rois_c = rois.contiguous();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_align_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    dispatch_index_type(total, [&](auto index_zero) {
      using index_t = decltype(index_zero);
      roi_align_forward_kernel<scalar_t, acc_t, index_t><<<blocks_for(total), kThreads, 0, stream>>>(
          static_cast<index_t>(total), input_c.data_ptr<scalar_t>(), rois_c.data_ptr<scalar_t>(), input.size(0),
          static_cast<index_t>(channels), static_cast<int>(input.size(2)), static_cast<int>(input.size(3)),
          static_cast<int>(pooled_height), static_cast<int>(pooled_width), static_cast<int>(sampling_ratio), aligned,
          static_cast<acc_t>(spatial_scale), output.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return output;
}

at::Tensor roi_align_backward_cuda(
    const at::Tensor& grad, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t batch_size, int64_t channels, int64_t height, int64_t width,
    int64_t sampling_ratio, bool aligned) {
  check_roi_op_backward_args(
      "roi_align backward", grad, rois, pooled_height, pooled_width, batch_size, channels, height, width);
  TORCH_CHECK(grad.is_cuda(), "roi_align backward: the CUDA kernel got grad on ", grad.device());
  c10::cuda::CUDAGuard device_guard(grad.device());
  const auto acc_type = at::toOpMathType(grad.scalar_type());
  auto grad_acc = at::zeros({batch_size, channels, height, width}, grad.options().dtype(acc_type));
  const int64_t total = grad.numel();
  if (total == 0 || grad_acc.numel() == 0) {
    return grad_acc.to(grad.scalar_type());
  }
  check_roi_batch_indices("roi_align backward", rois, batch_size);
  auto grad_c = grad.contiguous();
  auto rois_c = rois.contiguous();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "roi_align_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    dispatch_index_type(total, [&](auto index_zero) {
      using index_t = decltype(index_zero);
      roi_align_backward_kernel<scalar_t, acc_t, index_t><<<blocks_for(total), kThreads, 0, stream>>>(
          static_cast<index_t>(total), grad_c.data_ptr<scalar_t>(), rois_c.data_ptr<scalar_t>(), batch_size,
          static_cast<index_t>(channels), static_cast<int>(height), static_cast<int>(width),
          static_cast<int>(pooled_height), static_cast<int>(pooled_width), static_cast<int>(sampling_ratio), aligned,
          static_cast<acc_t>(spatial_scale), grad_acc.data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return grad_acc.scalar_type() == grad.scalar_type() ? grad_acc : grad_acc.to(grad.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CUDA, m) {
  m.impl("roi_align", TORCH_FN(roi_align_forward_cuda));
  m.impl("_roi_align_backward", TORCH_FN(roi_align_backward_cuda));
}

}  // namespace cuda
}  // namespace maskrcnn_benchmark
