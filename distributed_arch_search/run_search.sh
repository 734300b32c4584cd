#!/usr/bin/env bash
# Run (or resume) the search master of one experiment.
#
#   DETNAS_AMQP_URL=amqp://detnas:SECRET@broker:5672/detnas \
#   distributed_arch_search/run_search.sh coco300m --config my_search.yaml EVOLUTION.MAX_FLOPS 300M
#
# Without a broker URL (no --amqp-url, no DETNAS_AMQP_URL) it runs the local backend, which needs the
# evaluator named in LOCAL.SERVER_ARGS (it refuses to start otherwise), e.g. the synthetic stand-in:
#   distributed_arch_search/run_search.sh try1 LOCAL.NUM_WORKERS 2 \
#       LOCAL.SERVER_ARGS "['--evaluator', 'synthetic', '--delay', '1']" SPACE.FLOPS_MODEL linear
#   (synthetic: a made-up AP that exercises the machinery; name 'detector' and its options for a search)
#
# Re-running the same command after a crash resumes from output/search/<experiment>/search_checkpoint.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 ]]; then
    echo "usage: $0 EXPERIMENT [search.py options and KEY VALUE overrides...]" >&2
    exit 2
fi
experiment=$1
shift
exec python -m distributed_arch_search.search --experiment "$experiment" "$@"
