# Sourced by launch.sh and run_supernet_imagenet.sh: sets DEVICE (cuda | cpu) and the array LAUNCH,
# the command that starts a python script on this node.
#   NGPUS           GPUs per node (default: all visible; 0 = CPU)
#   NPROC_PER_NODE  processes per node (default: NGPUS, or 1 on the CPU; CPU processes use gloo)
#   NNODES          machines in the job (default 1)
#   NODE_RANK       this machine's index 0..NNODES-1 (default 0)
#   MASTER_ADDR     host of node 0, reachable from every node (default 127.0.0.1)
#   MASTER_PORT     a free TCP port on it (default 29500)
#   RDZV_BACKEND    c10d (default: torchrun's rendezvous, node order free) or static (ranks follow
#                   NODE_RANK)
# Every node runs the same command with its own NODE_RANK.
PYTHON=${PYTHON:-python3}
NGPUS=${NGPUS:-$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
RDZV_BACKEND=${RDZV_BACKEND:-c10d}
if [ "$NGPUS" -gt 0 ]; then DEVICE=cuda; else DEVICE=cpu; fi
NPROC_PER_NODE=${NPROC_PER_NODE:-$([ "$NGPUS" -gt 0 ] && echo "$NGPUS" || echo 1)}
if [ "$NNODES" -gt 1 ]; then
  if [ "$RDZV_BACKEND" = static ]; then
    rdzv=(--node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT")
  else
    rdzv=(--node_rank="$NODE_RANK" --rdzv_backend="$RDZV_BACKEND" --rdzv_endpoint="$MASTER_ADDR:$MASTER_PORT"
          --rdzv_id="${RDZV_ID:-detnas}")
  fi
  LAUNCH=("$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --nproc_per_node="$NPROC_PER_NODE" "${rdzv[@]}")
elif [ "$NPROC_PER_NODE" -gt 1 ] || [ "$DEVICE" = cuda ]; then
  LAUNCH=("$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$NPROC_PER_NODE")
else
  LAUNCH=("$PYTHON")
fi
echo "launch: ${NNODES} node(s) x ${NPROC_PER_NODE} process(es) on ${DEVICE}, node rank ${NODE_RANK}" >&2
