#!/usr/bin/env bash
# ImageNet pre-training of a DetNAS backbone with Supernet-ImageNet/train.py (the paper's recipe by
# default: batch 1024, 300k iterations, lr 0.5 linear decay, FLOPs-uniform supernet paths).
#
# Usage: [NGPUS=8] [SIZE=300M] [DATA=datasets/imagenet] bash scripts/run_supernet_imagenet.sh [train.py args ...]
#   supernet (default):  bash scripts/run_supernet_imagenet.sh
#   fixed architecture:  bash scripts/run_supernet_imagenet.sh --mode fixed --arch FPN-300M \
#                          --output-dir output/imagenet_fpn_300M --export ImageNet-Pretrain-models/detnas_fpn_300M.pth
# Runs under torchrun on NGPUS GPUs (default: all visible ones) or on the CPU; several machines with
# NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT (scripts/dist_env.sh). Arguments given here come
# last, so they override the defaults below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SIZE=${SIZE:-300M}
DATA=${DATA:-datasets/imagenet}
source scripts/dist_env.sh  # NGPUS, NPROC_PER_NODE, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT
defaults=(--size "$SIZE" --data "$DATA" --output-dir "output/supernet_imagenet_$SIZE"
          --export "ImageNet-Pretrain-models/supernet_$SIZE.pth")
exec "${LAUNCH[@]}" Supernet-ImageNet/train.py --device "$DEVICE" "${defaults[@]}" "$@"
