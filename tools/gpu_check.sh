#!/usr/bin/env bash
# Checks for a machine with an NVIDIA GPU (no network needed): builds maskrcnn_benchmark._C with its CUDA
# kernels in place, runs the ops tests (CPU and CUDA) and the CUDA ops benchmark.
#
#   bash tools/gpu_check.sh            # logs go to $OUT (if set) or /tmp/gpu_check
#
# Wheels of extra pure-Python dependencies may be put in .whl/ at the repository root; they are installed
# offline into /tmp/site. The ops part needs only torch, torchvision, pytest and ninja (optional).
# Later sections (detector, DetNAS) are appended below the ops sections.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_DIR="${OUT:-/tmp/gpu_check}"
mkdir -p "$LOG_DIR"
START=$(date +%s)

section() {
  echo
  echo "=================================================================="
  echo "== $*   (t = $(( $(date +%s) - START )) s)"
  echo "=================================================================="
}

section "Offline wheels"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  echo "installed $(ls .whl/*.whl | wc -l) wheel(s) into /tmp/site"
else
  echo "no .whl/ folder: nothing to install"
fi

section "Environment"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$LOG_DIR/environment.log"
python3 - <<'PY' | tee -a "$LOG_DIR/environment.log"
import torch, torchvision
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), torchvision {torchvision.__version__}, "
      f"cuda available: {torch.cuda.is_available()}, device: {torch.cuda.get_device_name() if torch.cuda.is_available() else '-'}")
PY

section "Ops: build maskrcnn_benchmark._C with CUDA (in place)"
export FORCE_CUDA=1
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
python3 setup.py build_ext --inplace > "$LOG_DIR/ops_build.log" 2>&1 || { tail -40 "$LOG_DIR/ops_build.log"; exit 1; }
tail -3 "$LOG_DIR/ops_build.log"
python3 -c "import torch, maskrcnn_benchmark.layers as L; print('ops loaded:', [n for n in ('roi_align', 'roi_pool', 'nms', 'batched_nms', 'sigmoid_focal_loss') if hasattr(L, n)])"

section "Ops: tests (tests/layers, CPU and CUDA)"
python3 -m pytest tests/layers -q -p no:cacheprovider 2>&1 | tee "$LOG_DIR/ops_tests.log"

section "Ops: benchmark against torchvision.ops on CUDA"
python3 tools/benchmark_ops.py --device cuda --repeats 20 --warmup 3 2>&1 | tee "$LOG_DIR/ops_benchmark_cuda.log"

section "Done"
echo "logs in $LOG_DIR"
