// Float32 inner loops of the CPU kernels (and the MASKRCNN_CPU_CLONES marker the other kernels use),
// compiled for several instruction sets (AVX-512, AVX2, baseline SSE2) and picked at load time by the CPU's
// features (GCC target_clones), so one build is both portable and fast. Each loop is branch-free over its
// contiguous run so the compiler vectorises it.
#pragma once
#include <cstdint>

// Marks a function to be compiled per instruction set and dispatched at load time (GCC >= 12, x86-64 Linux;
// elsewhere a single baseline build). Only the marked function itself is cloned, not lambdas inside it.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && defined(__linux__)
#define MASKRCNN_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MASKRCNN_CPU_CLONES
#endif

namespace maskrcnn_benchmark {
namespace cpu {

// suppressed[j] |= IoU(box, j) > threshold for j in [begin, end), boxes as separate coordinate arrays.
void suppress_overlaps_f32(
    const float* x1, const float* y1, const float* x2, const float* y2, const float* area, int64_t begin,
    int64_t end, float bx1, float by1, float bx2, float by2, float barea, float threshold, int32_t* suppressed);

// Focal loss of n logits that are all negatives (target 0): out[j] = alpha_neg * p^gamma * -log(1 - p).
// gamma_int is 0, 1 or 2 (other gammas use the scalar path).
void focal_loss_negatives_f32(const float* x, float* out, int64_t n, float alpha_neg, int gamma_int);

// Its gradient times the incoming gradient: g_stride 0 reads one shared value g[0], 1 reads g[j].
void focal_loss_negatives_grad_f32(
    const float* x, const float* g, int64_t g_stride, float* out, int64_t n, float alpha_neg, int gamma_int);

}  // namespace cpu
}  // namespace maskrcnn_benchmark
