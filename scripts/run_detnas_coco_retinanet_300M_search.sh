#!/usr/bin/env bash
# Fine-tune the 300M supernet inside RetinaNet on the COCO search-train split (one path per iteration).
# Usage: [NGPUS=8] bash scripts/run_detnas_coco_retinanet_300M_search.sh [KEY VALUE ...]   (OUTPUT_DIR defaults to output/run_detnas_coco_retinanet_300M_search)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec bash scripts/launch.sh tools/train_net.py configs/detnas/retinanet_detnas_300M_search.yaml output/run_detnas_coco_retinanet_300M_search "$@"
