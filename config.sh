#!/usr/bin/env bash
# One idempotent set-up for a fresh machine: Python dependencies, the C++/CUDA extension, the
# RabbitMQ broker (when we are root), the data folders and optional dataset links.
#
#   bash config.sh [--coco /path/to/coco] [--imagenet /path/to/imagenet] [--no-broker]
#
# Environment: PYTHON (default python3); FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=... CUDA_HOME=... to build
# the CUDA kernels on a machine without a GPU (they are built anyway when torch sees a GPU).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
PYTHON=${PYTHON:-python3}
COCO="" IMAGENET="" BROKER=1
while [ $# -gt 0 ]; do
  case "$1" in
    --coco) COCO=$2; shift 2 ;;
    --imagenet) IMAGENET=$2; shift 2 ;;
    --no-broker) BROKER=0; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "config.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n== %s ==\n' "$*"; }

step "Python dependencies (requirements.txt)"
"$PYTHON" -m pip install -q --disable-pip-version-check -r requirements.txt

step "Building maskrcnn_benchmark._C in place"
"$PYTHON" setup.py -q build_ext --inplace
"$PYTHON" tools/check_extension.py

if [ "$BROKER" = 1 ]; then
  step "RabbitMQ broker"
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q rabbitmq-server >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q rabbitmq-server >/dev/null; }
    else
      echo "rabbitmq-server is not installed and we are not root: install it with"
      echo "  sudo apt-get install -y rabbitmq-server && sudo rabbitmq-server -detached"
      echo "(only the distributed search and its tests need it; the local backend does not)"
    fi
  fi
  if command -v rabbitmq-server >/dev/null 2>&1; then
    if rabbitmqctl -q status >/dev/null 2>&1; then
      echo "broker already running"
    elif [ "$(id -u)" = 0 ]; then
      rabbitmq-server -detached
      # await_startup fails at once while the new node is not yet registered with epmd: retry.
      for _ in $(seq 60); do
        timeout 120 rabbitmqctl -q await_startup >/dev/null 2>&1 && break
        sleep 2
      done
      rabbitmqctl -q await_startup
      echo "broker started (guest/guest on 127.0.0.1:5672)"
    else
      echo "start the broker with: sudo rabbitmq-server -detached"
    fi
  fi
fi

step "Data folders"
mkdir -p datasets ImageNet-Pretrain-models output
link() {  # link <target> <name>
  [ -d "$1" ] || { echo "config.sh: $1 is not a folder" >&2; exit 2; }
  ln -sfn "$(cd "$1" && pwd)" "datasets/$2"
  echo "datasets/$2 -> $1"
}
[ -n "$COCO" ] && link "$COCO" coco
[ -n "$IMAGENET" ] && link "$IMAGENET" imagenet
echo "set-up done"
