// CPU kernels of roi_pool (max pooling over rounded RoI bins, with argmax for the backward).
//
// Large workloads run on channel blocks (see channel_blocks.h): threads split (block, image) pairs and the
// running max/argmax of a bin is a vectorised select over 16 channels per pixel; the backward adds each
// gradient at its argmax inside the block buffer and writes grad_input once. Small workloads scan NCHW rows
// directly. The argmax is the flat h * W + w index in the channel plane either way, and ties keep the first
// maximum in row-major order, as torchvision does.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cfloat>
#include <limits>
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

// Bin boundaries of one RoI: rows [hs[p], he[p]) and columns [ws[q], we[q]).
struct PoolBins {
  std::vector<int> hs, he, ws, we;
};

template <typename acc_t, typename scalar_t>
void compute_pool_bins(
    const scalar_t* roi, acc_t spatial_scale, int pooled_h, int pooled_w, int height, int width, PoolBins* b) {
  acc_t r[5];
  for (int i = 0; i < 5; ++i) {
    r[i] = static_cast<acc_t>(roi[i]);
  }
  const auto box = roi_pool_box<acc_t>(r, spatial_scale);
  b->hs.resize(pooled_h);
  b->he.resize(pooled_h);
  b->ws.resize(pooled_w);
  b->we.resize(pooled_w);
  for (int p = 0; p < pooled_h; ++p) {
    roi_pool_bin_range<acc_t>(box.start_h, box.height, pooled_h, p, height, &b->hs[p], &b->he[p]);
  }
  for (int q = 0; q < pooled_w; ++q) {
    roi_pool_bin_range<acc_t>(box.start_w, box.width, pooled_w, q, width, &b->ws[q], &b->we[q]);
  }
}

// The running maximum starts at -FLT_MAX like torchvision's, so a bin holding only -inf pools to -FLT_MAX
// with argmax -1; an empty bin pools to 0.
template <typename acc_t>
constexpr acc_t pool_init() {
  return static_cast<acc_t>(-FLT_MAX);
}

template <typename scalar_t>
void forward_nchw(
    const scalar_t* input, const scalar_t* rois, const std::vector<int64_t>& batch, int64_t num_rois,
    int64_t channels, int height, int width, int pooled_h, int pooled_w, double spatial_scale, scalar_t* output,
    int32_t* argmax) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t plane = static_cast<int64_t>(height) * width;
  const int64_t bins = static_cast<int64_t>(pooled_h) * pooled_w;
  at::parallel_for(0, num_rois, 1, [&](int64_t begin, int64_t end) {
    PoolBins b;
    for (int64_t k = begin; k < end; ++k) {
      compute_pool_bins<acc_t>(rois + k * 5, static_cast<acc_t>(spatial_scale), pooled_h, pooled_w, height, width, &b);
      for (int64_t c = 0; c < channels; ++c) {
        const scalar_t* in = input + (batch[k] * channels + c) * plane;
        scalar_t* out = output + (k * channels + c) * bins;
        int32_t* arg = argmax + (k * channels + c) * bins;
        for (int p = 0; p < pooled_h; ++p) {
          for (int q = 0; q < pooled_w; ++q) {
            const bool empty = b.he[p] <= b.hs[p] || b.we[q] <= b.ws[q];
            acc_t best = empty ? acc_t(0) : pool_init<acc_t>();
            int32_t best_idx = -1;
            for (int h = b.hs[p]; h < b.he[p]; ++h) {
              const scalar_t* row = in + static_cast<int64_t>(h) * width;
              for (int w = b.ws[q]; w < b.we[q]; ++w) {
                const acc_t v = static_cast<acc_t>(row[w]);
                if (v > best) {
                  best = v;
                  best_idx = h * width + w;
                }
              }
            }
            out[p * pooled_w + q] = static_cast<scalar_t>(best);
            arg[p * pooled_w + q] = best_idx;
          }
        }
      }
    }
  });
}

// One RoI on one channel block: max and argmax of every bin, res_*[bin * kChannelBlock + i].
template <typename acc_t>
MASKRCNN_CPU_CLONES void pool_roi_on_block(
    const acc_t* __restrict buf, int width, const PoolBins& b, int pooled_h, int pooled_w, acc_t* __restrict res_val,
    int32_t* __restrict res_idx) {
  constexpr int B = kChannelBlock;
  for (int p = 0; p < pooled_h; ++p) {
    for (int q = 0; q < pooled_w; ++q) {
      const bool empty = b.he[p] <= b.hs[p] || b.we[q] <= b.ws[q];
      using Vec = typename BlockVector<acc_t>::type;
      using Mask = typename BlockVector<acc_t>::mask;
      Vec best = Vec{} + (empty ? acc_t(0) : pool_init<acc_t>());
      Mask best_idx = Mask{} - 1;
      for (int h = b.hs[p]; h < b.he[p]; ++h) {
        for (int w = b.ws[q]; w < b.we[q]; ++w) {
          const int32_t idx = h * width + w;
          const Vec v = load_block(buf + static_cast<int64_t>(idx) * B);
          const Mask greater = v > best;
          best = greater ? v : best;
          best_idx = greater ? (Mask{} + idx) : best_idx;
        }
      }
      const int bin = p * pooled_w + q;
      store_block(res_val + bin * B, best);
      for (int i = 0; i < B; ++i) {
        res_idx[bin * B + i] = static_cast<int32_t>(best_idx[i]);
      }
    }
  }
}

template <typename scalar_t>
void forward_blocks(
    const scalar_t* input, int64_t stride_image, int64_t stride_c, int64_t stride_p, const scalar_t* rois,
    const std::vector<int64_t>& batch, int64_t batch_size, int64_t channels, int height, int width, int pooled_h,
    int pooled_w, double spatial_scale, scalar_t* output, int32_t* argmax) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int B = kChannelBlock;
  const int64_t num_rois = static_cast<int64_t>(batch.size());
  const int64_t pixels = static_cast<int64_t>(height) * width;
  const int64_t bins = static_cast<int64_t>(pooled_h) * pooled_w;
  std::vector<PoolBins> roi_bins(num_rois);
  for (int64_t k = 0; k < num_rois; ++k) {
    compute_pool_bins<acc_t>(rois + k * 5, static_cast<acc_t>(spatial_scale), pooled_h, pooled_w, height, width,
                             &roi_bins[k]);
  }
  const auto groups = rois_by_image(batch, batch_size);
  const int64_t num_blocks = (channels + B - 1) / B;
  at::parallel_for(0, num_blocks * batch_size, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buf(pixels * B);
    std::vector<acc_t> res_val(bins * B);
    std::vector<int32_t> res_idx(bins * B);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task % batch_size;
      const int64_t c0 = (task / batch_size) * B;
      const int count = static_cast<int>(std::min<int64_t>(B, channels - c0));
      if (groups[b].empty()) {
        continue;
      }
      load_channel_block(input + b * stride_image, pixels, stride_c, stride_p, c0, count, buf.data());
      for (const int64_t k : groups[b]) {
        pool_roi_on_block<acc_t>(buf.data(), width, roi_bins[k], pooled_h, pooled_w, res_val.data(), res_idx.data());
        scalar_t* out = output + (k * channels + c0) * bins;
        int32_t* arg = argmax + (k * channels + c0) * bins;
        for (int i = 0; i < count; ++i) {
          for (int64_t bin = 0; bin < bins; ++bin) {
            out[i * bins + bin] = static_cast<scalar_t>(res_val[bin * B + i]);
            arg[i * bins + bin] = res_idx[bin * B + i];
          }
        }
      }
    }
  });
}

// Channel blocks pay for reading the whole input once per block when the RoIs cover a good part of the map.
template <typename scalar_t>
bool use_channel_blocks(const at::Tensor& input, const scalar_t* rois, int64_t num_rois, double spatial_scale) {
  using acc_t = at::opmath_type<scalar_t>;
  if (!channel_block_fits(input.size(2), input.size(3), sizeof(acc_t))) {
    return false;
  }
  if (input.is_contiguous(at::MemoryFormat::ChannelsLast) && !input.is_contiguous()) {
    return true;
  }
  const double height = static_cast<double>(input.size(2));
  const double width = static_cast<double>(input.size(3));
  double area = 0;
  for (int64_t k = 0; k < num_rois; ++k) {
    acc_t r[5];
    for (int i = 0; i < 5; ++i) {
      r[i] = static_cast<acc_t>(rois[k * 5 + i]);
    }
    const auto box = roi_pool_box<acc_t>(r, static_cast<acc_t>(spatial_scale));
    area += std::min<double>(box.height, height) * std::min<double>(box.width, width);
  }
  return 4.0 * area >= static_cast<double>(input.size(0)) * height * width;
}

std::tuple<at::Tensor, at::Tensor> roi_pool_forward_cpu(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  check_roi_op_args("roi_pool", input, rois, spatial_scale, pooled_height, pooled_width);
  TORCH_CHECK(
      input.size(2) * input.size(3) < std::numeric_limits<int32_t>::max(),
      "roi_pool: the feature map is too large (H * W must fit in int32), got shape ", input.sizes());
  const int64_t num_rois = rois.size(0);
  const int64_t channels = input.size(1);
  auto output = at::zeros({num_rois, channels, pooled_height, pooled_width}, input.options());
  auto argmax = at::full({num_rois, channels, pooled_height, pooled_width}, -1, input.options().dtype(at::kInt));
  if (num_rois == 0 || output.numel() == 0) {
    return std::make_tuple(output, argmax);
  }
  TORCH_CHECK(input.numel() > 0, "roi_pool: input must not be empty when there are RoIs, got shape ", input.sizes());
  auto rois_c = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_pool_forward_cpu", [&] {
    const scalar_t* rois_ptr = rois_c.data_ptr<scalar_t>();
    const auto batch = roi_batch_indices("roi_pool", rois_ptr, num_rois, input.size(0));
    const int h = static_cast<int>(input.size(2));
    const int w = static_cast<int>(input.size(3));
    const int ph = static_cast<int>(pooled_height);
    const int pw = static_cast<int>(pooled_width);
    if (use_channel_blocks<scalar_t>(input, rois_ptr, num_rois, spatial_scale)) {
      const bool channels_last = input.is_contiguous(at::MemoryFormat::ChannelsLast) && !input.is_contiguous();
      auto input_c = channels_last ? input : input.contiguous();
      forward_blocks<scalar_t>(
          input_c.data_ptr<scalar_t>(), input_c.stride(0), input_c.stride(1), input_c.stride(3), rois_ptr, batch,
          input.size(0), channels, h, w, ph, pw, spatial_scale, output.data_ptr<scalar_t>(),
          argmax.data_ptr<int32_t>());
    } else {
      auto input_c = input.contiguous();
      forward_nchw<scalar_t>(
          input_c.data_ptr<scalar_t>(), rois_ptr, batch, num_rois, channels, h, w, ph, pw, spatial_scale,
          output.data_ptr<scalar_t>(), argmax.data_ptr<int32_t>());
    }
  });
  return std::make_tuple(output, argmax);
}

template <typename scalar_t, typename grad_t>
void backward_by_channel(
    const scalar_t* grad, const int32_t* argmax, const std::vector<int64_t>& batch, int64_t num_rois,
    int64_t channels, int64_t plane, int64_t bins, grad_t* grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  at::parallel_for(0, channels, 1, [&](int64_t c_begin, int64_t c_end) {
    for (int64_t c = c_begin; c < c_end; ++c) {
      for (int64_t k = 0; k < num_rois; ++k) {
        grad_t* gin = grad_input + (batch[k] * channels + c) * plane;
        const scalar_t* g = grad + (k * channels + c) * bins;
        const int32_t* arg = argmax + (k * channels + c) * bins;
        for (int64_t i = 0; i < bins; ++i) {
          if (arg[i] >= 0) {
            gin[arg[i]] += static_cast<acc_t>(g[i]);
          }
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_blocks(
    const scalar_t* grad, const int32_t* argmax, const std::vector<int64_t>& batch, int64_t batch_size,
    int64_t channels, int64_t pixels, int64_t bins, scalar_t* grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int B = kChannelBlock;
  const auto groups = rois_by_image(batch, batch_size);
  const int64_t num_blocks = (channels + B - 1) / B;
  at::parallel_for(0, num_blocks * batch_size, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buf(pixels * B);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task % batch_size;
      const int64_t c0 = (task / batch_size) * B;
      const int count = static_cast<int>(std::min<int64_t>(B, channels - c0));
      std::fill(buf.begin(), buf.end(), acc_t(0));
      for (const int64_t k : groups[b]) {
        for (int i = 0; i < count; ++i) {
          const scalar_t* g = grad + (k * channels + c0 + i) * bins;
          const int32_t* arg = argmax + (k * channels + c0 + i) * bins;
          for (int64_t bin = 0; bin < bins; ++bin) {
            if (arg[bin] >= 0) {
              buf[static_cast<int64_t>(arg[bin]) * B + i] += static_cast<acc_t>(g[bin]);
            }
          }
        }
      }
      store_channel_block(buf.data(), pixels, c0, count, grad_input + b * channels * pixels);
    }
  });
}

at::Tensor roi_pool_backward_cpu(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax, double spatial_scale,
    int64_t pooled_height, int64_t pooled_width, int64_t batch_size, int64_t channels, int64_t height,
    int64_t width) {
  check_roi_op_backward_args(
      "roi_pool backward", grad, rois, pooled_height, pooled_width, batch_size, channels, height, width);
  check_roi_pool_argmax(grad, argmax);
  if (rois.size(0) == 0 || batch_size * channels * height * width == 0) {
    return at::zeros({batch_size, channels, height, width}, grad.options());
  }
  // The channel-block path writes every element of grad_input, so it needs no zero fill.
  const bool blocks = channel_block_fits(height, width, grad.scalar_type() == at::kDouble ? 8 : 4);
  auto grad_input = blocks ? at::empty({batch_size, channels, height, width}, grad.options())
                           : at::zeros({batch_size, channels, height, width}, grad.options());
  auto grad_c = grad.contiguous();
  auto rois_c = rois.contiguous();
  auto argmax_c = argmax.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "roi_pool_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto batch = roi_batch_indices("roi_pool backward", rois_c.data_ptr<scalar_t>(), rois.size(0), batch_size);
    const int64_t plane = height * width;
    const int64_t bins = pooled_height * pooled_width;
    if (blocks) {
      backward_blocks<scalar_t>(
          grad_c.data_ptr<scalar_t>(), argmax_c.data_ptr<int32_t>(), batch, batch_size, channels, plane, bins,
          grad_input.data_ptr<scalar_t>());
    } else if constexpr (std::is_same_v<acc_t, scalar_t>) {
      backward_by_channel<scalar_t, scalar_t>(
          grad_c.data_ptr<scalar_t>(), argmax_c.data_ptr<int32_t>(), batch, rois.size(0), channels, plane, bins,
          grad_input.data_ptr<scalar_t>());
    } else {
      auto grad_acc = at::zeros({batch_size, channels, height, width}, grad.options().dtype(at::kFloat));
      backward_by_channel<scalar_t, acc_t>(
          grad_c.data_ptr<scalar_t>(), argmax_c.data_ptr<int32_t>(), batch, rois.size(0), channels, plane, bins,
          grad_acc.data_ptr<acc_t>());
      grad_input.copy_(grad_acc);
    }
  });
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CPU, m) {
  m.impl("roi_pool", TORCH_FN(roi_pool_forward_cpu));
  m.impl("_roi_pool_backward", TORCH_FN(roi_pool_backward_cpu));
}

}  // namespace cpu
}  // namespace maskrcnn_benchmark
