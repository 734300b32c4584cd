// Float32 inner loops, built per instruction set (see vectorized.h).
#include "cpu/vectorized.h"

#include <cstdint>
#include <cstring>


namespace maskrcnn_benchmark {
namespace cpu {
namespace {

// exp(x) for x <= 0, branch-free so it vectorises: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a
// degree-7 polynomial for exp(r) (relative error ~1e-7) and 2^n built in the exponent bits. Results below
// exp(-87) (near the float underflow) are flushed to 0.
inline float exp_nonpositive(float x) {
  const float xc = x < -87.0f ? -87.0f : x;
  // Round xc / ln2 to the nearest integer with the 1.5 * 2^23 trick (exact for |v| < 2^22).
  const float shifter = 12582912.0f;
  const float n = (xc * 1.44269504088896341f + shifter) - shifter;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));  // (C++17: no std::bit_cast)
  const float result = p * scale;
  return x < -87.0f ? 0.0f : result;
}

// log1p(y) for y in [0, 1]: 2 atanh(s) with s = y / (2 + y) <= 1/3, an odd series in s truncated after s^15
// (relative error < 2e-9, and exact in relative terms as y -> 0, where log(1 + y) would cancel).
inline float log1p_unit(float y) {
  const float s = y / (2.0f + y);
  const float s2 = s * s;
  float t = 1.0f / 15.0f;
  t = t * s2 + 1.0f / 13.0f;
  t = t * s2 + 1.0f / 11.0f;
  t = t * s2 + 1.0f / 9.0f;
  t = t * s2 + 1.0f / 7.0f;
  t = t * s2 + 1.0f / 5.0f;
  t = t * s2 + 1.0f / 3.0f;
  t = t * s2 + 1.0f;
  return 2.0f * s * t;
}

template <int kGamma>
inline float modulator(float q) {
  return kGamma == 0 ? 1.0f : (kGamma == 1 ? q : q * q);
}

// The per-gamma loops are instantiated separately so the vectorised loop bodies contain no branch.
template <int kGamma>
inline void negatives_loss(const float* __restrict x, float* __restrict out, int64_t n, float alpha_neg) {
  for (int64_t j = 0; j < n; ++j) {
    const float v = x[j];
    const float e = exp_nonpositive(v < 0.0f ? v : -v);  // exp(-|x|)
    const float inv = 1.0f / (1.0f + e);
    const float p = v >= 0.0f ? inv : e * inv;  // sigmoid(x)
    const float ce = log1p_unit(e) + (v > 0.0f ? v : 0.0f);  // -log(1 - p)
    out[j] = alpha_neg * modulator<kGamma>(p) * ce;
  }
}

// d/dx [alpha_neg * p^gamma * ce] = alpha_neg * p^gamma * (gamma * (1 - p) * ce + p), times g.
template <int kGamma, bool kSharedGrad>
inline void negatives_grad(const float* __restrict x, const float* __restrict g, float* __restrict out, int64_t n,
                           float alpha_neg) {
  const float gamma = static_cast<float>(kGamma);
  for (int64_t j = 0; j < n; ++j) {
    const float v = x[j];
    const float e = exp_nonpositive(v < 0.0f ? v : -v);
    const float inv = 1.0f / (1.0f + e);
    const float p = v >= 0.0f ? inv : e * inv;
    const float one_minus_p = v >= 0.0f ? e * inv : inv;
    const float ce = log1p_unit(e) + (v > 0.0f ? v : 0.0f);
    const float gv = kSharedGrad ? g[0] : g[j];
    out[j] = gv * alpha_neg * modulator<kGamma>(p) * (gamma * one_minus_p * ce + p);
  }
}

}  // namespace

MASKRCNN_CPU_CLONES
void suppress_overlaps_f32(
    const float* __restrict x1, const float* __restrict y1, const float* __restrict x2, const float* __restrict y2,
    const float* __restrict area, int64_t begin, int64_t end, float bx1, float by1, float bx2, float by2,
    float barea, float threshold, int32_t* __restrict suppressed) {
  // Same operations and order as torchvision's CPU nms (std::max/std::min semantics), so the IoU is
  // bit-identical.
  for (int64_t j = begin; j < end; ++j) {
    const float xx1 = bx1 < x1[j] ? x1[j] : bx1;
    const float yy1 = by1 < y1[j] ? y1[j] : by1;
    const float xx2 = x2[j] < bx2 ? x2[j] : bx2;
    const float yy2 = y2[j] < by2 ? y2[j] : by2;
    const float w = 0.0f < xx2 - xx1 ? xx2 - xx1 : 0.0f;
    const float h = 0.0f < yy2 - yy1 ? yy2 - yy1 : 0.0f;
    const float inter = w * h;
    const float iou = inter / (barea + area[j] - inter);
    suppressed[j] |= static_cast<int32_t>(iou > threshold);
  }
}

MASKRCNN_CPU_CLONES
void focal_loss_negatives_f32(const float* __restrict x, float* __restrict out, int64_t n, float alpha_neg,
                              int gamma_int) {
  switch (gamma_int) {
    case 0:
      return negatives_loss<0>(x, out, n, alpha_neg);
    case 1:
      return negatives_loss<1>(x, out, n, alpha_neg);
    default:
      return negatives_loss<2>(x, out, n, alpha_neg);
  }
}

MASKRCNN_CPU_CLONES
void focal_loss_negatives_grad_f32(
    const float* __restrict x, const float* __restrict g, int64_t g_stride, float* __restrict out, int64_t n,
    float alpha_neg, int gamma_int) {
  const bool shared = g_stride == 0;
  switch (gamma_int) {
    case 0:
      return shared ? negatives_grad<0, true>(x, g, out, n, alpha_neg) : negatives_grad<0, false>(x, g, out, n, alpha_neg);
    case 1:
      return shared ? negatives_grad<1, true>(x, g, out, n, alpha_neg) : negatives_grad<1, false>(x, g, out, n, alpha_neg);
    default:
      return shared ? negatives_grad<2, true>(x, g, out, n, alpha_neg) : negatives_grad<2, false>(x, g, out, n, alpha_neg);
  }
}

}  // namespace cpu
}  // namespace maskrcnn_benchmark
