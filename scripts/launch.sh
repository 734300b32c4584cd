#!/usr/bin/env bash
# Shared launcher: `bash scripts/launch.sh <python script> <config file> <output dir> [KEY VALUE ...]`.
# Runs under torchrun on NGPUS GPUs (default: all visible ones) or on the CPU (one process, or
# NPROC_PER_NODE gloo processes), with MODEL.DEVICE to match; several machines with NNODES,
# NODE_RANK, MASTER_ADDR, MASTER_PORT (see scripts/dist_env.sh; scripts/slurm_train.sh for Slurm).
# Overrides given after the three arguments win.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
script=$1 config=$2 output=$3; shift 3
source scripts/dist_env.sh
exec "${LAUNCH[@]}" "$script" --config-file "$config" MODEL.DEVICE "$DEVICE" OUTPUT_DIR "$output" "$@"
