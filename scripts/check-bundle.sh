#!/usr/bin/env bash
# check-bundle.sh BUNDLE CUDA_HOME: runs the GPU bundle's script as on a
# GPU machine without Go, against CUDA_HOME (make check-cuda gives it a
# stand-in with only CUDA 13's sonames and a driver that sees no GPU), and
# checks its result.json: no GPU, the libraries opened, the fallback to the
# CPU taken, every step passed, and the run within its 2-minute budget.
set -euo pipefail
bundle=$1 home=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
rc=0
OUT=$out CUDA_HOME=$home LD_LIBRARY_PATH= timeout 150 bash "$bundle/gpu-check.sh" >/dev/null 2>&1 || rc=$?
secs=$(($(date +%s) - start))
fail() {
  echo "check-bundle: $*" >&2
  [ -f "$out/gpu-check.log" ] && tail -40 "$out/gpu-check.log" >&2
  exit 1
}
[ -f "$out/result.json" ] || fail "gpu-check.sh wrote no result.json (exit $rc, $secs s)"
result=$(cat "$out/result.json")
echo "check-bundle: $result"
for want in '"gpu":false' '"libraries_resolved":true' '"pass":true' '"fallback":{"device":"cpu"'; do
  grep -qF "$want" <<<"$result" || fail "result.json lacks $want"
done
grep -q 'libcublas.so.13' <<<"$result" && grep -q 'libnvrtc.so.13' <<<"$result" || fail "the CUDA 13 libraries were not the ones opened"
[ "$rc" -eq 0 ] || fail "gpu-check.sh exited $rc"
[ "$secs" -lt 120 ] || fail "gpu-check.sh took $secs s, over its 2 minutes"
echo "check-bundle: gpu-check.sh against $home: pass in $secs s"
