#!/usr/bin/env bash
# The CUDA build's proof on a GPU, in one run, on a machine without Go.
# `make gpu-bundle` builds the folder this script runs from:
#
#   gpu-check.sh     this script
#   payload.tar.xz   softmaxctl-cuda; cuda/cuda.test, device/device.test
#                    and cli/cli.test, the tagged tests of
#                    internal/device/cuda, internal/device and internal/cli,
#                    with the files they read; data/, the four
#                    Fashion-MNIST files; peers/, the PyTorch peer of the
#                    benchmarks
#
#   [OUT=DIR] [CUDA_HOME=DIR] bash gpu-check.sh [EPOCHS]
#
# Everything it prints is also written to $OUT/gpu-check.log, and what it
# found to $OUT/result.json; the training runs' JSON lines are kept as
# $OUT/train-cuda.json and train-cpu.json, and on a machine whose CUDA
# toolkit has headers, $OUT/cuda-sdk.tgz holds them with the exported
# symbols of its libcuda, libcublas and libnvrtc (so that a build against
# that CUDA can be made elsewhere). OUT defaults to ./gpu-check-out.
#
# With a GPU: the libraries the binary opened, nvidia-smi's GPU, the
# default recipe for EPOCHS (10) epochs with --device cuda and --device
# cpu, then ROUNDS (3) rounds of the same recipe with softmaxctl and with
# PyTorch on the GPU, alternating (bench/peers, where python3 has torch
# with CUDA; its last JSON kept as $OUT/torch-cuda.json), the tagged tests that need a GPU (SOFTMAXCTL_TEST_CUDA=gpu: a
# missing GPU fails them), compute-sanitizer's memcheck on the executor
# test, the per-step benchmarks, and the fallback tests with
# CUDA_VISIBLE_DEVICES empty. Without one (gpu false), only the libraries,
# the fallback tests and a one-epoch train --device auto that must fall
# back to the CPU. Every step runs under `timeout`, within a deadline for
# the whole run (360 s with a GPU, 100 s without). Exit status 0 when
# result.json's pass is true.
set -uo pipefail

bundle=$(cd "$(dirname "$0")" && pwd)
epochs=${1:-10}
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)

main() {
  local t0=$SECONDS
  deadline=$((t0 + 100)) # raised once a GPU answers
  declare -gA results=() acc=() secs=() loop=() wall=() ran_on=()
  gpu=false libraries_resolved=false

  # Messages go to stderr, so that a step's stdout can be redirected.
  log() { echo "gpu-check: $*" >&2; }
  # budget MAX: the seconds a step may take, MAX at most, within the
  # deadline; 0 when too little is left to start it.
  budget() {
    local left=$((deadline - SECONDS - 5))
    ((left > $1)) && left=$1
    ((left < 5)) && left=0
    echo "$left"
  }
  # step NAME MAX CMD...: runs CMD under timeout, logs its status and
  # time, and records NAME's result (pass, fail, timeout, skipped).
  step() {
    local name=$1 max=$2 s rc start=$SECONDS
    shift 2
    s=$(budget "$max")
    if ((s == 0)); then
      log "$name: skipped, out of time"
      results[$name]=skipped
      return 1
    fi
    log "$name: $* (timeout ${s}s)"
    timeout -k 5 "$s" "$@"
    rc=$?
    case $rc in
      0) results[$name]=pass ;;
      124 | 137) results[$name]=timeout ;;
      *) results[$name]=fail ;;
    esac
    log "$name: ${results[$name]} (exit $rc, $((SECONDS - start)) s)"
    return $rc
  }

  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  step unpack 60 tar -xJf "$bundle/payload.tar.xz" -C "$work" || { write_result; return 1; }
  cd "$work" || return 1

  # cuBLAS and NVRTC live with the toolkit, not with the driver; the
  # binary also looks in $CUDA_HOME itself, but the tests' child
  # processes and nvidia-smi want the loader's path.
  cuda_home=${CUDA_HOME:-/usr/local/cuda}
  export CUDA_HOME=$cuda_home
  for d in "$cuda_home/lib64" "$cuda_home/targets/x86_64-linux/lib"; do
    [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
  # The driver library, where the loader does not find it by itself (a
  # container's mounted driver folder).
  if command -v ldd >/dev/null && ldd ./softmaxctl-cuda | grep -q 'libcuda.so.1 => not found'; then
    for d in /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64; do
      [ -e "$d/libcuda.so.1" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d" && break
    done
  fi
  log "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

  smi=""
  if command -v nvidia-smi >/dev/null; then
    smi=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2>&1 | head -1)
    log "nvidia-smi: $smi"
  fi
  version=$(timeout 30 ./softmaxctl-cuda version 2>&1)
  log "version: $version"
  libs=$(tr ';' '\n' <<<"$version" | grep -m1 'cuBLAS' | sed 's/^ *//')
  if [[ -n $libs && $libs != "no cuBLAS and NVRTC"* ]]; then libraries_resolved=true; fi
  [[ $version == *"; GPU 0: "* ]] && gpu=true
  $gpu && deadline=$((t0 + 360))
  log "gpu=$gpu libraries_resolved=$libraries_resolved"

  sdk_archive

  # train DEVICE EPOCHS: the default recipe; its JSON lines in
  # $OUT/train-DEVICE.json, its stderr in the log.
  train() {
    local dev=$1 n=$2 start end
    start=$(date +%s.%N)
    step "train-$dev" "$3" ./softmaxctl-cuda train --data data --no-download --epochs "$n" --device "$dev" --json \
      --out "$work/$dev.safetensors" >"$OUT/train-$dev.json"
    end=$(date +%s.%N)
    local summary
    summary=$(tail -1 "$OUT/train-$dev.json")
    log "train-$dev: $summary"
    acc[$dev]=$(field val_acc "$summary")
    secs[$dev]=$(field train_seconds "$summary")
    loop[$dev]=$(field loop_seconds "$summary")
    ran_on[$dev]=$(sed -n 's/.*"device":"\([a-z]*\)".*/\1/p' <<<"$summary")
    wall[$dev]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  }

  if $gpu; then
    train cuda "$epochs" 90
    train cpu "$epochs" 150
    # The same recipe in PyTorch on the same GPU, where the machine's
    # python3 has torch with CUDA: the reference for the speed figures,
    # in ROUNDS (3) rounds alternating with softmaxctl's, each timed as a
    # whole process too.
    if timeout 60 python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
      local r peer start end
      for ((r = 1; r <= ${ROUNDS:-3}; r++)); do
        start=$(date +%s.%N)
        step "round$r-softmaxctl" 30 ./softmaxctl-cuda train --data data --no-download --epochs "$epochs" --device cuda --json \
          --out "$work/round.safetensors" >"$work/round.json" 2>/dev/null
        end=$(date +%s.%N)
        peer=$(tail -1 "$work/round.json")
        rounds_sm_loop+="${rounds_sm_loop:+,}$(num "$(field loop_seconds "$peer")")"
        rounds_sm_proc+="${rounds_sm_proc:+,}$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
        start=$(date +%s.%N)
        step "round$r-torch" 120 python3 peers/torch_softmax.py --data data --device cuda --epochs "$epochs" >"$OUT/torch-cuda.json"
        end=$(date +%s.%N)
        peer=$(tail -1 "$OUT/torch-cuda.json")
        log "torch-cuda: $peer"
        torch_acc=$(field val_acc "$peer")
        rounds_torch_loop+="${rounds_torch_loop:+,}$(num "$(field train_seconds "$peer")")"
        rounds_torch_proc+="${rounds_torch_proc:+,}$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
      done
    else
      log "torch-cuda: skipped, no python3 with torch and CUDA"
    fi
    cd cuda && step cuda-gpu-tests 150 env SOFTMAXCTL_TEST_CUDA=gpu ./cuda.test -test.timeout 140s -test.v -test.run 'CUDA|Kernel'
    cd "$work" || return 1
    cd device && step device-gpu-tests 30 env SOFTMAXCTL_TEST_CUDA=gpu ./device.test -test.timeout 25s -test.v -test.run 'Select'
    cd "$work" || return 1
    cd cli && step cli-gpu-tests 90 env SOFTMAXCTL_TEST_CUDA=gpu ./cli.test -test.timeout 80s -test.v -test.run 'CUDATrainOnGPU'
    cd "$work" || return 1
    cd cuda && step step-benchmarks 60 ./cuda.test -test.timeout 50s -test.run '^$' -test.bench 'CUDATrainStep' -test.benchtime 2s \
      >"$work/bench.txt"
    cat "$work/bench.txt"
    cd "$work" || return 1
    step_cuda_ns=$(awk '/^BenchmarkCUDATrainStep/ { for (i = 1; i < NF; i++) if ($(i+1) == "ns/op") print $i }' "$work/bench.txt" | head -1)
    sanitizer=$(command -v compute-sanitizer || ls "$cuda_home"/bin/compute-sanitizer 2>/dev/null || true)
    if [ -n "$sanitizer" ]; then
      cd cuda && step memcheck 120 "$sanitizer" --tool memcheck --error-exitcode 1 ./cuda.test -test.timeout 110s -test.run '^TestCUDAExecutorMatchesCPU$'
      cd "$work" || return 1
    else
      log "memcheck: skipped, no compute-sanitizer"
      results[memcheck]=skipped
    fi
  fi

  # The fallback: the real (or stub) driver with no GPU visible.
  cd cuda && step cuda-fallback-tests 90 env CUDA_VISIBLE_DEVICES= SOFTMAXCTL_TEST_CUDA=none ./cuda.test -test.timeout 80s -test.v -test.run 'CUDA'
  cd "$work" || return 1
  cd device && step device-fallback-tests 30 env CUDA_VISIBLE_DEVICES= SOFTMAXCTL_TEST_CUDA=none ./device.test -test.timeout 25s -test.v -test.run 'Select'
  cd "$work" || return 1
  cd cli && step cli-fallback-tests 90 env CUDA_VISIBLE_DEVICES= SOFTMAXCTL_TEST_CUDA=none SOFTMAXCTL_CUDA_BIN="$work/softmaxctl-cuda" ./cli.test -test.timeout 80s -test.v -test.run 'WithoutGPU'
  cd "$work" || return 1
  fallback_notice=$(CUDA_VISIBLE_DEVICES= timeout 60 ./softmaxctl-cuda train --data data --no-download --epochs 1 --device auto --json \
    --out "$work/auto.safetensors" 2>&1 >"$work/auto.json" | grep -m1 'GPU not used' || true)
  fallback_device=$(tail -1 "$work/auto.json" | sed -n 's/.*"device":"\([a-z]*\)".*/\1/p')
  log "train --device auto with no GPU visible: device ${fallback_device:-none}; notice: ${fallback_notice:-none}"
  if [[ $fallback_device == cpu && -n $fallback_notice ]]; then results[auto-fallback]=pass; else results[auto-fallback]=fail; fi

  total=$((SECONDS - t0))
  write_result
  log "result: $(cat "$OUT/result.json")"
  grep -q '"pass":true' "$OUT/result.json"
}

# field NAME JSON: a number of the summary line train --json ends with.
field() { sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p" <<<"$2"; }

# json STRING: STRING as a JSON string.
json() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=$(tr -d '\000-\037' <<<"$s")
  printf '"%s"' "$s"
}

# num VALUE: VALUE, or null when empty.
num() { if [ -n "${1:-}" ]; then printf '%s' "$1"; else printf null; fi; }

# sdk_archive writes $OUT/cuda-sdk.tgz: the toolkit's C headers, the
# exported symbols of its driver, cuBLAS and NVRTC (syms.txt), and what
# was found where (sdk.txt).
sdk_archive() {
  local inc stage lib
  inc=$(dirname "$(find -L "$cuda_home/include" "$cuda_home"/targets/*/include -maxdepth 1 -name cuda.h 2>/dev/null | head -1)")
  if [ ! -f "$inc/cuda.h" ]; then
    log "cuda-sdk.tgz: skipped, no cuda.h under $cuda_home"
    return
  fi
  stage=$(mktemp -d)
  {
    echo "$smi"
    command -v nvcc >/dev/null && nvcc --version | tail -2
    echo "include: $inc"
    ls -l "$cuda_home"/lib64/lib{cuda,cublas,cublasLt,nvrtc}.so* /usr/local/nvidia/lib64/libcuda.so* /usr/lib/x86_64-linux-gnu/libcuda.so* 2>/dev/null
  } >"$stage/sdk.txt" 2>&1
  mkdir -p "$stage/include"
  cp "$inc"/*.h "$inc"/*.hpp "$stage/include/" 2>/dev/null
  cp -r "$inc/crt" "$stage/include/" 2>/dev/null
  for d in "$inc/nv" "$inc/cccl/nv"; do [ -d "$d" ] && cp -r "$d" "$stage/include/nv" && break; done
  for lib in /usr/local/nvidia/lib64/libcuda.so.1 /usr/lib/x86_64-linux-gnu/libcuda.so.1 /usr/lib64/libcuda.so.1 \
    "$cuda_home"/lib64/libcublas.so.* "$cuda_home"/lib64/libcublasLt.so.* "$cuda_home"/lib64/libnvrtc.so.*; do
    [ -f "$lib" ] || continue
    echo "## $lib"
    nm -D --defined-only "$lib" 2>/dev/null | awk '{print $NF}'
  done >"$stage/syms.txt"
  timeout 60 tar czf "$OUT/cuda-sdk.tgz" -C "$stage" . && log "cuda-sdk.tgz: $(du -h "$OUT/cuda-sdk.tgz" | cut -f1) (headers of $inc, symbols of $(grep -c '^## ' "$stage/syms.txt") libraries)"
  rm -rf "$stage"
}

# write_result writes $OUT/result.json from what main found.
write_result() {
  local tests="" k pass=true diff=null loop_ok=null proc_ok=null
  for k in "${!results[@]}"; do
    tests+="${tests:+,}$(json "$k"):$(json "${results[$k]}")"
    [[ ${results[$k]} == fail || ${results[$k]} == timeout ]] && pass=false
  done
  [[ ${libraries_resolved:-false} == true ]] || pass=false
  if ${gpu:-false}; then
    if [[ -n ${acc[cuda]:-} && -n ${acc[cpu]:-} && ${ran_on[cuda]:-} == cuda ]]; then
      diff=$(awk -v a="${acc[cuda]}" -v b="${acc[cpu]}" 'BEGIN { d = (a - b) * 100; if (d < 0) d = -d; printf "%.3f", d }')
      awk -v d="$diff" 'BEGIN { exit !(d <= 0.5) }' || pass=false
      loop_ok=$(awk -v s="${loop[cuda]}" 'BEGIN { print (s != "" && s <= 0.43) ? "true" : "false" }')
      proc_ok=$(awk -v s="${wall[cuda]}" 'BEGIN { print (s < 2) ? "true" : "false" }')
    else
      pass=false
    fi
  fi
  train_json() {
    printf '{"device":%s,"val_acc":%s,"train_seconds":%s,"loop_seconds":%s,"process_seconds":%s}' "$(json "${ran_on[$1]:-}")" \
      "$(num "${acc[$1]:-}")" "$(num "${secs[$1]:-}")" "$(num "${loop[$1]:-}")" "$(num "${wall[$1]:-}")"
  }
  {
    printf '{"gpu":%s,"libraries_resolved":%s,"libraries":%s,"version":%s,' "${gpu:-false}" "${libraries_resolved:-false}" \
      "$(json "${libs:-}")" "$(json "${version:-}")"
    printf '"nvidia_smi":%s,' "$(json "${smi:-}")"
    printf '"tests":{%s},' "$tests"
    printf '"epochs":%s,"cuda":%s,"cpu":%s,"acc_diff_points":%s,' "$epochs" "$(train_json cuda)" "$(train_json cpu)" "$diff"
    printf '"rounds":{"softmaxctl_cuda":{"loop_seconds":[%s],"process_seconds":[%s]},"torch_cuda":{"val_acc":%s,"loop_seconds":[%s],"process_seconds":[%s]}},' \
      "${rounds_sm_loop:-}" "${rounds_sm_proc:-}" "$(num "${torch_acc:-}")" "${rounds_torch_loop:-}" "${rounds_torch_proc:-}"
    printf '"step_ns":{"cuda":%s},' "$(num "${step_cuda_ns:-}")"
    printf '"targets":{"loop_le_0.43s":%s,"process_lt_2s":%s},' "$loop_ok" "$proc_ok"
    printf '"fallback":{"device":%s,"notice":%s},' "$(json "${fallback_device:-}")" "$(json "${fallback_notice:-}")"
    printf '"seconds":%s,"pass":%s}\n' "$(num "${total:-}")" "$pass"
  } >"$OUT/result.json"
}

main "$@" 2>&1 | tee "$OUT/gpu-check.log"
exit "${PIPESTATUS[0]}"
