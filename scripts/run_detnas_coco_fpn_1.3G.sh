#!/usr/bin/env bash
# Retrain the DetNAS FPN-1.3G architecture on COCO (Faster R-CNN + FPN, 1x).
# Usage: [NGPUS=8] bash scripts/run_detnas_coco_fpn_1.3G.sh [KEY VALUE ...]   (OUTPUT_DIR defaults to output/run_detnas_coco_fpn_1.3G)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec bash scripts/launch.sh tools/train_net.py configs/detnas/e2e_faster_rcnn_detnas_fpn_1.3G_1x.yaml output/run_detnas_coco_fpn_1.3G "$@"
