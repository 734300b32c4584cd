// CPU kernels of roi_align (forward and backward).
//
// The bilinear sample positions of a RoI are separable: the y samples depend only on the bin row, the x
// samples only on the bin column. Each RoI's samples are computed once (ph * grid_h + pw * grid_w axis
// samples) and reused for every channel, where torchvision recomputes them per channel in the backward.
//
// Forward: threads split the RoIs. For large workloads the input is read channels-last (NHWC), so every
// bilinear corner is one contiguous run of C values and the inner loop is a vectorised axpy over channels;
// small workloads read NCHW directly and skip the layout copy.
// Backward: threads split the channels, so each thread owns whole channel planes of grad_input and adds into
// them without atomics; a plane stays in cache while all RoIs of that channel are processed.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "checks.h"
#include "cpu/cpu_helpers.h"
#include "roi_geometry.h"

namespace maskrcnn_benchmark {
namespace cpu {
namespace {

template <typename acc_t>
struct RoISamples {
  RoIAlignBox<acc_t> box;
  int grid_h = 0;  // box.grid_h clamped to >= 0
  int grid_w = 0;
  std::vector<AxisSample<acc_t>> ys;  // [pooled_height * grid_h]
  std::vector<AxisSample<acc_t>> xs;  // [pooled_width * grid_w]
};

template <typename acc_t, typename scalar_t>
void compute_roi_samples(
    const scalar_t* roi, acc_t spatial_scale, int pooled_h, int pooled_w, int sampling_ratio, bool aligned,
    int height, int width, RoISamples<acc_t>* s) {
  acc_t r[5];
  for (int i = 0; i < 5; ++i) {
    r[i] = static_cast<acc_t>(roi[i]);
  }
  s->box = roi_align_box<acc_t>(r, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned);
  s->grid_h = std::max(s->box.grid_h, 0);
  s->grid_w = std::max(s->box.grid_w, 0);
  s->ys.resize(static_cast<size_t>(pooled_h) * s->grid_h);
  s->xs.resize(static_cast<size_t>(pooled_w) * s->grid_w);
  for (int p = 0; p < pooled_h; ++p) {
    for (int i = 0; i < s->grid_h; ++i) {
      s->ys[p * s->grid_h + i] = bilinear_axis_sample<acc_t>(
          roi_align_sample_coord<acc_t>(s->box.start_h, s->box.bin_h, p, i, s->grid_h), height);
    }
  }
  for (int q = 0; q < pooled_w; ++q) {
    for (int i = 0; i < s->grid_w; ++i) {
      s->xs[q * s->grid_w + i] = bilinear_axis_sample<acc_t>(
          roi_align_sample_coord<acc_t>(s->box.start_w, s->box.bin_w, q, i, s->grid_w), width);
    }
  }
}

// acc[c] += w1 * p1[c] + w2 * p2[c] + w3 * p3[c] + w4 * p4[c] for c in [0, n): the NHWC inner loop.
template <typename acc_t, typename scalar_t>
inline void axpy4(
    acc_t* __restrict acc, int64_t n, acc_t w1, const scalar_t* __restrict p1, acc_t w2,
    const scalar_t* __restrict p2, acc_t w3, const scalar_t* __restrict p3, acc_t w4,
    const scalar_t* __restrict p4) {
  for (int64_t c = 0; c < n; ++c) {
    acc[c] += w1 * static_cast<acc_t>(p1[c]) + w2 * static_cast<acc_t>(p2[c]) + w3 * static_cast<acc_t>(p3[c]) +
        w4 * static_cast<acc_t>(p4[c]);
  }
}

template <typename scalar_t>
void forward_nchw(
    const scalar_t* input, const scalar_t* rois, const std::vector<int64_t>& batch, int64_t num_rois,
    int64_t channels, int height, int width, int pooled_h, int pooled_w, int sampling_ratio, bool aligned,
    double spatial_scale, scalar_t* output) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t plane = static_cast<int64_t>(height) * width;
  at::parallel_for(0, num_rois, 1, [&](int64_t begin, int64_t end) {
    RoISamples<acc_t> s;
    for (int64_t k = begin; k < end; ++k) {
      compute_roi_samples<acc_t>(
          rois + k * 5, static_cast<acc_t>(spatial_scale), pooled_h, pooled_w, sampling_ratio, aligned, height,
          width, &s);
      for (int64_t c = 0; c < channels; ++c) {
        const scalar_t* in = input + (batch[k] * channels + c) * plane;
        scalar_t* out = output + (k * channels + c) * pooled_h * pooled_w;
        for (int p = 0; p < pooled_h; ++p) {
          for (int q = 0; q < pooled_w; ++q) {
            acc_t sum = 0;
            for (int iy = 0; iy < s.grid_h; ++iy) {
              const auto& y = s.ys[p * s.grid_h + iy];
              if (!y.valid) {
                continue;
              }
              const scalar_t* row_lo = in + static_cast<int64_t>(y.lo) * width;
              const scalar_t* row_hi = in + static_cast<int64_t>(y.hi) * width;
              for (int ix = 0; ix < s.grid_w; ++ix) {
                const auto& x = s.xs[q * s.grid_w + ix];
                if (!x.valid) {
                  continue;
                }
                sum += y.w_lo * x.w_lo * static_cast<acc_t>(row_lo[x.lo]) +
                    y.w_lo * x.w_hi * static_cast<acc_t>(row_lo[x.hi]) +
                    y.w_hi * x.w_lo * static_cast<acc_t>(row_hi[x.lo]) +
                    y.w_hi * x.w_hi * static_cast<acc_t>(row_hi[x.hi]);
              }
            }
            out[p * pooled_w + q] = static_cast<scalar_t>(sum / s.box.count);
          }
        }
      }
    }
  });
}

template <typename scalar_t>
void forward_nhwc(
    const scalar_t* input_nhwc, const scalar_t* rois, const std::vector<int64_t>& batch, int64_t num_rois,
    int64_t channels, int height, int width, int pooled_h, int pooled_w, int sampling_ratio, bool aligned,
    double spatial_scale, scalar_t* output) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t plane = static_cast<int64_t>(height) * width;
  const int64_t bins = static_cast<int64_t>(pooled_h) * pooled_w;
  at::parallel_for(0, num_rois, 1, [&](int64_t begin, int64_t end) {
    RoISamples<acc_t> s;
    std::vector<acc_t> acc(channels);
    for (int64_t k = begin; k < end; ++k) {
      compute_roi_samples<acc_t>(
          rois + k * 5, static_cast<acc_t>(spatial_scale), pooled_h, pooled_w, sampling_ratio, aligned, height,
          width, &s);
      const scalar_t* image = input_nhwc + batch[k] * plane * channels;
      scalar_t* out = output + k * channels * bins;
      for (int p = 0; p < pooled_h; ++p) {
        for (int q = 0; q < pooled_w; ++q) {
          std::fill(acc.begin(), acc.end(), acc_t(0));
          for (int iy = 0; iy < s.grid_h; ++iy) {
            const auto& y = s.ys[p * s.grid_h + iy];
            if (!y.valid) {
              continue;
            }
            const scalar_t* row_lo = image + static_cast<int64_t>(y.lo) * width * channels;
            const scalar_t* row_hi = image + static_cast<int64_t>(y.hi) * width * channels;
            for (int ix = 0; ix < s.grid_w; ++ix) {
              const auto& x = s.xs[q * s.grid_w + ix];
              if (!x.valid) {
                continue;
              }
              axpy4<acc_t, scalar_t>(
                  acc.data(), channels, y.w_lo * x.w_lo, row_lo + x.lo * channels, y.w_lo * x.w_hi,
                  row_lo + x.hi * channels, y.w_hi * x.w_lo, row_hi + x.lo * channels, y.w_hi * x.w_hi,
                  row_hi + x.hi * channels);
            }
          }
          const int64_t bin = p * pooled_w + q;
          for (int64_t c = 0; c < channels; ++c) {
            out[c * bins + bin] = static_cast<scalar_t>(acc[c] / s.box.count);
          }
        }
      }
    }
  });
}

// Whether reading the input channels-last pays for the layout copy: the NCHW gather touches ~one cache line
// per bilinear corner and channel, the copy costs about one pass over the input.
template <typename scalar_t>
bool use_channels_last(
    const at::Tensor& input, const scalar_t* rois, int64_t num_rois, int pooled_h, int pooled_w,
    int sampling_ratio, bool aligned, double spatial_scale) {
  if (input.is_contiguous(at::MemoryFormat::ChannelsLast) && !input.is_contiguous()) {
    return true;
  }
  if (input.size(1) < 16) {
    return false;
  }
  using acc_t = at::opmath_type<scalar_t>;
  double samples = 0;
  for (int64_t k = 0; k < num_rois; ++k) {
    acc_t r[5];
    for (int i = 0; i < 5; ++i) {
      r[i] = static_cast<acc_t>(rois[k * 5 + i]);
    }
    const auto box = roi_align_box<acc_t>(
        r, static_cast<acc_t>(spatial_scale), pooled_h, pooled_w, sampling_ratio, aligned);
    samples += static_cast<double>(std::max(box.grid_h, 0)) * std::max(box.grid_w, 0);
  }
  samples *= static_cast<double>(pooled_h) * pooled_w;
  const double pixels = static_cast<double>(input.size(0)) * input.size(2) * input.size(3);
  return 4.0 * samples >= pixels;
}

at::Tensor roi_align_forward_cpu(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  check_roi_op_args("roi_align", input, rois, spatial_scale, pooled_height, pooled_width);
  const int64_t num_rois = rois.size(0);
  const int64_t channels = input.size(1);
  auto output = at::zeros({num_rois, channels, pooled_height, pooled_width}, input.options());
  if (num_rois == 0 || output.numel() == 0) {
    return output;
  }
  TORCH_CHECK(input.numel() > 0, "roi_align: input must not be empty when there are RoIs, got shape ", input.sizes());
  auto rois_c = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_align_forward_cpu", [&] {
    const scalar_t* rois_ptr = rois_c.data_ptr<scalar_t>();
    const auto batch = roi_batch_indices("roi_align", rois_ptr, num_rois, input.size(0));
    const int h = static_cast<int>(input.size(2));
    const int w = static_cast<int>(input.size(3));
    const int ph = static_cast<int>(pooled_height);
    const int pw = static_cast<int>(pooled_width);
    const int sr = static_cast<int>(sampling_ratio);
    if (use_channels_last<scalar_t>(input, rois_ptr, num_rois, ph, pw, sr, aligned, spatial_scale)) {
      auto input_nhwc = input.contiguous(at::MemoryFormat::ChannelsLast);
      forward_nhwc<scalar_t>(
          input_nhwc.data_ptr<scalar_t>(), rois_ptr, batch, num_rois, channels, h, w, ph, pw, sr, aligned,
          spatial_scale, output.data_ptr<scalar_t>());
    } else {
      auto input_c = input.contiguous();
      forward_nchw<scalar_t>(
          input_c.data_ptr<scalar_t>(), rois_ptr, batch, num_rois, channels, h, w, ph, pw, sr, aligned,
          spatial_scale, output.data_ptr<scalar_t>());
    }
  });
  return output;
}

template <typename scalar_t, typename grad_t>
void backward_by_channel(
    const scalar_t* grad, const scalar_t* rois, const std::vector<int64_t>& batch, int64_t num_rois,
    int64_t channels, int height, int width, int pooled_h, int pooled_w, int sampling_ratio, bool aligned,
    double spatial_scale, grad_t* grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t plane = static_cast<int64_t>(height) * width;
  const int64_t bins = static_cast<int64_t>(pooled_h) * pooled_w;
  std::vector<RoISamples<acc_t>> samples(num_rois);
  at::parallel_for(0, num_rois, 16, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      compute_roi_samples<acc_t>(
          rois + k * 5, static_cast<acc_t>(spatial_scale), pooled_h, pooled_w, sampling_ratio, aligned, height,
          width, &samples[k]);
    }
  });
  at::parallel_for(0, channels, 1, [&](int64_t c_begin, int64_t c_end) {
    for (int64_t c = c_begin; c < c_end; ++c) {
      for (int64_t k = 0; k < num_rois; ++k) {
        const auto& s = samples[k];
        grad_t* gin = grad_input + (batch[k] * channels + c) * plane;
        const scalar_t* g = grad + (k * channels + c) * bins;
        for (int p = 0; p < pooled_h; ++p) {
          for (int q = 0; q < pooled_w; ++q) {
            const acc_t gv = static_cast<acc_t>(g[p * pooled_w + q]) / s.box.count;
            for (int iy = 0; iy < s.grid_h; ++iy) {
              const auto& y = s.ys[p * s.grid_h + iy];
              if (!y.valid) {
                continue;
              }
              grad_t* row_lo = gin + static_cast<int64_t>(y.lo) * width;
              grad_t* row_hi = gin + static_cast<int64_t>(y.hi) * width;
              const acc_t g_lo = gv * y.w_lo;
              const acc_t g_hi = gv * y.w_hi;
              for (int ix = 0; ix < s.grid_w; ++ix) {
                const auto& x = s.xs[q * s.grid_w + ix];
                if (!x.valid) {
                  continue;
                }
                row_lo[x.lo] += g_lo * x.w_lo;
                row_lo[x.hi] += g_lo * x.w_hi;
                row_hi[x.lo] += g_hi * x.w_lo;
                row_hi[x.hi] += g_hi * x.w_hi;
              }
            }
          }
        }
      }
    }
  });
}

at::Tensor roi_align_backward_cpu(
    const at::Tensor& grad, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t batch_size, int64_t channels, int64_t height, int64_t width,
    int64_t sampling_ratio, bool aligned) {
  check_roi_op_backward_args(
      "roi_align backward", grad, rois, pooled_height, pooled_width, batch_size, channels, height, width);
  auto grad_input = at::zeros({batch_size, channels, height, width}, grad.options());
  if (rois.size(0) == 0 || grad_input.numel() == 0) {
    return grad_input;
  }
  auto grad_c = grad.contiguous();
  auto rois_c = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "roi_align_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* rois_ptr = rois_c.data_ptr<scalar_t>();
    const auto batch = roi_batch_indices("roi_align backward", rois_ptr, rois.size(0), batch_size);
    const int64_t num_rois = rois.size(0);
    const int h = static_cast<int>(height);
    const int w = static_cast<int>(width);
    const int ph = static_cast<int>(pooled_height);
    const int pw = static_cast<int>(pooled_width);
    const int sr = static_cast<int>(sampling_ratio);
    if constexpr (std::is_same_v<acc_t, scalar_t>) {
      backward_by_channel<scalar_t, scalar_t>(
          grad_c.data_ptr<scalar_t>(), rois_ptr, batch, num_rois, channels, h, w, ph, pw, sr, aligned,
          spatial_scale, grad_input.data_ptr<scalar_t>());
    } else {
      // Reduced precision: accumulate in float, round once at the end.
      auto grad_acc = at::zeros({batch_size, channels, height, width}, grad.options().dtype(at::kFloat));
      backward_by_channel<scalar_t, acc_t>(
          grad_c.data_ptr<scalar_t>(), rois_ptr, batch, num_rois, channels, h, w, ph, pw, sr, aligned,
          spatial_scale, grad_acc.data_ptr<acc_t>());
      grad_input.copy_(grad_acc);
    }
  });
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CPU, m) {
  m.impl("roi_align", TORCH_FN(roi_align_forward_cpu));
  m.impl("_roi_align_backward", TORCH_FN(roi_align_backward_cpu));
}

}  // namespace cpu
}  // namespace maskrcnn_benchmark
