#!/usr/bin/env bash
# Retrain the DetNAS RetinaNet-300M architecture on COCO (RetinaNet, 1x).
# Usage: [NGPUS=8] bash scripts/run_detnas_coco_retinanet_300M.sh [KEY VALUE ...]   (OUTPUT_DIR defaults to output/run_detnas_coco_retinanet_300M)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec bash scripts/launch.sh tools/train_net.py configs/detnas/retinanet_detnas_300M_1x.yaml output/run_detnas_coco_retinanet_300M "$@"
