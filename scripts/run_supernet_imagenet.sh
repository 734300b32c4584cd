#!/usr/bin/env bash
# ImageNet pre-training of a DetNAS backbone with Supernet-ImageNet/train.py (the paper's recipe by
# default: batch 1024, 300k iterations, lr 0.5 linear decay, FLOPs-uniform supernet paths).
#
# Usage: [NGPUS=8] [SIZE=300M] [DATA=datasets/imagenet] bash scripts/run_supernet_imagenet.sh [train.py args ...]
#   supernet (default):  bash scripts/run_supernet_imagenet.sh
#   fixed architecture:  bash scripts/run_supernet_imagenet.sh --mode fixed --arch FPN-300M \
#                          --output-dir output/imagenet_fpn_300M --export ImageNet-Pretrain-models/detnas_fpn_300M.pth
# Runs under torchrun on NGPUS GPUs (default: all visible ones) or as one CPU process when there are
# none. Arguments given here come last, so they override the defaults below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
SIZE=${SIZE:-300M}
DATA=${DATA:-datasets/imagenet}
NGPUS=${NGPUS:-$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')}
defaults=(--size "$SIZE" --data "$DATA" --output-dir "output/supernet_imagenet_$SIZE"
          --export "ImageNet-Pretrain-models/supernet_$SIZE.pth")
if [ "$NGPUS" -gt 0 ]; then
  exec "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$NGPUS" \
    Supernet-ImageNet/train.py --device cuda "${defaults[@]}" "$@"
else
  exec "$PYTHON" Supernet-ImageNet/train.py --device cpu "${defaults[@]}" "$@"
fi
