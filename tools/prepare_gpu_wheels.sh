#!/usr/bin/env bash
# Downloads, on a machine with network access, the wheels of the pure-Python / manylinux packages
# that the GPU machine (Python 3.12, x86-64, no network) lacks, into .whl/ at the repository root
# (git-ignored). tools/gpu_check.sh installs whatever it finds there first.
#
#   bash tools/prepare_gpu_wheels.sh          # then check: ls .whl/
#
# Wanted: yacs (config), pycocotools (COCO evaluation), pika (search transport). Their own needs
# -- PyYAML (yacs), numpy (pycocotools) -- are already on that machine, so they are not fetched;
# the check at the end lists every Requires-Dist of what was fetched, to be compared with that.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST=.whl
PACKAGES=(yacs==0.1.8 pycocotools==2.0.11 pika==1.4.4)
mkdir -p "$DEST"

python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$DEST" "${PACKAGES[@]}"

echo
echo "Wheels in $DEST:"
status=0
for spec in "${PACKAGES[@]}"; do
  name="${spec%%==*}"
  version="${spec##*==}"
  # wheel file names use the project name with '-' turned into '_'
  matches=("$DEST/${name//-/_}-${version}-"*.whl)
  if [[ ! -e "${matches[0]}" ]]; then
    echo "  MISSING: $spec"
    status=1
    continue
  fi
  if (( ${#matches[@]} > 1 )); then
    echo "  MORE THAN ONE WHEEL for $spec (pip --target would stop): ${matches[*]}"
    status=1
  fi
  echo "  ${matches[0]}"
  unzip -p "${matches[0]}" '*/METADATA' | grep '^Requires-Dist' | grep -v 'extra ==' \
    | sed 's/^/      needs: /' || echo "      needs: nothing"
done
echo "(PyYAML, numpy and matplotlib are on the GPU machine already.)"
exit $status
