// Per-element sigmoid focal loss and its derivative, shared by the CPU and CUDA kernels.
//
// With p = sigmoid(x), a positive element (target 1) has loss alpha * (1 - p)^gamma * -log(p) and a negative
// one (1 - alpha) * p^gamma * -log(1 - p); alpha < 0 disables the weighting (torchvision semantics). Both
// logs are softplus values computed from e = exp(-|x|), which stays accurate for large |x|:
//   -log(p) = log1p(e) + max(-x, 0),   -log(1 - p) = log1p(e) + max(x, 0).
// Derivatives (q = 1 - p for a positive, q = p for a negative; ce the matching -log):
//   positive: -alpha_pos * q^gamma * (gamma * p * ce + q)
//   negative:  alpha_neg * q^gamma * (gamma * (1 - p) * ce + p)
#pragma once
#include <c10/macros/Macros.h>
#include <math.h>

namespace maskrcnn_benchmark {

// Precision-matched math: float arguments use the float functions (on host and device alike).
C10_HOST_DEVICE inline float fl_exp(float x) { return expf(x); }
C10_HOST_DEVICE inline double fl_exp(double x) { return exp(x); }
C10_HOST_DEVICE inline float fl_log1p(float x) { return log1pf(x); }
C10_HOST_DEVICE inline double fl_log1p(double x) { return log1p(x); }
C10_HOST_DEVICE inline float fl_pow(float x, float y) { return powf(x, y); }
C10_HOST_DEVICE inline double fl_pow(double x, double y) { return pow(x, y); }
C10_HOST_DEVICE inline float fl_abs(float x) { return fabsf(x); }
C10_HOST_DEVICE inline double fl_abs(double x) { return fabs(x); }

template <typename T>
struct FocalLossParams {
  T gamma;
  T alpha_pos;  // weight of positives: alpha, or 1 when alpha < 0
  T alpha_neg;  // weight of negatives: 1 - alpha, or 1 when alpha < 0
  int gamma_int;  // gamma when it is 0, 1 or 2 (common cases without pow), else -1

  C10_HOST_DEVICE static FocalLossParams make(double gamma, double alpha) {
    FocalLossParams p;
    p.gamma = static_cast<T>(gamma);
    p.alpha_pos = alpha >= 0 ? static_cast<T>(alpha) : T(1);
    p.alpha_neg = alpha >= 0 ? static_cast<T>(1.0 - alpha) : T(1);
    p.gamma_int = (gamma == 0.0 || gamma == 1.0 || gamma == 2.0) ? static_cast<int>(gamma) : -1;
    return p;
  }

  C10_HOST_DEVICE T modulator(T q) const {
    switch (gamma_int) {
      case 0:
        return T(1);
      case 1:
        return q;
      case 2:
        return q * q;
      default:
        return fl_pow(q, gamma);
    }
  }
};

// Shared intermediate values of one element.
template <typename T>
struct FocalTerms {
  T p;  // sigmoid(x)
  T q;  // 1 - p for a positive, p for a negative
  T ce;  // -log(p) for a positive, -log(1 - p) for a negative
};

template <typename T>
C10_HOST_DEVICE inline FocalTerms<T> focal_terms(T x, bool positive) {
  const T e = fl_exp(-fl_abs(x));
  const T log1p_e = fl_log1p(e);
  const T inv = T(1) / (T(1) + e);  // sigmoid(|x|)
  const T p = x >= T(0) ? inv : e * inv;
  const T one_minus_p = x >= T(0) ? e * inv : inv;
  FocalTerms<T> t;
  t.p = p;
  if (positive) {
    t.q = one_minus_p;
    t.ce = log1p_e + (x < T(0) ? -x : T(0));
  } else {
    t.q = p;
    t.ce = log1p_e + (x > T(0) ? x : T(0));
  }
  return t;
}

template <typename T>
C10_HOST_DEVICE inline T focal_loss_value(T x, bool positive, const FocalLossParams<T>& prm) {
  const FocalTerms<T> t = focal_terms(x, positive);
  return (positive ? prm.alpha_pos : prm.alpha_neg) * prm.modulator(t.q) * t.ce;
}

template <typename T>
C10_HOST_DEVICE inline T focal_loss_grad(T x, bool positive, const FocalLossParams<T>& prm) {
  const FocalTerms<T> t = focal_terms(x, positive);
  const T mod = prm.modulator(t.q);
  if (positive) {
    return -prm.alpha_pos * mod * (prm.gamma * t.p * t.ce + t.q);
  }
  return prm.alpha_neg * mod * (prm.gamma * (T(1) - t.p) * t.ce + t.p);
}

}  // namespace maskrcnn_benchmark
