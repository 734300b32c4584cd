#!/usr/bin/env bash
# The whole DetNAS pipeline end to end on generated data (15-30 minutes on a 2-core CPU):
#   bash config.sh && bash scripts/run_detnas_demo.sh [--output-dir output/demo] [--device cuda]
#       [--broker amqp://guest:guest@127.0.0.1:5672/%2F]
# DEVICE=cuda works as --device cuda. Re-running resumes: finished stages are skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec "${PYTHON:-python3}" tools/detnas_demo.py "$@"
