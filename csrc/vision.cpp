// Operator schemas of the maskrcnn_benchmark library and the Python module that loads them.
//
// Kernels live next to this file: cpu/*.cpp and cuda/*.cu (backend kernels), autograd.cpp and
// autocast.cpp (the Autograd / AutocastCPU / AutocastCUDA keys). Fake (meta) kernels for torch.compile are
// registered from Python in maskrcnn_benchmark/layers/_ops.py.
#include <Python.h>
#include <torch/library.h>

// `import maskrcnn_benchmark._C` only has to load this shared object: the static TORCH_LIBRARY
// initialisers below register the ops with the dispatcher. The ops are called as
// torch.ops.maskrcnn_benchmark.<name>.
static struct PyModuleDef maskrcnn_benchmark_c_module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};

PyMODINIT_FUNC PyInit__C(void) {
  return PyModule_Create(&maskrcnn_benchmark_c_module);
}

TORCH_LIBRARY(maskrcnn_benchmark, m) {
  // Fake kernels (shapes only, for torch.compile) are registered by this Python module.
  m.set_python_module("maskrcnn_benchmark.layers._ops");
  // rois: [K, 5] rows of (batch_index, x1, y1, x2, y2) in input-image coordinates.
  m.def(
      "roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, int pooled_width, "
      "int sampling_ratio, bool aligned) -> Tensor");
  m.def(
      "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
      "int sampling_ratio, bool aligned) -> Tensor");
  // Returns (output, argmax); argmax is the flat h * W + w index of the maximum in its channel plane
  // (-1 for an empty bin) and feeds the backward.
  m.def(
      "roi_pool(Tensor input, Tensor rois, float spatial_scale, int pooled_height, int pooled_width) "
      "-> (Tensor, Tensor)");
  m.def(
      "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, int pooled_height, "
      "int pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor");
  m.def("nms(Tensor boxes, Tensor scores, float iou_threshold) -> Tensor");
  m.def("batched_nms(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor");
  // labels: 0 = background, k in 1..C = column k-1, -1 = ignored row.
  m.def("sigmoid_focal_loss(Tensor logits, Tensor labels, float gamma, float alpha) -> Tensor");
  m.def(
      "_sigmoid_focal_loss_backward(Tensor grad, Tensor logits, Tensor labels, float gamma, float alpha) "
      "-> Tensor");
}
