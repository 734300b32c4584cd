// CPU kernels of roi_align (forward and backward).
//
// The bilinear sample positions of a RoI are separable: the y samples depend only on the bin row, the x
// samples only on the bin column. Each RoI's samples are computed once (ph * grid_h + pw * grid_w axis
// samples) and reused for every channel, where torchvision recomputes them per channel in the backward.
//
// Large workloads run on channel blocks (see channel_blocks.h): threads split (block, image) pairs, every
// bilinear corner is one vector of 16 channels, and the backward accumulates into the block buffer and
// writes grad_input once, without atomics or a separate zero fill. Small workloads (few samples compared
// to the feature map size) read NCHW directly, so they never pay for a pass over the whole input.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "checks.h"
#include "cpu/channel_blocks.h"
#include "cpu/cpu_helpers.h"
#include "cpu/vectorized.h"
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

// One RoI on one channel block: res[bin * kChannelBlock + i] = average of the bilinear samples of bin.
template <typename acc_t>
MASKRCNN_CPU_CLONES void align_roi_on_block(
    const acc_t* __restrict buf, int width, const RoISamples<acc_t>& s, int pooled_h, int pooled_w,
    acc_t* __restrict res) {
  constexpr int B = kChannelBlock;
  for (int p = 0; p < pooled_h; ++p) {
    for (int q = 0; q < pooled_w; ++q) {
      acc_t acc[B] = {};
      for (int iy = 0; iy < s.grid_h; ++iy) {
        const auto& y = s.ys[p * s.grid_h + iy];
        if (!y.valid) {
          continue;
        }
        const acc_t* row_lo = buf + static_cast<int64_t>(y.lo) * width * B;
        const acc_t* row_hi = buf + static_cast<int64_t>(y.hi) * width * B;
        for (int ix = 0; ix < s.grid_w; ++ix) {
          const auto& x = s.xs[q * s.grid_w + ix];
          if (!x.valid) {
            continue;
          }
          const acc_t w1 = y.w_lo * x.w_lo, w2 = y.w_lo * x.w_hi, w3 = y.w_hi * x.w_lo, w4 = y.w_hi * x.w_hi;
          const acc_t* v1 = row_lo + x.lo * B;
          const acc_t* v2 = row_lo + x.hi * B;
          const acc_t* v3 = row_hi + x.lo * B;
          const acc_t* v4 = row_hi + x.hi * B;
          for (int i = 0; i < B; ++i) {
            acc[i] += w1 * v1[i] + w2 * v2[i] + w3 * v3[i] + w4 * v4[i];
          }
        }
      }
      acc_t* r = res + (p * pooled_w + q) * B;
      for (int i = 0; i < B; ++i) {
        r[i] = acc[i] / s.box.count;
      }
    }
  }
}

// Backward of one RoI on one channel block: spreads g[bin * kChannelBlock + i] (already divided by the
// sample count) over the bilinear corners of the bin's samples in buf.
template <typename acc_t>
MASKRCNN_CPU_CLONES void align_roi_on_block_backward(
    acc_t* __restrict buf, int width, const RoISamples<acc_t>& s, int pooled_h, int pooled_w,
    const acc_t* __restrict g) {
  constexpr int B = kChannelBlock;
  for (int p = 0; p < pooled_h; ++p) {
    for (int q = 0; q < pooled_w; ++q) {
      const acc_t* gb = g + (p * pooled_w + q) * B;
      for (int iy = 0; iy < s.grid_h; ++iy) {
        const auto& y = s.ys[p * s.grid_h + iy];
        if (!y.valid) {
          continue;
        }
        acc_t* row_lo = buf + static_cast<int64_t>(y.lo) * width * B;
        acc_t* row_hi = buf + static_cast<int64_t>(y.hi) * width * B;
        for (int ix = 0; ix < s.grid_w; ++ix) {
          const auto& x = s.xs[q * s.grid_w + ix];
          if (!x.valid) {
            continue;
          }
          const acc_t w1 = y.w_lo * x.w_lo, w2 = y.w_lo * x.w_hi, w3 = y.w_hi * x.w_lo, w4 = y.w_hi * x.w_hi;
          // The four corners may coincide (clamped at the border), so they are updated one after another.
          const auto gv = load_block(gb);
          acc_t* v1 = row_lo + x.lo * B;
          store_block(v1, load_block(v1) + w1 * gv);
          acc_t* v2 = row_lo + x.hi * B;
          store_block(v2, load_block(v2) + w2 * gv);
          acc_t* v3 = row_hi + x.lo * B;
          store_block(v3, load_block(v3) + w3 * gv);
          acc_t* v4 = row_hi + x.hi * B;
          store_block(v4, load_block(v4) + w4 * gv);
        }
      }
    }
  }
}

template <typename acc_t, typename scalar_t>
std::vector<RoISamples<acc_t>> all_roi_samples(
    const scalar_t* rois, int64_t num_rois, double spatial_scale, int pooled_h, int pooled_w, int sampling_ratio,
    bool aligned, int height, int width) {
  std::vector<RoISamples<acc_t>> samples(num_rois);
  at::parallel_for(0, num_rois, 16, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      compute_roi_samples<acc_t>(
          rois + k * 5, static_cast<acc_t>(spatial_scale), pooled_h, pooled_w, sampling_ratio, aligned, height,
          width, &samples[k]);
    }
  });
  return samples;
}

// Input strides of one channel and one pixel (NCHW or channels-last input, read without a layout copy).
struct ImageStrides {
  int64_t image, channel, pixel;
};

inline ImageStrides image_strides(const at::Tensor& input) {
  return {input.stride(0), input.stride(1), input.stride(3)};
}

template <typename scalar_t>
void forward_blocks(
    const scalar_t* input, ImageStrides st, const scalar_t* rois, const std::vector<int64_t>& batch,
    int64_t batch_size, int64_t channels, int height, int width, int pooled_h, int pooled_w, int sampling_ratio,
    bool aligned, double spatial_scale, scalar_t* output) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int B = kChannelBlock;
  const int64_t num_rois = static_cast<int64_t>(batch.size());
  const int64_t pixels = static_cast<int64_t>(height) * width;
  const int64_t bins = static_cast<int64_t>(pooled_h) * pooled_w;
  const auto samples = all_roi_samples<acc_t>(
      rois, num_rois, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned, height, width);
  const auto groups = rois_by_image(batch, batch_size);
  const int64_t num_blocks = (channels + B - 1) / B;
  at::parallel_for(0, num_blocks * batch_size, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buf(pixels * B);
    std::vector<acc_t> res(bins * B);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task % batch_size;
      const int64_t c0 = (task / batch_size) * B;
      const int count = static_cast<int>(std::min<int64_t>(B, channels - c0));
      if (groups[b].empty()) {
        continue;
      }
      load_channel_block(input + b * st.image, pixels, st.channel, st.pixel, c0, count, buf.data());
      for (const int64_t k : groups[b]) {
        align_roi_on_block<acc_t>(buf.data(), width, samples[k], pooled_h, pooled_w, res.data());
        scalar_t* out = output + (k * channels + c0) * bins;
        for (int i = 0; i < count; ++i) {
          for (int64_t bin = 0; bin < bins; ++bin) {
            out[i * bins + bin] = static_cast<scalar_t>(res[bin * B + i]);
          }
        }
      }
    }
  });
}

// Whether the channel-block path pays for reading the whole input once per block: the NCHW gather costs
// about one cache line per bilinear corner and channel.
template <typename scalar_t>
bool use_channel_blocks(
    const at::Tensor& input, const scalar_t* rois, int64_t num_rois, int pooled_h, int pooled_w, int sampling_ratio,
    bool aligned, double spatial_scale) {
  using acc_t = at::opmath_type<scalar_t>;
  if (!channel_block_fits(input.size(2), input.size(3), sizeof(acc_t))) {
    return false;
  }
  if (input.is_contiguous(at::MemoryFormat::ChannelsLast) && !input.is_contiguous()) {
    return true;
  }
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
  return 8.0 * samples >= pixels;
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
    if (use_channel_blocks<scalar_t>(input, rois_ptr, num_rois, ph, pw, sr, aligned, spatial_scale)) {
      const bool channels_last = input.is_contiguous(at::MemoryFormat::ChannelsLast) && !input.is_contiguous();
      auto input_c = channels_last ? input : input.contiguous();
      forward_blocks<scalar_t>(
          input_c.data_ptr<scalar_t>(), image_strides(input_c), rois_ptr, batch, input.size(0), channels, h, w, ph,
          pw, sr, aligned, spatial_scale, output.data_ptr<scalar_t>());
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

template <typename scalar_t>
void backward_blocks(
    const scalar_t* grad, const scalar_t* rois, const std::vector<int64_t>& batch, int64_t batch_size,
    int64_t channels, int height, int width, int pooled_h, int pooled_w, int sampling_ratio, bool aligned,
    double spatial_scale, scalar_t* grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int B = kChannelBlock;
  const int64_t num_rois = static_cast<int64_t>(batch.size());
  const int64_t pixels = static_cast<int64_t>(height) * width;
  const int64_t bins = static_cast<int64_t>(pooled_h) * pooled_w;
  const auto samples = all_roi_samples<acc_t>(
      rois, num_rois, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned, height, width);
  const auto groups = rois_by_image(batch, batch_size);
  const int64_t num_blocks = (channels + B - 1) / B;
  at::parallel_for(0, num_blocks * batch_size, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buf(pixels * B);
    std::vector<acc_t> g(bins * B);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task % batch_size;
      const int64_t c0 = (task / batch_size) * B;
      const int count = static_cast<int>(std::min<int64_t>(B, channels - c0));
      std::fill(buf.begin(), buf.end(), acc_t(0));
      for (const int64_t k : groups[b]) {
        const scalar_t* go = grad + (k * channels + c0) * bins;
        const acc_t inv_count = acc_t(1) / samples[k].box.count;
        std::fill(g.begin(), g.end(), acc_t(0));
        for (int i = 0; i < count; ++i) {
          for (int64_t bin = 0; bin < bins; ++bin) {
            g[bin * B + i] = static_cast<acc_t>(go[i * bins + bin]) * inv_count;
          }
        }
        align_roi_on_block_backward<acc_t>(buf.data(), width, samples[k], pooled_h, pooled_w, g.data());
      }
      store_channel_block(buf.data(), pixels, c0, count, grad_input + b * channels * pixels);
    }
  });
}

at::Tensor roi_align_backward_cpu(
    const at::Tensor& grad, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t batch_size, int64_t channels, int64_t height, int64_t width,
    int64_t sampling_ratio, bool aligned) {
  check_roi_op_backward_args(
      "roi_align backward", grad, rois, pooled_height, pooled_width, batch_size, channels, height, width);
  if (rois.size(0) == 0 || batch_size * channels * height * width == 0) {
    return at::zeros({batch_size, channels, height, width}, grad.options());
  }
  // The channel-block path writes every element of grad_input, so it needs no zero fill.
  const bool blocks = channel_block_fits(height, width, grad.scalar_type() == at::kDouble ? 8 : 4);
  auto grad_input = blocks ? at::empty({batch_size, channels, height, width}, grad.options())
                           : at::zeros({batch_size, channels, height, width}, grad.options());
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
    if (blocks) {
      backward_blocks<scalar_t>(
          grad_c.data_ptr<scalar_t>(), rois_ptr, batch, batch_size, channels, h, w, ph, pw, sr, aligned,
          spatial_scale, grad_input.data_ptr<scalar_t>());
    } else if constexpr (std::is_same_v<acc_t, scalar_t>) {
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
