#!/usr/bin/env bash
# Multi-node training under Slurm: one srun task per node, each starting torchrun for its GPUs.
#
#   sbatch --nodes=4 scripts/slurm_train.sh scripts/run_detnas_coco_fpn_300M_search.sh [KEY VALUE ...]
#   sbatch --nodes=2 scripts/slurm_train.sh scripts/run_supernet_imagenet.sh --size 300M
#
# Any launcher that goes through scripts/dist_env.sh works (every run_*.sh). Node 0 of the
# allocation hosts the rendezvous on MASTER_PORT (default 29500; set it to run two jobs on a node).
#SBATCH --job-name=detnas
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=72:00:00
#SBATCH --output=slurm-%j.out
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: sbatch --nodes=N scripts/slurm_train.sh <scripts/run_*.sh> [its arguments ...]" >&2
  exit 2
fi
cd "${SLURM_SUBMIT_DIR:-$(dirname "${BASH_SOURCE[0]}")/..}"
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export MASTER_ADDR MASTER_PORT=${MASTER_PORT:-29500} NNODES=$SLURM_NNODES RDZV_ID=$SLURM_JOB_ID
# NODE_RANK is read per task inside srun, where SLURM_NODEID differs on each node.
srun --kill-on-bad-exit=1 bash -c 'NODE_RANK=$SLURM_NODEID exec bash "$0" "$@"' "$@"
