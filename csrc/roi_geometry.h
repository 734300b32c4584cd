// RoI geometry shared by the CPU and CUDA kernels, so both backends place bins and samples exactly as
// torchvision.ops does (continuous coordinates, no legacy +1 for roi_align; rounded corners and +1 for
// roi_pool).
#pragma once
#include <c10/macros/Macros.h>
#include <cmath>

namespace maskrcnn_benchmark {

// One bilinear sample along one axis: the two neighbouring pixel indices and their weights.
// `valid` is false for a sample more than one pixel outside the feature map (it then contributes 0).
template <typename T>
struct AxisSample {
  int lo;
  int hi;
  T w_lo;
  T w_hi;
  bool valid;
};

template <typename T>
C10_HOST_DEVICE inline AxisSample<T> bilinear_axis_sample(T v, int size) {
  AxisSample<T> s{0, 0, T(0), T(0), false};
  if (v < T(-1.0) || v > T(size) || size <= 0) {
    return s;
  }
  if (v <= T(0)) {
    v = T(0);
  }
  int lo = static_cast<int>(v);
  int hi;
  if (lo >= size - 1) {
    lo = hi = size - 1;
    v = T(lo);
  } else {
    hi = lo + 1;
  }
  const T frac = v - T(lo);
  s.lo = lo;
  s.hi = hi;
  s.w_lo = T(1) - frac;
  s.w_hi = frac;
  s.valid = true;
  return s;
}

// Where the bins of one RoI lie on the feature map for roi_align, and how many samples each bin takes.
template <typename T>
struct RoIAlignBox {
  T start_h;
  T start_w;
  T bin_h;
  T bin_w;
  int grid_h;  // samples per bin along y (<= 0 means none)
  int grid_w;
  T count;  // divisor of the bin average: max(grid_h * grid_w, 1)
};

template <typename T>
C10_HOST_DEVICE inline RoIAlignBox<T> roi_align_box(
    const T* roi, T spatial_scale, int pooled_height, int pooled_width, int sampling_ratio, bool aligned) {
  // aligned=True shifts by half a pixel so that pixel centres sit at integer + 0.5 (torchvision semantics).
  const T offset = aligned ? T(0.5) : T(0.0);
  const T start_w = roi[1] * spatial_scale - offset;
  const T start_h = roi[2] * spatial_scale - offset;
  const T end_w = roi[3] * spatial_scale - offset;
  const T end_h = roi[4] * spatial_scale - offset;
  T roi_w = end_w - start_w;
  T roi_h = end_h - start_h;
  if (!aligned) {
    // The legacy (non-aligned) behaviour forces malformed RoIs to be at least 1x1.
    roi_w = roi_w > T(1) ? roi_w : T(1);
    roi_h = roi_h > T(1) ? roi_h : T(1);
  }
  RoIAlignBox<T> box;
  box.start_h = start_h;
  box.start_w = start_w;
  box.bin_h = roi_h / static_cast<T>(pooled_height);
  box.bin_w = roi_w / static_cast<T>(pooled_width);
  box.grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<int>(::ceil(roi_h / static_cast<T>(pooled_height)));
  box.grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<int>(::ceil(roi_w / static_cast<T>(pooled_width)));
  const int count = box.grid_h * box.grid_w;
  box.count = static_cast<T>(count > 1 ? count : 1);
  return box;
}

// Coordinate of sample `i` (of `grid`) inside bin `bin` along one axis.
template <typename T>
C10_HOST_DEVICE inline T roi_align_sample_coord(T start, T bin_size, int bin, int i, int grid) {
  return start + static_cast<T>(bin) * bin_size + static_cast<T>(i + 0.5f) * bin_size / static_cast<T>(grid);
}

// The rounded pixel corners of one RoI for roi_pool: start and size (at least 1) along each axis.
template <typename T>
struct RoIPoolBox {
  int start_h;
  int start_w;
  int height;
  int width;
};

template <typename T>
C10_HOST_DEVICE inline RoIPoolBox<T> roi_pool_box(const T* roi, T spatial_scale) {
  RoIPoolBox<T> box;
  box.start_w = static_cast<int>(::round(roi[1] * spatial_scale));
  box.start_h = static_cast<int>(::round(roi[2] * spatial_scale));
  const int end_w = static_cast<int>(::round(roi[3] * spatial_scale));
  const int end_h = static_cast<int>(::round(roi[4] * spatial_scale));
  // Inclusive corners: a RoI covers end - start + 1 pixels, at least one.
  box.width = end_w - box.start_w + 1 > 1 ? end_w - box.start_w + 1 : 1;
  box.height = end_h - box.start_h + 1 > 1 ? end_h - box.start_h + 1 : 1;
  return box;
}

// Pixel range [start, end) of one roi_pool bin along one axis, clipped to [0, size).
template <typename T>
C10_HOST_DEVICE inline void roi_pool_bin_range(
    int roi_start, int roi_size, int pooled, int bin, int size, int* start, int* end) {
  const T bin_size = static_cast<T>(roi_size) / static_cast<T>(pooled);
  int s = static_cast<int>(::floor(static_cast<T>(bin) * bin_size)) + roi_start;
  int e = static_cast<int>(::ceil(static_cast<T>(bin + 1) * bin_size)) + roi_start;
  s = s < 0 ? 0 : (s > size ? size : s);
  e = e < 0 ? 0 : (e > size ? size : e);
  *start = s;
  *end = e;
}

}  // namespace maskrcnn_benchmark
