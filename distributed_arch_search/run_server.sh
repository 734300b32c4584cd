#!/usr/bin/env bash
# Start evaluation servers for one experiment: one per visible GPU, or one on the CPU.
#
#   DETNAS_AMQP_URL=amqp://detnas:SECRET@broker:5672/detnas \
#   distributed_arch_search/run_server.sh coco300m --evaluator synthetic --delay 1
#
# Every argument after the experiment name goes to test_server.py (evaluator and its options).
# GPUs: CUDA_VISIBLE_DEVICES if set, else all that nvidia-smi lists; SERVERS_PER_GPU (default 1).
# NUM_CPU_SERVERS=N starts N CPU servers when there is no GPU (default 1).
# Ctrl-C or SIGTERM stops all of them (an unfinished task goes back to the queue).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 ]]; then
    echo "usage: $0 EXPERIMENT [test_server.py options...]" >&2
    exit 2
fi
experiment=$1
shift

gpus=()
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
    # Inside a restricted set, the visible GPUs are renumbered 0..n-1.
    IFS=',' read -r -a visible <<< "$CUDA_VISIBLE_DEVICES"
    for i in "${!visible[@]}"; do gpus+=("$i"); done
elif command -v nvidia-smi > /dev/null 2>&1; then
    while read -r line; do
        [[ $line =~ ^GPU\ ([0-9]+): ]] && gpus+=("${BASH_REMATCH[1]}")
    done < <(nvidia-smi -L 2> /dev/null || true)
fi

pids=()
trap 'kill -TERM "${pids[@]}" 2> /dev/null; wait' INT TERM
if [[ ${#gpus[@]} -gt 0 ]]; then
    for gpu in "${gpus[@]}"; do
        for _ in $(seq "${SERVERS_PER_GPU:-1}"); do
            python -m distributed_arch_search.test_server --experiment "$experiment" --gpu "$gpu" "$@" &
            pids+=($!)
        done
    done
else
    for _ in $(seq "${NUM_CPU_SERVERS:-1}"); do
        python -m distributed_arch_search.test_server --experiment "$experiment" --gpu -1 "$@" &
        pids+=($!)
    done
fi
echo "started ${#pids[@]} server(s) for experiment $experiment: pids ${pids[*]}" >&2
wait
