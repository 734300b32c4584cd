// CPU kernels of sigmoid_focal_loss: one fused pass per direction (torchvision's version is a chain of ~10
// elementwise ops and their autograd), threads split the rows. Labels: 0 = background, k in 1..C marks
// column k-1 positive, -1 = ignored row (loss 0, gradient 0).
//
// float32 rows with gamma 0, 1 or 2 take a vectorised pass that treats every column as a negative and then
// fix up the one positive column; other dtypes and gammas use the scalar formula per element.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>

#include "checks.h"
#include "cpu/vectorized.h"
#include "focal_loss_math.h"

namespace maskrcnn_benchmark {
namespace cpu {
namespace {

// Rows per parallel chunk: about 32k elements, enough to amortise the thread hand-off.
int64_t row_grain(int64_t num_classes) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(num_classes, 1));
}

at::Tensor checked_labels(const char* op, const at::Tensor& labels, int64_t num_classes) {
  auto labels_l = labels.to(at::kLong).contiguous();
  const int64_t* lab = labels_l.data_ptr<int64_t>();
  for (int64_t n = 0; n < labels_l.numel(); ++n) {
    TORCH_CHECK(
        lab[n] >= -1 && lab[n] <= num_classes,
        op, ": labels must be -1 (ignore), 0 (background) or 1..", num_classes, " (number of columns of logits), ",
        "got labels[", n, "] = ", lab[n]);
  }
  return labels_l;
}

// Loss of one row whose positive column is `positive` (-1: none).
template <typename scalar_t>
void loss_row(const scalar_t* x, int64_t cols, int64_t positive, const FocalLossParams<at::opmath_type<scalar_t>>& prm,
              scalar_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (prm.gamma_int >= 0) {
      focal_loss_negatives_f32(x, out, cols, prm.alpha_neg, prm.gamma_int);
      if (positive >= 0) {
        out[positive] = focal_loss_value<float>(x[positive], true, prm);
      }
      return;
    }
  }
  for (int64_t j = 0; j < cols; ++j) {
    out[j] = static_cast<scalar_t>(focal_loss_value<acc_t>(static_cast<acc_t>(x[j]), j == positive, prm));
  }
}

// Gradient of one row times the incoming gradient g (g_stride 0: one shared value).
template <typename scalar_t>
void grad_row(const scalar_t* x, const scalar_t* g, int64_t g_stride, int64_t cols, int64_t positive,
              const FocalLossParams<at::opmath_type<scalar_t>>& prm, scalar_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (prm.gamma_int >= 0) {
      focal_loss_negatives_grad_f32(x, g, g_stride, out, cols, prm.alpha_neg, prm.gamma_int);
      if (positive >= 0) {
        out[positive] = g[positive * g_stride] * focal_loss_grad<float>(x[positive], true, prm);
      }
      return;
    }
  }
  for (int64_t j = 0; j < cols; ++j) {
    out[j] = static_cast<scalar_t>(
        static_cast<acc_t>(g[j * g_stride]) * focal_loss_grad<acc_t>(static_cast<acc_t>(x[j]), j == positive, prm));
  }
}

at::Tensor sigmoid_focal_loss_forward_cpu(const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  check_focal_loss_args("sigmoid_focal_loss", logits, labels, gamma);
  const int64_t rows = logits.size(0);
  const int64_t cols = logits.size(1);
  auto loss = at::empty({rows, cols}, logits.options());
  if (loss.numel() == 0) {
    return loss;
  }
  auto labels_l = checked_labels("sigmoid_focal_loss", labels, cols);
  auto logits_c = logits.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "sigmoid_focal_loss_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto prm = FocalLossParams<acc_t>::make(gamma, alpha);
    const scalar_t* x = logits_c.data_ptr<scalar_t>();
    const int64_t* lab = labels_l.data_ptr<int64_t>();
    scalar_t* out = loss.data_ptr<scalar_t>();
    at::parallel_for(0, rows, row_grain(cols), [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        if (lab[n] < 0) {
          std::fill(out + n * cols, out + (n + 1) * cols, scalar_t(0));
        } else {
          loss_row<scalar_t>(x + n * cols, cols, lab[n] - 1, prm, out + n * cols);
        }
      }
    });
  });
  return loss;
}

at::Tensor sigmoid_focal_loss_backward_cpu(
    const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels, double gamma, double alpha) {
  check_focal_loss_args("sigmoid_focal_loss backward", logits, labels, gamma);
  check_focal_loss_grad(grad, logits);
  const int64_t rows = logits.size(0);
  const int64_t cols = logits.size(1);
  auto grad_logits = at::empty({rows, cols}, logits.options());
  if (grad_logits.numel() == 0) {
    return grad_logits;
  }
  auto labels_l = checked_labels("sigmoid_focal_loss backward", labels, cols);
  auto logits_c = logits.contiguous();
  // The gradient of loss.sum() arrives as one value expanded to [N, C]; read it without materialising.
  const bool scalar_grad = grad.stride(0) == 0 && grad.stride(1) == 0;
  auto grad_c = scalar_grad ? grad : grad.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "sigmoid_focal_loss_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto prm = FocalLossParams<acc_t>::make(gamma, alpha);
    const scalar_t* x = logits_c.data_ptr<scalar_t>();
    const scalar_t* g = grad_c.data_ptr<scalar_t>();
    const int64_t* lab = labels_l.data_ptr<int64_t>();
    scalar_t* out = grad_logits.data_ptr<scalar_t>();
    at::parallel_for(0, rows, row_grain(cols), [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        if (lab[n] < 0) {
          std::fill(out + n * cols, out + (n + 1) * cols, scalar_t(0));
        } else {
          grad_row<scalar_t>(
              x + n * cols, scalar_grad ? g : g + n * cols, scalar_grad ? 0 : 1, cols, lab[n] - 1, prm, out + n * cols);
        }
      }
    });
  });
  return grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CPU, m) {
  m.impl("sigmoid_focal_loss", TORCH_FN(sigmoid_focal_loss_forward_cpu));
  m.impl("_sigmoid_focal_loss_backward", TORCH_FN(sigmoid_focal_loss_backward_cpu));
}

}  // namespace cpu
}  // namespace maskrcnn_benchmark
