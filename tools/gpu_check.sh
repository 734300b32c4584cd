#!/usr/bin/env bash
# Checks for a machine with an NVIDIA GPU (no network needed), in under 8 minutes on an H100:
#   ops:      build maskrcnn_benchmark._C with its CUDA kernels in place, the ops tests (CPU and
#             CUDA), the CUDA ops benchmark;
#   detector: tools/benchmark_detector.py (ours vs torchvision's Faster R-CNN R-50-FPN) on CUDA,
#             float32 and AMP;
#   detnas:   tools/benchmark_detnas.py on CUDA (supernet vs fixed body; DetNAS-300M vs R-50-FPN
#             detector inference);
#   training: tools/train_net.py, 40 iterations each at batch 2 with AMP on a generated shapes
#             dataset upscaled to COCO size (one input shape, 1333x800; see the dataset step):
#             DETNAS-COCO-FPN-300M (its paper config; SyncBN is plain BN in one process) and the
#             300M supernet fine-tuning; s/iter and max memory from train_net's log;
#   demo:     scripts/run_detnas_demo.sh --scale tiny on the device: every stage of the pipeline
#             (supernet pre-training, fine-tuning, search with local evaluator processes, random
#             search, retraining) at smoke-test sizes.
#
#   bash tools/gpu_check.sh                          # logs go to $OUT (if set) or /tmp/gpu_check
#   GPU_CHECK_DEVICE=cpu bash tools/gpu_check.sh     # dry run of every step on the CPU, tiny
#                                                    # sizes, no CUDA build (uses the _C in place)
#
# Wheels of extra pure-Python dependencies may be put in .whl/ at the repository root
# (tools/prepare_gpu_wheels.sh fetches yacs, pycocotools and pika); they are installed offline
# into /tmp/site. Every step runs under `timeout` with its own budget (times
# GPU_CHECK_BUDGET_SCALE), cut to what is left before GPU_CHECK_DEADLINE seconds (default 460)
# after the start, so that a stuck step cannot eat the rest; a step that would get less than 15 s
# is skipped. A failed step does not stop the later ones, except the build (nothing works without
# _C). The summary at the end lists each step's status and time. $OUT receives two files (the tool
# that runs this brings back at most eight): gpu_check.log (everything printed) and
# gpu_check_logs.tar.gz (each step's own log, train_net's logs, the benchmarks' JSON).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_DIR="${OUT:-/tmp/gpu_check}"
WORK="${GPU_CHECK_WORK:-/tmp/gpu_check_work}"   # dataset, checkpoints, per-step logs
STEP_LOGS="$WORK/logs"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
if [[ "$DEVICE" == cpu ]]; then
  DEADLINE="${GPU_CHECK_DEADLINE:-3600}"
  BUDGET_SCALE="${GPU_CHECK_BUDGET_SCALE:-10}"   # a shared 2-core CPU is slow
else
  DEADLINE="${GPU_CHECK_DEADLINE:-460}"
  BUDGET_SCALE="${GPU_CHECK_BUDGET_SCALE:-1}"
fi
rm -rf "$STEP_LOGS"
mkdir -p "$LOG_DIR" "$STEP_LOGS"
START=$(date +%s)
export PYTHONUNBUFFERED=1
SUMMARY=()
FAILURES=0

elapsed() { echo $(( $(date +%s) - START )); }

section() {
  echo
  echo "=================================================================="
  echo "== $*   (t = $(elapsed) s)"
  echo "=================================================================="
}

# step NAME BUDGET_S LOG COMMAND...: COMMAND under `timeout`, its output shown and kept in
# $STEP_LOGS/LOG (with QUIET=1 only kept, and its tail shown). Returns COMMAND's status.
step() {
  local name=$1 budget=$(( $2 * BUDGET_SCALE )) log=$3
  shift 3
  local left=$(( DEADLINE - $(elapsed) ))
  local limit=$(( budget < left ? budget : left ))
  if (( limit < 15 )); then
    echo "SKIPPED $name: ${left} s left before the ${DEADLINE} s deadline"
    SUMMARY+=("$name|skipped (deadline)|0|$budget")
    FAILURES=$((FAILURES + 1))
    return 99
  fi
  echo "\$ $*   [budget ${limit} s]"
  local t0 rc
  t0=$(date +%s)
  if [[ "${QUIET:-0}" == 1 ]]; then
    timeout -k 10 "$limit" "$@" > "$STEP_LOGS/$log" 2>&1
    rc=$?
    tail -n 5 "$STEP_LOGS/$log"
  else
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$STEP_LOGS/$log"
    rc=${PIPESTATUS[0]}
  fi
  local took=$(( $(date +%s) - t0 )) status="ok"
  if (( rc == 124 || rc == 137 )); then
    status="TIMED OUT after ${limit} s"
  elif (( rc != 0 )); then
    status="FAILED (exit $rc)"
  fi
  if (( rc != 0 )); then
    FAILURES=$((FAILURES + 1))
    [[ "${QUIET:-0}" == 1 ]] && tail -n 40 "$STEP_LOGS/$log"
  fi
  echo "-- $name: $status in ${took} s"
  SUMMARY+=("$name|$status|$took|$budget")
  return $rc
}

skip_rest() {
  local reason=$1
  shift
  for name in "$@"; do
    SUMMARY+=("$name|skipped ($reason)|0|-")
  done
}

# Sizes: the real ones, or tiny ones for the CPU dry run.
if [[ "$DEVICE" == cpu ]]; then
  DETECTOR_ARGS=(--device cpu --quick --threads 2 --no-memory)
  DETNAS_ARGS=(--device cpu --threads 2 --batch 2 --input-size 64 --iters 1 --warmup 0
               --detector-size 128 160 --detector-iters 1 --detector-warmup 0)
  OPS_BENCH_ARGS=(--device cpu --repeats 1 --warmup 0 --only nms)
  TRAIN_ITERS=2
  TRAIN_SIZE=(INPUT.MIN_SIZE_TRAIN "(128,)" INPUT.MAX_SIZE_TRAIN 213 DATALOADER.NUM_WORKERS 0)
else
  DETECTOR_ARGS=(--device "$DEVICE" --warmup 10 --repeats 20)   # AMP timings wander in the first rounds
  DETNAS_ARGS=(--device "$DEVICE" --sizes 300M 1.3G 3.8G --batch 32 --iters 10 --warmup 3
               --detector-iters 10 --detector-warmup 3)
  OPS_BENCH_ARGS=(--device cuda --repeats 20 --warmup 3)
  TRAIN_ITERS=40
  TRAIN_SIZE=(INPUT.MIN_SIZE_TRAIN "(800,)" INPUT.MAX_SIZE_TRAIN 1333 DATALOADER.NUM_WORKERS 4)
fi

# train_net overrides shared by both training steps (into TRAIN_OVERRIDES): the shapes dataset,
# batch 2 with AMP, the learning rate scaled from 0.02 at 16 images, no checkpoint but the final
# one, a log line (s/iter, max memory) every 10 iterations; $1 is the output folder.
train_overrides() {
  TRAIN_OVERRIDES=(MODEL.DEVICE "$DEVICE" MODEL.WEIGHT "" MODEL.ROI_BOX_HEAD.NUM_CLASSES 5
    DATASETS.TRAIN '("shapes_train",)' DATASETS.TEST '("shapes_minival",)'
    SOLVER.IMS_PER_BATCH 2 SOLVER.BASE_LR 0.0025 SOLVER.AMP True SOLVER.MAX_ITER "$TRAIN_ITERS"
    SOLVER.STEPS "(1000,)" SOLVER.WARMUP_ITERS 10 SOLVER.CHECKPOINT_PERIOD 100000
    SOLVER.LOG_PERIOD 10 OUTPUT_DIR "$1" "${TRAIN_SIZE[@]}")
}

main() {
  section "Offline wheels"
  if compgen -G ".whl/*.whl" > /dev/null; then
    if python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site \
         .whl/*.whl; then
      export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
      echo "installed $(ls .whl/*.whl | wc -l) wheel(s) into /tmp/site"
    else
      echo "WARNING: installing .whl/*.whl failed; continuing with what is installed"
    fi
  else
    echo "no .whl/ folder: nothing to install"
  fi

  section "Environment"
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  else
    echo "no nvidia-smi"
  fi
  python3 - <<'PY'
import importlib.util
import torch, torchvision
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), torchvision {torchvision.__version__}, "
      f"cuda available: {torch.cuda.is_available()}, device: {torch.cuda.get_device_name() if torch.cuda.is_available() else '-'}")
missing = [m for m in ("yacs", "pycocotools", "pika", "cv2", "PIL", "numpy", "yaml", "pytest")
           if importlib.util.find_spec(m) is None]
print("missing Python modules:", ", ".join(missing) if missing else "none")
PY

  # The dataset costs a few CPU seconds: write it while the extension compiles.
  export DETNAS_DATASETS="$WORK/datasets"
  rm -rf "$DETNAS_DATASETS/shapes"
  # One image size (200x120, trained at 1333x800): cuDNN sets up every convolution again for each
  # new input shape (about 3 s per new shape for the DetNAS-300M detector on an H200, seen with varied
  # sizes), which would swamp a 40-iteration timing; COCO training meets its few dozen padded shapes
  # once each, early.
  ( python3 tools/make_shapes_dataset.py --output-dir "$DETNAS_DATASETS/shapes" --num-train 48 \
      --num-minival 4 --image-size 200x120 --seed 0 \
      > "$STEP_LOGS/shapes_dataset.log" 2>&1; echo $? > "$STEP_LOGS/shapes_dataset.rc" ) &
  local dataset_pid=$!

  section "Ops: build maskrcnn_benchmark._C with CUDA (in place)"
  if [[ "$DEVICE" == cpu ]]; then
    echo "dry run: using the _C already built in place"
    SUMMARY+=("ops build|skipped (dry run)|0|-")
  else
    export FORCE_CUDA=1
    export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
    if [[ -z "${CUDA_HOME:-}" ]]; then
      # /usr/local/cuda, else the toolkit of the nvcc on the PATH
      CUDA_HOME=/usr/local/cuda
      if [[ ! -x "$CUDA_HOME/bin/nvcc" ]] && command -v nvcc > /dev/null; then
        CUDA_HOME="$(dirname "$(dirname "$(command -v nvcc)")")"
      fi
    fi
    export CUDA_HOME
    export MAX_JOBS="${MAX_JOBS:-16}"
    # The system compiler: a GCC elsewhere (/opt/gcc, set as CC/CXX on some GPU images) compiles
    # against libstdc++ headers that do not match the libstdc++ loaded at run time, and every C++
    # error message that prints a shape or a number then segfaults (tools/check_extension.py).
    if [[ "${GPU_CHECK_KEEP_CXX:-0}" != 1 && -x /usr/bin/g++ && -x /usr/bin/gcc ]]; then
      export CC=/usr/bin/gcc CXX=/usr/bin/g++
    fi
    echo "CC=${CC:-cc}, CXX=${CXX:-c++} ($(${CXX:-c++} --version | head -n 1))"
    echo "CUDA_HOME=$CUDA_HOME, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST, MAX_JOBS=$MAX_JOBS"
    if ! QUIET=1 step "ops build" 270 ops_build.log python3 setup.py build_ext --inplace; then
      skip_rest "no _C" "ops tests" "ops benchmark" "detector fp32" "detector AMP" \
        "detnas benchmark" "train DetNAS-300M" "train supernet-300M" "demo tiny"
      return 1
    fi
  fi
  step "ops smoke check" 30 ops_smoke.log python3 tools/check_extension.py

  section "Ops: tests (tests/layers, CPU and CUDA)"
  local pytest_args=(tests/layers -q -p no:cacheprovider)
  if [[ "$DEVICE" == cpu ]]; then
    pytest_args+=(--collect-only)   # the dry run only checks that they collect
  elif python3 -c "import xdist" 2> /dev/null; then
    pytest_args+=(-n 8)
  fi
  step "ops tests" 75 ops_tests.log python3 -m pytest "${pytest_args[@]}"

  section "Ops: benchmark against torchvision.ops"
  step "ops benchmark" 40 ops_benchmark.log python3 tools/benchmark_ops.py "${OPS_BENCH_ARGS[@]}" \
    --json "$STEP_LOGS/ops_benchmark.json"

  section "Detector: ours vs torchvision Faster R-CNN R-50-FPN, float32"
  step "detector fp32" 60 detector_fp32.log python3 tools/benchmark_detector.py \
    "${DETECTOR_ARGS[@]}" --json "$STEP_LOGS/detector_fp32.json"

  section "Detector: ours vs torchvision Faster R-CNN R-50-FPN, AMP (float16 autocast)"
  step "detector AMP" 50 detector_amp.log python3 tools/benchmark_detector.py \
    "${DETECTOR_ARGS[@]}" --amp --json "$STEP_LOGS/detector_amp.json"

  section "DetNAS: supernet vs fixed body; DetNAS-300M vs R-50-FPN detector inference"
  step "detnas benchmark" 50 detnas_benchmark.log python3 tools/benchmark_detnas.py \
    "${DETNAS_ARGS[@]}" --json "$STEP_LOGS/detnas_benchmark.json"

  section "Training: shapes dataset upscaled to COCO size"
  wait "$dataset_pid"
  cat "$STEP_LOGS/shapes_dataset.log"
  if [[ "$(cat "$STEP_LOGS/shapes_dataset.rc" 2> /dev/null)" != 0 ]]; then
    echo "the shapes dataset could not be written"
    SUMMARY+=("shapes dataset|FAILED|-|-")
    FAILURES=$((FAILURES + 1))
    skip_rest "no dataset" "train DetNAS-300M" "train supernet-300M"
  else
    SUMMARY+=("shapes dataset|ok|-|-")
    section "Training: DETNAS-COCO-FPN-300M, batch 2, AMP, $TRAIN_ITERS iterations"
    rm -rf "$WORK/train_detnas_300M"
    train_overrides "$WORK/train_detnas_300M"
    step "train DetNAS-300M" 60 train_detnas_300M.log python3 tools/train_net.py --skip-test \
      --config-file configs/detnas/e2e_faster_rcnn_detnas_fpn_300M_1x.yaml "${TRAIN_OVERRIDES[@]}"

    section "Training: DETNAS-COCO-FPN-300M-search (supernet fine-tuning), batch 2, AMP," \
      "$TRAIN_ITERS iterations"
    rm -rf "$WORK/train_supernet_300M"
    train_overrides "$WORK/train_supernet_300M"
    step "train supernet-300M" 60 train_supernet_300M.log python3 tools/train_net.py --skip-test \
      --config-file configs/detnas/e2e_faster_rcnn_detnas_fpn_300M_search.yaml \
      "${TRAIN_OVERRIDES[@]}"
  fi

  section "Demo: scripts/run_detnas_demo.sh at its tiny scale on $DEVICE"
  rm -rf "$WORK/demo_tiny"
  step "demo tiny" 100 demo_tiny.log bash scripts/run_detnas_demo.sh --scale tiny --quiet \
    --device "$DEVICE" --output-dir "$WORK/demo_tiny"
  [[ -f "$WORK/demo_tiny/summary.json" ]] && cp "$WORK/demo_tiny/summary.json" "$STEP_LOGS/demo_tiny_summary.json"
}

summary() {
  section "Summary"
  printf '| step | status | seconds | budget |\n|---|---|---|---|\n'
  local row
  for row in "${SUMMARY[@]}"; do
    IFS='|' read -r name status took budget <<< "$row"
    printf '| %s | %s | %s | %s |\n' "$name" "$status" "$took" "$budget"
  done
  local log
  for log in train_detnas_300M train_supernet_300M; do
    [[ -f "$STEP_LOGS/$log.log" ]] || continue
    echo
    echo "$log:"
    grep -E "iter: [0-9]+/" "$STEP_LOGS/$log.log" | tail -n 1
    grep -E "training took" "$STEP_LOGS/$log.log" | tail -n 1
  done
  echo
  echo "total $(elapsed) s; $FAILURES step(s) not ok; logs in $LOG_DIR"
  echo "$FAILURES" > "$STEP_LOGS/failures"
}

{
  main
  summary
} 2>&1 | tee "$LOG_DIR/gpu_check.log"
for d in train_detnas_300M train_supernet_300M; do
  [[ -f "$WORK/$d/train_log.txt" ]] && cp "$WORK/$d/train_log.txt" "$STEP_LOGS/${d}_train_log.txt"
done
tar czf "$LOG_DIR/gpu_check_logs.tar.gz" -C "$WORK" logs 2> /dev/null
[[ "$(cat "$STEP_LOGS/failures" 2> /dev/null)" == 0 ]]
