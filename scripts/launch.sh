#!/usr/bin/env bash
# Shared launcher: `bash scripts/launch.sh <python script> <config file> <output dir> [KEY VALUE ...]`.
# Runs under torchrun on NGPUS GPUs (default: all visible ones) or as one CPU process when there are
# none, with MODEL.DEVICE to match. Overrides given after the three arguments win.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
script=$1 config=$2 output=$3; shift 3
PYTHON=${PYTHON:-python3}
NGPUS=${NGPUS:-$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')}
if [ "$NGPUS" -gt 0 ]; then
  exec "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$NGPUS" "$script" \
    --config-file "$config" MODEL.DEVICE cuda OUTPUT_DIR "$output" "$@"
else
  exec "$PYTHON" "$script" --config-file "$config" MODEL.DEVICE cpu OUTPUT_DIR "$output" "$@"
fi
