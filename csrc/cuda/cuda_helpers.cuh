// Shared pieces of the CUDA kernels: launch geometry and a grid-stride loop. Only c10 CUDA headers are
// used (not ATen/cuda/CUDAContext.h), so a toolkit without the cuBLAS/cuSPARSE headers can build them.
#pragma once
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace maskrcnn_benchmark {
namespace cuda {

constexpr int kThreads = 256;

// Enough blocks to cover n elements with kThreads threads each, capped (the kernels loop grid-stride).
inline unsigned int blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t(1) << 16)));
}

// Grid-stride loop over [0, n) with an index of type index_t (int32_t only where fits_int32_index(n)).
#define MASKRCNN_CUDA_LOOP_T(index_t, i, n)                                                        \
  for (index_t i = static_cast<index_t>(blockIdx.x) * static_cast<index_t>(blockDim.x) +           \
                   static_cast<index_t>(threadIdx.x);                                              \
       i < (n); i += static_cast<index_t>(blockDim.x) * static_cast<index_t>(gridDim.x))
#define MASKRCNN_CUDA_LOOP(i, n) MASKRCNN_CUDA_LOOP_T(int64_t, i, n)

// Whether a grid-stride loop over n elements can count in int32: the loop steps at most one grid
// (kThreads x 2^16 threads, blocks_for's cap) past n.
inline bool fits_int32_index(int64_t n) {
  return n <= static_cast<int64_t>(std::numeric_limits<int32_t>::max()) - (static_cast<int64_t>(kThreads) << 16);
}

// Calls f(int32_t{}) when n allows it, else f(int64_t{}): the kernels take the index type as a template
// parameter, because 64-bit integer division (decoding an output index) costs many instructions on a GPU.
template <typename F>
void dispatch_index_type(int64_t n, F&& f) {
  if (fits_int32_index(n)) {
    f(int32_t{0});
  } else {
    f(int64_t{0});
  }
}

// Element `index` of a contiguous [K, C, pooled_h, pooled_w] tensor: RoI k, channel c, bin (p, q).
template <typename index_t>
struct BinIndex {
  index_t k;
  index_t c;
  int p;
  int q;
};

template <typename index_t>
__device__ __forceinline__ BinIndex<index_t> decode_bin_index(
    index_t index, index_t channels, int pooled_h, int pooled_w) {
  BinIndex<index_t> r;
  r.q = static_cast<int>(index % pooled_w);
  index_t rest = index / pooled_w;
  r.p = static_cast<int>(rest % pooled_h);
  rest /= pooled_h;
  r.c = rest % channels;
  r.k = rest / channels;
  return r;
}

// Raise, with the CPU kernels' message, when a RoI's batch index (column 0) is NaN or outside
// [0, batch_size): one reduction and one device-to-host copy before the launch.
inline void check_roi_batch_indices(const char* op, const at::Tensor& rois, int64_t batch_size) {
  if (rois.size(0) == 0) {
    return;
  }
  const auto index = rois.select(1, 0);
  const auto bad = at::logical_not(at::logical_and(index >= 0, index < static_cast<double>(batch_size)));
  if (!bad.any().item<bool>()) {
    return;
  }
  const int64_t k = bad.to(at::kInt).argmax().item<int64_t>();  // the first bad row
  TORCH_CHECK(
      false, op, ": rois[", k, ", 0] is the batch index and must lie in [0, ", batch_size, "), got ",
      index[k].item<double>());
}

// Valid batch index of a RoI, or -1: never reached after check_roi_batch_indices, kept so a kernel can
// never read out of bounds.
template <typename T>
__device__ __forceinline__ int64_t roi_batch_index(T value, int64_t batch_size) {
  const float b = static_cast<float>(value);
  return (b >= 0.f && b < static_cast<float>(batch_size)) ? static_cast<int64_t>(b) : -1;
}

}  // namespace cuda
}  // namespace maskrcnn_benchmark
