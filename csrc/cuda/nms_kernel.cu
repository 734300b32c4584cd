// CUDA kernels of nms and batched_nms: the bitmask algorithm. Boxes are sorted by score (stable); one
// block of 64 threads compares 64 boxes against a block of 64 later boxes held in shared memory and writes,
// per box, a 64-bit mask of the later boxes it overlaps by more than the threshold. The greedy pass over the
// masks (cheap, sequential) runs on the host. For batched_nms a pair only counts when both boxes have the
// same idx, which is exact (no coordinate-offset trick).
//
// The masks are stored upper-triangular: a box in block r only has words for column blocks r and later, so
// the buffer (written on the device, copied to the host) is about half the size of a full n x n/64 one.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <vector>

#include "checks.h"
#include "cuda/cuda_helpers.cuh"

namespace maskrcnn_benchmark {
namespace cuda {
namespace {

constexpr int kBoxesPerBlock = 64;  // bits in the mask word

// Triangular mask layout. Row block r holds kBoxesPerBlock rows of (col_blocks - r) words each (column
// blocks r .. col_blocks - 1); the blocks before it hold kBoxesPerBlock * sum_{k<r} (col_blocks - k) words.
__host__ __device__ __forceinline__ int64_t mask_row_offset(int64_t row, int64_t col_blocks) {
  const int64_t r = row / kBoxesPerBlock;
  const int64_t blocks_before = r * col_blocks - r * (r - 1) / 2;
  return blocks_before * kBoxesPerBlock + (row - r * kBoxesPerBlock) * (col_blocks - r);
}

// Number of words of the triangular mask of n boxes: the last row (in the last block) has one word.
int64_t mask_words(int64_t n, int64_t col_blocks) {
  return mask_row_offset(n - 1, col_blocks) + 1;
}

template <typename T>
T comparable_threshold(double threshold) {
  // f > threshold (double) equals f > t for the largest t of type T not above threshold.
  T t = static_cast<T>(threshold);
  if (static_cast<double>(t) > threshold) {
    t = std::nextafter(t, -std::numeric_limits<T>::infinity());
  }
  return t;
}

// IEEE operations with round-to-nearest and no fused multiply-add: nvcc would otherwise contract
// `area_a + area_b - w * h` into an FMA, and borderline IoUs would flip against the CPU kernel.
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }

// Same operations, in the same order, as the CPU kernel (and torchvision's CPU kernel), so both
// backends keep the same boxes.
template <typename T>
__device__ __forceinline__ bool overlaps(const T* a, const T* b, T threshold) {
  const T xx1 = a[0] < b[0] ? b[0] : a[0];
  const T yy1 = a[1] < b[1] ? b[1] : a[1];
  const T xx2 = b[2] < a[2] ? b[2] : a[2];
  const T yy2 = b[3] < a[3] ? b[3] : a[3];
  const T dw = sub_rn(xx2, xx1);
  const T dh = sub_rn(yy2, yy1);
  const T w = T(0) < dw ? dw : T(0);
  const T h = T(0) < dh ? dh : T(0);
  const T inter = mul_rn(w, h);
  const T area_a = mul_rn(sub_rn(a[2], a[0]), sub_rn(a[3], a[1]));
  const T area_b = mul_rn(sub_rn(b[2], b[0]), sub_rn(b[3], b[1]));
  return div_rn(inter, sub_rn(add_rn(area_a, area_b), inter)) > threshold;
}

// boxes: [n, 4] sorted by score; idxs: [n] group of each box, or nullptr for plain nms.
template <typename T>
__global__ void nms_mask_kernel(
    int64_t n, const T* __restrict__ boxes, const int64_t* __restrict__ idxs, T threshold,
    unsigned long long* __restrict__ mask, int64_t col_blocks) {
  const int64_t row_block = blockIdx.y;
  const int64_t col_block = blockIdx.x;
  if (row_block > col_block) {
    return;  // only later boxes can be suppressed
  }
  const int64_t row_left = n - row_block * kBoxesPerBlock;
  const int64_t col_left = n - col_block * kBoxesPerBlock;
  const int row_size = static_cast<int>(row_left < kBoxesPerBlock ? row_left : kBoxesPerBlock);
  const int col_size = static_cast<int>(col_left < kBoxesPerBlock ? col_left : kBoxesPerBlock);
  __shared__ T col_boxes[kBoxesPerBlock * 4];
  __shared__ int64_t col_idxs[kBoxesPerBlock];
  if (threadIdx.x < col_size) {
    const int64_t j = col_block * kBoxesPerBlock + threadIdx.x;
    for (int d = 0; d < 4; ++d) {
      col_boxes[threadIdx.x * 4 + d] = boxes[j * 4 + d];
    }
    col_idxs[threadIdx.x] = idxs != nullptr ? idxs[j] : 0;
  }
  __syncthreads();
  if (threadIdx.x < row_size) {
    const int64_t i = row_block * kBoxesPerBlock + threadIdx.x;
    T box[4];
    for (int d = 0; d < 4; ++d) {
      box[d] = boxes[i * 4 + d];
    }
    const int64_t group = idxs != nullptr ? idxs[i] : 0;
    unsigned long long bits = 0;
    const int start = row_block == col_block ? threadIdx.x + 1 : 0;
    for (int j = start; j < col_size; ++j) {
      if (col_idxs[j] == group && overlaps(box, col_boxes + j * 4, threshold)) {
        bits |= 1ULL << j;
      }
    }
    mask[mask_row_offset(i, col_blocks) + (col_block - row_block)] = bits;
  }
}

at::Tensor nms_impl(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor* idxs, double iou_threshold) {
  c10::cuda::CUDAGuard device_guard(boxes.device());
  const int64_t n = boxes.size(0);
  if (n == 0) {
    return at::empty({0}, boxes.options().dtype(at::kLong));
  }
  auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  // Half and bfloat16 boxes are compared in float, like on the CPU.
  auto sorted = boxes.index_select(0, order).to(at::toOpMathType(boxes.scalar_type())).contiguous();
  at::Tensor sorted_idxs;
  if (idxs != nullptr) {
    sorted_idxs = idxs->index_select(0, order).to(at::kLong).contiguous();
  }
  const int64_t col_blocks = (n + kBoxesPerBlock - 1) / kBoxesPerBlock;
  TORCH_CHECK(col_blocks <= 65535, "nms: too many boxes for the CUDA kernel (at most ", 65535 * kBoxesPerBlock,
              "), got ", n);
  auto mask = at::empty({mask_words(n, col_blocks)}, boxes.options().dtype(at::kLong));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const dim3 grid(static_cast<unsigned int>(col_blocks), static_cast<unsigned int>(col_blocks));
  AT_DISPATCH_FLOATING_TYPES(sorted.scalar_type(), "nms_cuda", [&] {
    nms_mask_kernel<scalar_t><<<grid, kBoxesPerBlock, 0, stream>>>(
        n, sorted.data_ptr<scalar_t>(), idxs != nullptr ? sorted_idxs.data_ptr<int64_t>() : nullptr,
        comparable_threshold<scalar_t>(iou_threshold),
        reinterpret_cast<unsigned long long*>(mask.data_ptr<int64_t>()), col_blocks);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });

  // Greedy pass on the host: keep a box unless a kept earlier box marked it. The mask (6.4 MB at 10k
  // boxes) comes back through pinned memory: a pageable copy took most of the time.
  auto mask_cpu = at::empty({mask.numel()}, mask.options().device(at::kCPU).pinned_memory(true));
  mask_cpu.copy_(mask, /*non_blocking=*/true);
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  const auto* bits = reinterpret_cast<const unsigned long long*>(mask_cpu.data_ptr<int64_t>());
  std::vector<unsigned long long> removed(col_blocks, 0);
  auto keep = at::empty({n}, at::TensorOptions().dtype(at::kLong));
  int64_t* keep_ptr = keep.data_ptr<int64_t>();
  int64_t num_kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t block = i / kBoxesPerBlock;
    const int bit = static_cast<int>(i % kBoxesPerBlock);
    if (removed[block] & (1ULL << bit)) {
      continue;
    }
    keep_ptr[num_kept++] = i;
    const unsigned long long* row = bits + mask_row_offset(i, col_blocks);  // word 0 is column block `block`
    for (int64_t j = block; j < col_blocks; ++j) {
      removed[j] |= row[j - block];
    }
  }
  auto kept_positions = keep.narrow(0, 0, num_kept).to(order.device(), /*non_blocking=*/false);
  return order.index_select(0, kept_positions);
}

at::Tensor nms_cuda(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  check_nms_args("nms", boxes, scores);
  return nms_impl(boxes, scores, nullptr, iou_threshold);
}

at::Tensor batched_nms_cuda(
    const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double iou_threshold) {
  check_nms_args("batched_nms", boxes, scores);
  check_batched_nms_idxs(boxes, idxs);
  return nms_impl(boxes, scores, &idxs, iou_threshold);
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CUDA, m) {
  m.impl("nms", TORCH_FN(nms_cuda));
  m.impl("batched_nms", TORCH_FN(batched_nms_cuda));
}

}  // namespace cuda
}  // namespace maskrcnn_benchmark
