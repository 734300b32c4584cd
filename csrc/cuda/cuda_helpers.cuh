// Shared pieces of the CUDA kernels: launch geometry and a grid-stride loop. Only c10 CUDA headers are
// used (not ATen/cuda/CUDAContext.h), so a toolkit without the cuBLAS/cuSPARSE headers can build them.
#pragma once
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstdint>

namespace maskrcnn_benchmark {
namespace cuda {

constexpr int kThreads = 256;

// Enough blocks to cover n elements with kThreads threads each, capped (the kernels loop grid-stride).
inline unsigned int blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t(1) << 16)));
}

#define MASKRCNN_CUDA_LOOP(i, n)                                                                  \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);            \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// Valid batch index of a RoI, or -1: a bad index makes the RoI contribute nothing instead of reading out of
// bounds (the CPU kernels raise an error for it; checking on the device would need a synchronisation).
template <typename T>
__device__ __forceinline__ int64_t roi_batch_index(T value, int64_t batch_size) {
  const float b = static_cast<float>(value);
  return (b >= 0.f && b < static_cast<float>(batch_size)) ? static_cast<int64_t>(b) : -1;
}

}  // namespace cuda
}  // namespace maskrcnn_benchmark
