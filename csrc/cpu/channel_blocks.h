// Channel blocks: the CPU RoI kernels work on kChannelBlock channels of one image at a time, copied into a
// pixel-major buffer buf[(h * W + w) * kChannelBlock + i]. Every bilinear corner or pooled pixel is then one
// cache line of kChannelBlock contiguous values (a full AVX-512 register of floats), the buffer of a block
// stays in cache while all RoIs of the image use it, and the input is read once per block, without writing
// a full channels-last copy of the feature map. Backward kernels accumulate into such a buffer and write
// each block of grad_input exactly once.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace maskrcnn_benchmark {
namespace cpu {

constexpr int kChannelBlock = 16;

// One channel block of values as a GCC vector (lowered to whatever vector registers the clone targets), for
// loops the auto-vectoriser does not take on by itself.
template <typename T>
struct BlockVector {
  typedef T type __attribute__((vector_size(sizeof(T) * kChannelBlock)));
  // Same-width integers: the type of comparison masks, and of argmax lanes.
  using lane_int = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef lane_int mask __attribute__((vector_size(sizeof(T) * kChannelBlock)));
};

// The helpers are always inlined into their (cloned) callers, so the vector ABI note GCC gives for a
// by-value 64-byte vector does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
template <typename T>
__attribute__((always_inline)) inline typename BlockVector<T>::type load_block(const T* p) {
  typename BlockVector<T>::type v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
__attribute__((always_inline)) inline void store_block(T* p, typename BlockVector<T>::type v) {
  __builtin_memcpy(p, &v, sizeof(v));
}
#pragma GCC diagnostic pop

// Largest buffer (bytes) a thread allocates for one block; larger feature maps use the plain NCHW kernels.
constexpr int64_t kMaxChannelBlockBytes = int64_t(64) << 20;

// Copies channels [c0, c0 + count) of one image into buf (pixel-major), zero-filling channels >= count.
// `image` points at channel 0 of the image; channel c, pixel p lives at image[c * stride_c + p * stride_p]
// (NCHW: stride_c = H * W, stride_p = 1; channels-last: stride_c = 1, stride_p = C).
template <typename scalar_t, typename buf_t>
void load_channel_block(
    const scalar_t* image, int64_t pixels, int64_t stride_c, int64_t stride_p, int64_t c0, int count, buf_t* buf) {
  constexpr int64_t kTile = 64;  // pixels per tile: 64 x 16 values stay in L1 during the transpose
  for (int64_t p0 = 0; p0 < pixels; p0 += kTile) {
    const int64_t p1 = std::min(pixels, p0 + kTile);
    for (int i = 0; i < kChannelBlock; ++i) {
      if (i < count) {
        const scalar_t* src = image + (c0 + i) * stride_c;
        for (int64_t p = p0; p < p1; ++p) {
          buf[p * kChannelBlock + i] = static_cast<buf_t>(src[p * stride_p]);
        }
      } else {
        for (int64_t p = p0; p < p1; ++p) {
          buf[p * kChannelBlock + i] = buf_t(0);
        }
      }
    }
  }
}

// Writes channels [c0, c0 + count) of one NCHW image from buf (the inverse of load_channel_block).
template <typename buf_t, typename scalar_t>
void store_channel_block(const buf_t* buf, int64_t pixels, int64_t c0, int count, scalar_t* image) {
  constexpr int64_t kTile = 64;
  for (int64_t p0 = 0; p0 < pixels; p0 += kTile) {
    const int64_t p1 = std::min(pixels, p0 + kTile);
    for (int i = 0; i < count; ++i) {
      scalar_t* dst = image + (c0 + i) * pixels;
      for (int64_t p = p0; p < p1; ++p) {
        dst[p] = static_cast<scalar_t>(buf[p * kChannelBlock + i]);
      }
    }
  }
}

// The RoIs of each image, in input order.
inline std::vector<std::vector<int64_t>> rois_by_image(const std::vector<int64_t>& batch, int64_t batch_size) {
  std::vector<std::vector<int64_t>> groups(batch_size);
  for (int64_t k = 0; k < static_cast<int64_t>(batch.size()); ++k) {
    groups[batch[k]].push_back(k);
  }
  return groups;
}

inline bool channel_block_fits(int64_t height, int64_t width, int64_t value_bytes) {
  return height * width * kChannelBlock * value_bytes <= kMaxChannelBlockBytes;
}

}  // namespace cpu
}  // namespace maskrcnn_benchmark
