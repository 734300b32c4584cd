// Small helpers shared by the CPU kernels.
#pragma once
#include <ATen/ATen.h>
#include <vector>

namespace maskrcnn_benchmark {
namespace cpu {

// The batch index of every RoI (column 0 of rois), checked against the batch size so a bad index raises
// instead of reading outside the input.
template <typename T>
std::vector<int64_t> roi_batch_indices(const char* op, const T* rois, int64_t num_rois, int64_t batch_size) {
  std::vector<int64_t> batch(num_rois);
  for (int64_t k = 0; k < num_rois; ++k) {
    const double b = static_cast<double>(rois[k * 5]);
    TORCH_CHECK(
        b >= 0 && b < static_cast<double>(batch_size),
        op, ": rois[", k, ", 0] is the batch index and must lie in [0, ", batch_size, "), got ", b);
    batch[k] = static_cast<int64_t>(b);
  }
  return batch;
}

}  // namespace cpu
}  // namespace maskrcnn_benchmark
