// CPU kernels of nms and batched_nms (greedy non-maximum suppression, torchvision semantics).
//
// Boxes are visited in decreasing score order (stable sort, so equal scores keep their input order). The
// sorted boxes are gathered into separate x1/y1/x2/y2/area arrays, so the loop that compares one kept box
// against all later boxes is branch-free and vectorises; a box is suppressed when IoU > iou_threshold.
// The IoU is computed with the same float operations as torchvision, so the kept set is bit-identical.
//
// batched_nms runs the greedy pass independently per idx value: boxes are grouped by idx (keeping score
// order inside each group), groups run in parallel, and the kept boxes are returned in global score order.
// This is exact, unlike the coordinate-offset trick, whose shifted coordinates round differently.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "checks.h"
#include "cpu/vectorized.h"

namespace maskrcnn_benchmark {
namespace cpu {
namespace {

// For a float IoU f, `f > threshold` (threshold a double) equals `f > t` with t the largest value of type
// T not above threshold. Comparing in T keeps the inner loop in one vector width.
template <typename T>
T comparable_threshold(double threshold) {
  T t = static_cast<T>(threshold);
  if (static_cast<double>(t) > threshold) {
    t = std::nextafter(t, -std::numeric_limits<T>::infinity());
  }
  return t;
}

// Boxes of one NMS problem in score order, one array per coordinate.
template <typename T>
struct SortedBoxes {
  std::vector<T> x1, y1, x2, y2, area;

  void resize(size_t n) {
    x1.resize(n);
    y1.resize(n);
    x2.resize(n);
    y2.resize(n);
    area.resize(n);
  }
};

// Gathers boxes[order[i]] into the arrays (in the compute type T) and computes their areas.
template <typename scalar_t, typename T>
void gather_boxes(const scalar_t* boxes, const int64_t* order, int64_t n, SortedBoxes<T>* s) {
  s->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t* b = boxes + order[i] * 4;
    s->x1[i] = static_cast<T>(b[0]);
    s->y1[i] = static_cast<T>(b[1]);
    s->x2[i] = static_cast<T>(b[2]);
    s->y2[i] = static_cast<T>(b[3]);
    s->area[i] = (s->x2[i] - s->x1[i]) * (s->y2[i] - s->y1[i]);
  }
}

// Marks suppressed[j] for every j in (i, n) whose IoU with box i exceeds the threshold.
template <typename T>
inline void suppress_overlaps(const SortedBoxes<T>& s, int64_t i, int64_t n, T threshold, int32_t* suppressed) {
  const T ix1 = s.x1[i], iy1 = s.y1[i], ix2 = s.x2[i], iy2 = s.y2[i], iarea = s.area[i];
  if constexpr (std::is_same_v<T, float>) {
    suppress_overlaps_f32(
        s.x1.data(), s.y1.data(), s.x2.data(), s.y2.data(), s.area.data(), i + 1, n, ix1, iy1, ix2, iy2, iarea,
        threshold, suppressed);
    return;
  }
  const T* __restrict x1 = s.x1.data();
  const T* __restrict y1 = s.y1.data();
  const T* __restrict x2 = s.x2.data();
  const T* __restrict y2 = s.y2.data();
  const T* __restrict area = s.area.data();
  int32_t* __restrict sup = suppressed;
  for (int64_t j = i + 1; j < n; ++j) {
    const T xx1 = ix1 < x1[j] ? x1[j] : ix1;
    const T yy1 = iy1 < y1[j] ? y1[j] : iy1;
    const T xx2 = x2[j] < ix2 ? x2[j] : ix2;
    const T yy2 = y2[j] < iy2 ? y2[j] : iy2;
    const T w = T(0) < xx2 - xx1 ? xx2 - xx1 : T(0);
    const T h = T(0) < yy2 - yy1 ? yy2 - yy1 : T(0);
    const T inter = w * h;
    const T iou = inter / (iarea + area[j] - inter);
    sup[j] |= static_cast<int32_t>(iou > threshold);
  }
}

// Greedy NMS over boxes already in score order; sets keep[i] = 1 for the survivors.
template <typename T>
void greedy_nms(const SortedBoxes<T>& s, int64_t n, T threshold, std::vector<int32_t>* suppressed, uint8_t* keep) {
  suppressed->assign(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    if ((*suppressed)[i]) {
      continue;
    }
    keep[i] = 1;
    suppress_overlaps(s, i, n, threshold, suppressed->data());
  }
}

at::Tensor sort_by_score(const at::Tensor& scores) {
  return std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
}

at::Tensor kept_indices(const at::Tensor& order, const std::vector<uint8_t>& keep) {
  const int64_t* ord = order.data_ptr<int64_t>();
  const int64_t num_kept = std::accumulate(keep.begin(), keep.end(), int64_t(0));
  auto result = at::empty({num_kept}, order.options());
  int64_t* out = result.data_ptr<int64_t>();
  int64_t m = 0;
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i]) {
      out[m++] = ord[i];
    }
  }
  return result;
}

at::Tensor nms_cpu(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  check_nms_args("nms", boxes, scores);
  const int64_t n = boxes.size(0);
  if (n == 0) {
    return at::empty({0}, boxes.options().dtype(at::kLong));
  }
  auto boxes_c = boxes.contiguous();
  auto order = sort_by_score(scores);
  std::vector<uint8_t> keep(n, 0);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, boxes.scalar_type(), "nms_cpu", [&] {
    using T = at::opmath_type<scalar_t>;
    SortedBoxes<T> s;
    gather_boxes<scalar_t, T>(boxes_c.data_ptr<scalar_t>(), order.data_ptr<int64_t>(), n, &s);
    std::vector<int32_t> suppressed;
    greedy_nms<T>(s, n, comparable_threshold<T>(iou_threshold), &suppressed, keep.data());
  });
  return kept_indices(order, keep);
}

at::Tensor batched_nms_cpu(
    const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double iou_threshold) {
  check_nms_args("batched_nms", boxes, scores);
  check_batched_nms_idxs(boxes, idxs);
  const int64_t n = boxes.size(0);
  if (n == 0) {
    return at::empty({0}, boxes.options().dtype(at::kLong));
  }
  auto boxes_c = boxes.contiguous();
  auto order = sort_by_score(scores);
  const int64_t* ord = order.data_ptr<int64_t>();
  auto idxs_l = idxs.to(at::kLong).contiguous();
  const int64_t* idx = idxs_l.data_ptr<int64_t>();

  // Positions (in score order) grouped by idx value; stable, so each group stays in score order.
  std::vector<int64_t> pos(n);
  std::iota(pos.begin(), pos.end(), int64_t(0));
  std::stable_sort(pos.begin(), pos.end(), [&](int64_t a, int64_t b) { return idx[ord[a]] < idx[ord[b]]; });
  std::vector<int64_t> group_start{0};
  for (int64_t i = 1; i < n; ++i) {
    if (idx[ord[pos[i]]] != idx[ord[pos[i - 1]]]) {
      group_start.push_back(i);
    }
  }
  group_start.push_back(n);
  const int64_t num_groups = static_cast<int64_t>(group_start.size()) - 1;

  std::vector<uint8_t> keep(n, 0);  // indexed by score-order position
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, boxes.scalar_type(), "batched_nms_cpu", [&] {
    using T = at::opmath_type<scalar_t>;
    const scalar_t* box_ptr = boxes_c.data_ptr<scalar_t>();
    const T threshold = comparable_threshold<T>(iou_threshold);
    at::parallel_for(0, num_groups, 1, [&](int64_t g_begin, int64_t g_end) {
      SortedBoxes<T> s;
      std::vector<int32_t> suppressed;
      std::vector<int64_t> group_order;
      std::vector<uint8_t> group_keep;
      for (int64_t g = g_begin; g < g_end; ++g) {
        const int64_t start = group_start[g];
        const int64_t m = group_start[g + 1] - start;
        group_order.resize(m);
        for (int64_t i = 0; i < m; ++i) {
          group_order[i] = ord[pos[start + i]];
        }
        gather_boxes<scalar_t, T>(box_ptr, group_order.data(), m, &s);
        group_keep.assign(m, 0);
        greedy_nms<T>(s, m, threshold, &suppressed, group_keep.data());
        for (int64_t i = 0; i < m; ++i) {
          keep[pos[start + i]] = group_keep[i];  // distinct positions per group: no race
        }
      }
    });
  });
  return kept_indices(order, keep);
}

}  // namespace

TORCH_LIBRARY_IMPL(maskrcnn_benchmark, CPU, m) {
  m.impl("nms", TORCH_FN(nms_cpu));
  m.impl("batched_nms", TORCH_FN(batched_nms_cpu));
}

}  // namespace cpu
}  // namespace maskrcnn_benchmark
