#!/usr/bin/env bash
# The CUDA build's proof on a GPU, in one run. `make gpu-bundle` builds the
# folder this script runs from; the GPU machine needs the NVIDIA driver and
# the cuBLAS and NVRTC libraries of the CUDA major version the bundle was
# built against, and no Go:
#
#   softmaxctl-cuda     the CUDA build
#   device/device.test  the tagged tests of internal/device, with the files
#                       they read (kernels/, cudacompat/, testdata/)
#   cli/cli.test        the tagged tests of internal/cli
#   data/               the four Fashion-MNIST files
#   gpu-check.sh        this script
#
#   bash gpu-check.sh [EPOCHS]
#
# It prints the GPU; runs the tagged tests that need a GPU
# (-test.run 'CUDA|Select|Kernel', where a missing GPU fails instead of
# skipping) and, with CUDA_VISIBLE_DEVICES empty, those of the no-GPU
# fallback against the real driver; trains the default recipe for EPOCHS
# (10) epochs with --device cuda and with --device cpu; and prints, as its
# last line on stdout, one JSON object with both accuracies, both
# training-loop times and pass (every step ran, the tests passed and the
# accuracies are within 0.5 points). Everything else goes to stderr. Exit
# status 0 when pass is true, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")"
epochs=${1:-10}
here=$PWD

log() { echo "gpu-check: $*" >&2; }

# cuBLAS and NVRTC live with the toolkit, not with the driver.
cuda_home=${CUDA_HOME:-/usr/local/cuda}
for d in "$cuda_home/lib64" "$cuda_home/targets/x86_64-linux/lib"; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done

for f in softmaxctl-cuda device/device.test cli/cli.test data/train-images-idx3-ubyte.gz data/train-labels-idx1-ubyte.gz \
  data/t10k-images-idx3-ubyte.gz data/t10k-labels-idx1-ubyte.gz; do
  [ -e "$f" ] || { log "missing $f: run from the folder make gpu-bundle built"; exit 1; }
done
if command -v ldd >/dev/null && missing=$(ldd ./softmaxctl-cuda | grep 'not found'); then
  log "softmaxctl-cuda needs libraries this machine lacks (set CUDA_HOME to the toolkit's folder, or rebuild the bundle against this machine's CUDA version):"
  echo "$missing" >&2
  exit 1
fi

log "GPU:"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv >&2
./softmaxctl-cuda version >&2
gpu=$(./softmaxctl-cuda version | sed -n 's/.*; GPU 0: \(.*\))$/\1/p')

tests=pass
run_tests() { # folder, then env and arguments
  local dir=$1; shift
  log "(cd $dir && $*)"
  (cd "$dir" && env "$@") >&2 || tests=fail
}
run_tests device SOFTMAXCTL_TEST_CUDA=gpu ./device.test -test.v -test.run 'CUDA|Select|Kernel'
run_tests cli SOFTMAXCTL_TEST_CUDA=gpu ./cli.test -test.v -test.run 'CUDATrainOnGPU'
# The fallback, against the real driver with no GPU visible.
run_tests device CUDA_VISIBLE_DEVICES= SOFTMAXCTL_TEST_CUDA=none ./device.test -test.v -test.run 'CUDA|Select'
run_tests cli CUDA_VISIBLE_DEVICES= SOFTMAXCTL_TEST_CUDA=none SOFTMAXCTL_CUDA_BIN="$here/softmaxctl-cuda" ./cli.test -test.v -test.run 'WithoutGPU'

# field NAME JSON: a number of the summary line train --json ends with.
field() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" <<<"$2"; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -A acc secs ok
for dev in cuda cpu; do
  log "train --device $dev, $epochs epochs"
  if ./softmaxctl-cuda train --data data --no-download --epochs "$epochs" --device "$dev" --json \
    --out "$out/$dev.safetensors" >"$out/$dev.json" 2>"$out/$dev.err"; then
    summary=$(tail -1 "$out/$dev.json")
    acc[$dev]=$(field val_acc "$summary"); secs[$dev]=$(field train_seconds "$summary")
    ok[$dev]=true
    grep -q "\"device\":\"$dev\"" <<<"$summary" || { log "train ran on another device than $dev: $summary"; ok[$dev]=false; }
  else
    acc[$dev]=null; secs[$dev]=null; ok[$dev]=false
  fi
  cat "$out/$dev.err" >&2
  tail -1 "$out/$dev.json" >&2
done

verdict=$(awk -v a="${acc[cuda]}" -v b="${acc[cpu]}" -v t="$tests" -v oc="${ok[cuda]}" -v op="${ok[cpu]}" 'BEGIN {
  if (oc != "true" || op != "true") { print "null false"; exit }
  d = (a - b) * 100; if (d < 0) d = -d
  printf "%.3f %s\n", d, (d <= 0.5 && t == "pass") ? "true" : "false"
}')
read -r diff pass <<<"$verdict"
printf '{"gpu":"%s","epochs":%d,"tests":"%s","cuda":{"val_acc":%s,"train_seconds":%s},"cpu":{"val_acc":%s,"train_seconds":%s},"acc_diff_points":%s,"pass":%s}\n' \
  "${gpu//\"/\\\"}" "$epochs" "$tests" "${acc[cuda]}" "${secs[cuda]}" "${acc[cpu]}" "${secs[cpu]}" "$diff" "$pass"
[ "$pass" = true ]
