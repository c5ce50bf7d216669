#!/usr/bin/env bash
# Lays out a CUDA SDK for compiling, linking and testing the softmaxctl_cuda
# build on a machine without a GPU or a CUDA toolkit, and prints its folder
# (a CUDA_HOME) as the last line on stdout:
#
#   include/  the C headers of Debian bookworm's nvidia-cuda-dev (CUDA 11.8,
#             non-free), checked file by file against scripts/cuda-headers.sha256
#   lib64/    stub libcuda.so.1, libcublas.so.N and libnvrtc.so.N with every
#             function the headers declare: enough to link, and at run time a
#             driver library on a machine with no usable GPU (cuInit returns
#             CUDA_ERROR_NO_DEVICE; see scripts/cuda-stub/nodevice.c)
#   lib64/fake13/  a CUDA_HOME with only CUDA 13's sonames (libcuda.so.1 of
#             a CUDA 13.0 driver that sees no GPU, libcublas.so.13,
#             libnvrtc.so.13), stubs likewise, for checking the GPU bundle
#   real/     NVIDIA's own libcuda.so.1 (driver 535) and NVRTC 11.8 from the
#             same archive, which load and answer without a GPU: the driver's
#             cuInit fails with CUDA_ERROR_NO_DEVICE, NVRTC compiles
#
# Only the start of the 774 MB nvidia-cuda-dev is downloaded: /usr/include
# comes first in its data.tar.xz, in about 1 MB; the three runtime packages
# are 20 MB. The packages' URLs come from apt, through a sources entry
# derived from the Debian archive apt already uses, with the non-free
# component; the entry and apt's lists live in a temporary folder, so the
# system's apt configuration is not changed and no root is needed. apt
# checks each downloaded package against its signed index, and this script
# against the SHA-256 sums pinned in scripts/cuda-headers.sha256.
#
# NVIDIA's headers and libraries must not be committed: the SDK is cached
# outside the repository, in
# ${SOFTMAXCTL_CUDA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/softmaxctl-cuda}/<pin>,
# keyed by the hash of the pinned sums, so a new pin never reuses old files.
#
#   scripts/cuda-sdk.sh        lay out (or reuse) the SDK, print its folder
#   scripts/cuda-sdk.sh pin    fetch the versions apt offers now and rewrite
#                              scripts/cuda-headers.sha256 (review the diff
#                              before committing it)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
manifest=$here/cuda-headers.sha256
stubsrc=$here/cuda-stub/nodevice.c
mode=${1:-sdk}
# /usr/include is complete after about 1.0 MB of the compressed data;
# 2 MiB leaves room for a rebuild of the package that moves it a little.
range_bytes=$((2 * 1024 * 1024))

log() { echo "cuda-sdk: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in apt-get dpkg-deb curl xz tar sha256sum gcc dd; do
  command -v "$tool" >/dev/null || die "needs $tool (Debian: apt-get install apt dpkg curl xz-utils tar coreutils gcc)"
done

pinned() { [ -f "$manifest" ] && sed -n "s/^# $1: //p" "$manifest"; }
package=$(pinned package) || true; version=$(pinned version) || true; suite=$(pinned suite) || true
deb_sha256=$(pinned deb-sha256) || true; nvrtc_soname=$(pinned nvrtc-soname) || true
cublas_soname=$(pinned cublas-soname) || true
runtime=$(pinned runtime-deb) || true # lines "NAME VERSION SHA256"
if [ "$mode" = pin ]; then
  # A first pin: bookworm's CUDA 11.8, whose NVRTC is libnvrtc.so.11.2.
  package=${package:-nvidia-cuda-dev}; suite=${suite:-bookworm}; nvrtc_soname=${nvrtc_soname:-libnvrtc.so.11.2}
  runtime=${runtime:-"libcuda1 any any
libnvrtc11.2 - -
libnvrtc-builtins11.8 - -"}
else
  [ -n "$package" ] && [ -n "$version" ] && [ -n "$suite" ] && [ -n "$deb_sha256" ] &&
    [ -n "$cublas_soname" ] && [ -n "$nvrtc_soname" ] && [ -n "$runtime" ] || die "$manifest lacks a '# key: value' line"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# apt_private runs apt-get with only the derived non-free entry, its lists
# under $work: nothing of the system's apt state is written.
apt_private() {
  apt-get -q -o Dir::Etc::SourceList="$work/apt/nonfree.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache" \
    -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)" \
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false "$@"
}

# derive_source writes a sources entry for the pinned suite's non-free
# component on the Debian archive apt is configured with (asked of apt,
# so one-line and deb822 sources files both work).
derive_source() {
  local repo
  # --no-release-info: the configured entries, even where apt's lists are
  # empty (a fresh container).
  repo=$(apt-get indextargets --no-release-info --format '$(REPO_URI)' "Release: $suite" "Component: main" "Identifier: Packages" | head -1)
  if [ -z "$repo" ]; then
    # Another release's main component on the same archive also carries
    # $suite (Debian keeps older releases in the same tree).
    repo=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' "Component: main" "Identifier: Packages" |
      awk '$2 !~ /-(security|updates|backports)$/ {print $1; exit}')
  fi
  [ -n "$repo" ] || die "apt has no Debian archive with a main component configured: cannot derive a non-free entry for $suite"
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
  local opts=""
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && opts="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
  echo "deb ${opts}${repo} ${suite} non-free" >"$work/apt/nonfree.list"
  log "apt source: $(cat "$work/apt/nonfree.list")"
}

# apt_ready derives the entry and fetches its index, once per run.
apt_ready() {
  [ -f "$work/apt/ready" ] && return 0
  derive_source
  apt_private update -qq >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; die "apt-get update of the derived non-free entry failed"; }
  touch "$work/apt/ready"
}

# proxy_env exports apt's HTTP proxy, if it has one, for curl.
proxy_env() {
  local p
  p=$(apt-config dump Acquire::http::Proxy | sed -n 's/^Acquire::http::Proxy "\(.*\)";$/\1/p' | head -1)
  if [ -n "$p" ] && [ "$p" != DIRECT ]; then export http_proxy=$p; fi
}

# fetch_headers DEST VERSION_OR_EMPTY extracts the package's /usr/include
# into DEST and prints "version sha256" of the .deb apt describes.
fetch_headers() {
  local dest=$1 want=$2 line url sha ver
  apt_ready
  line=$(apt_private download --print-uris "${package}${want:+=$want}" 2>"$work/uris.err" | head -1) ||
    { cat "$work/uris.err" >&2; die "apt does not offer ${package}${want:+ $want} from $suite non-free"; }
  [ -n "$line" ] || { cat "$work/uris.err" >&2; die "apt does not offer ${package}${want:+ $want} from $suite non-free"; }
  # 'URL' FILE SIZE SHA256:HEX
  url=$(echo "$line" | cut -d"'" -f2)
  sha=$(echo "$line" | awk '{print $4}' | sed 's/^SHA256://')
  ver=$(basename "$(echo "$line" | awk '{print $2}')" | cut -d_ -f2 | sed 's/%7e/~/g')
  proxy_env
  # An ar archive: 8-byte magic, then members, each a 60-byte header
  # (name at 0, decimal size at 48) and its data padded to an even length.
  # Each header is fetched on its own: the control member's size varies.
  curl -fsS -r 0-7 -o "$work/magic" "$url" || die "download the start of $url failed"
  [ "$(cat "$work/magic")" = '!<arch>' ] || die "$url is not a Debian package (no ar magic)"
  local off=8 i name size data_off=""
  for i in 1 2 3; do
    curl -fsS -r "$off-$((off + 59))" -o "$work/member" "$url" || die "download of a member header of $url failed"
    name=$(head -c 16 "$work/member" | tr -d ' ')
    size=$(dd if="$work/member" bs=1 skip=48 count=10 status=none | tr -d ' ')
    case $i:$name in
      1:debian-binary | 2:control.tar.* ) ;;
      3:data.tar.xz ) data_off=$((off + 60)) ;;
      * ) die "unexpected member $i '$name' in $url" ;;
    esac
    off=$((off + 60 + size + size % 2))
  done
  log "fetching the headers: bytes $data_off-$((data_off + range_bytes - 1)) of $(basename "$url")"
  curl -fsS -r "$data_off-$((data_off + range_bytes - 1))" -o "$work/data.xz" "$url" || die "download of the headers failed"
  mkdir -p "$dest"
  # The stream is cut short on purpose: xz and tar fail at its end, after
  # writing every complete member. The sums decide what is complete.
  { xz -dc "$work/data.xz" 2>/dev/null || true; } | { tar -x -C "$dest" --strip-components=3 ./usr/include 2>/dev/null || true; }
  [ -f "$dest/cuda.h" ] || die "no cuda.h in the first $range_bytes bytes of $url's data"
  echo "$ver $sha"
}

# fetch_runtime DEST: the pinned runtime packages' shared libraries in DEST.
fetch_runtime() {
  local dest=$1 name ver sha got
  apt_ready
  mkdir -p "$work/debs" "$work/x" "$dest"
  while read -r name ver sha; do
    # "any": the version apt offers now, which apt checks against Debian's
    # signed index. The driver is pinned so: Debian replaces it at each
    # security update and the old version leaves the archive.
    local want=$name
    [ "$ver" = any ] || want="$name=$ver"
    (cd "$work/debs" && apt_private download -qq "$want") >"$work/dl.log" 2>&1 ||
      { cat "$work/dl.log" >&2; die "apt could not download $want from $suite non-free; if Debian replaced it, review the new version, then run scripts/cuda-sdk.sh pin"; }
    got=$(sha256sum "$work/debs/${name}_"*.deb | cut -d' ' -f1)
    [ "$sha" = any ] || [ "$got" = "$sha" ] || die "$name $ver has the SHA-256 $got, the pin $sha"
    log "$(basename "$work/debs/${name}_"*.deb) (SHA-256 $got)"
    dpkg-deb -x "$work/debs/${name}_"*.deb "$work/x"
  done <<<"$runtime"
  # The driver sits in nvidia/current/ (Debian's alternatives), NVRTC in
  # the library folder itself.
  find "$work/x" -name '*.so*' \( -type f -o -type l \) -exec cp -a {} "$dest"/ \;
  [ -e "$dest/libcuda.so.1" ] && [ -e "$dest/$nvrtc_soname" ] || die "the runtime packages lack libcuda.so.1 or $nvrtc_soname"
  log "real libraries: $(cd "$dest" && ls | tr '\n' ' ')"
}

if [ "$mode" = pin ]; then
  out=$(fetch_headers "$work/include" "")
  read -r ver sha <<<"$out"
  {
    echo "# The C headers of Debian's $package (/usr/include), checked by scripts/cuda-sdk.sh."
    echo "# Rewritten by \`scripts/cuda-sdk.sh pin\`; the lines below are read by the script."
    echo "# package: $package"
    echo "# version: $ver"
    echo "# suite: $suite"
    echo "# deb-sha256: $sha"
    echo "# cublas-soname: libcublas.so.$(sed -n 's/^#define CUBLAS_VER_MAJOR \([0-9]*\).*/\1/p' "$work/include/cublas_api.h")"
    echo "# nvrtc-soname: $nvrtc_soname"
    while read -r name pinver _; do
      if [ "$pinver" = any ]; then echo "# runtime-deb: $name any any"; continue; fi
      # 'URL' FILE SIZE SHA256:HEX, FILE being NAME_VERSION_ARCH.deb
      apt_private download --print-uris "$name" | head -1 | awk '{split($2, f, "_"); sub(/^SHA256:/, "", $4); print f[2], $4}' |
        sed 's/%7e/~/g' | { read -r v h && echo "# runtime-deb: $name $v $h"; }
    done <<<"$runtime"
    (cd "$work/include" && find . -type f | LC_ALL=C sort | xargs sha256sum)
  } >"$manifest.new"
  mv "$manifest.new" "$manifest"
  log "wrote $manifest for $package $ver; check nvrtc-soname by hand (the headers do not name it)"
  exit 0
fi
[ "$mode" = sdk ] || die "unknown mode '$mode': use no argument, or pin"

cache=${SOFTMAXCTL_CUDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/softmaxctl-cuda}
key=$(sha256sum "$manifest" | cut -c1-16)
sdk=$cache/$key
mkdir -p "$cache"

# check_sums DIR: every pinned file there with its pinned sum, nothing else.
check_sums() {
  local dir=$1
  grep -v '^#' "$manifest" >"$work/sums"
  (cd "$dir" && sha256sum --check --strict --quiet "$work/sums") >"$work/check.log" 2>&1 || {
    head -20 "$work/check.log" >&2
    return 1
  }
  local want got
  want=$(wc -l <"$work/sums"); got=$(cd "$dir" && find . -type f | wc -l)
  [ "$want" -eq "$got" ] || { log "$dir holds $got files, the pin lists $want"; return 1; }
}

if [ ! -f "$sdk/include/.checked" ]; then
  rm -rf "$sdk.tmp" && mkdir -p "$sdk.tmp"
  out=$(fetch_headers "$sdk.tmp/include" "$version")
  read -r ver sha <<<"$out"
  [ "$ver" = "$version" ] || die "apt offered $package $ver, the pin is $version"
  [ "$sha" = "$deb_sha256" ] || die "apt's index gives $package $version the SHA-256 $sha, the pin $deb_sha256: the archive changed; review it, then run scripts/cuda-sdk.sh pin"
  check_sums "$sdk.tmp/include" || die "the headers differ from scripts/cuda-headers.sha256 (above); if Debian updated $package, review it, then run scripts/cuda-sdk.sh pin"
  touch "$sdk.tmp/include/.checked"
  rm -rf "$sdk" && mv "$sdk.tmp" "$sdk"
  log "headers of $package $version checked against the pinned sums"
fi

if [ ! -f "$sdk/real/.checked" ]; then
  rm -rf "$sdk/real.tmp"
  fetch_runtime "$sdk/real.tmp"
  touch "$sdk/real.tmp/.checked"
  rm -rf "$sdk/real" && mv "$sdk/real.tmp" "$sdk/real"
fi

# The stubs are rebuilt when their recipe changes: their stamp is the hash
# of this script and of nodevice.c.
stubkey=$(cat "$0" "$stubsrc" | sha256sum | cut -c1-16)
if [ "$(cat "$sdk/lib64/.stamp" 2>/dev/null)" != "$stubkey" ]; then
  lib=$work/lib64 && mkdir -p "$lib"
  # Every cu*/cublas*/nvrtc* name the headers declare as a function, after
  # their macros (cuMemAlloc → cuMemAlloc_v2, as callers see it).
  printf '#include <cuda.h>\n#include <cublas_v2.h>\n#include <nvrtc.h>\n' |
    gcc -E -I"$sdk/include" -x c - | grep -oE '\b(cu|nvrtc)[A-Za-z0-9_]+[[:space:]]*\(' |
    tr -d '( \t' | LC_ALL=C sort -u >"$work/names"
  # The names nodevice.c defines itself.
  grep -oE '^[a-zA-Z_ *]+\b(cu|nvrtc)[A-Za-z0-9_]+\(' "$stubsrc" | grep -oE '(cu|nvrtc)[A-Za-z0-9_]+' | sort -u >"$work/handwritten"
  stub() { # dest soname regex status-code define [cflags...]
    local dest=$1 soname=$2 re=$3 code=$4 def=$5 base=${2%%.so*}
    shift 5
    grep -E "$re" "$work/names" | grep -vxF -f "$work/handwritten" |
      sed "s/.*/int &(void) { return $code; }/" >"$work/$base.gen.c"
    gcc -std=c99 -O2 -fPIC -w -c -o "$work/$base.gen.o" "$work/$base.gen.c"
    gcc -std=c99 -O2 -fPIC -Wall -Werror -D"$def" "$@" -I"$sdk/include" -c -o "$work/$base.hand.o" "$stubsrc"
    gcc -shared -o "$dest/$soname" -Wl,-soname,"$soname" "$work/$base.gen.o" "$work/$base.hand.o"
    [ "$dest" = "$lib" ] && ln -sf "$soname" "$dest/$base.so"
    log "stub $soname in ${dest#"$work"/}: $(wc -l <"$work/$base.gen.c") generated functions + nodevice.c"
  }
  stub "$lib" libcuda.so.1 '^cu[A-Z]' 100 STUB_CUDA     # CUDA_ERROR_NO_DEVICE
  stub "$lib" "$cublas_soname" '^cublas' 1 STUB_CUBLAS  # CUBLAS_STATUS_NOT_INITIALIZED
  stub "$lib" "$nvrtc_soname" '^nvrtc' 11 STUB_NVRTC    # NVRTC_ERROR_INTERNAL_ERROR
  # fake13/: a machine with only CUDA 13's libraries and a CUDA 13 driver
  # that sees no GPU, as the GPU machine looks with its GPU hidden: the
  # bundle's script is checked against it (make check-cuda).
  mkdir -p "$lib/fake13/lib64"
  stub "$lib/fake13/lib64" libcuda.so.1 '^cu[A-Z]' 100 STUB_CUDA -DSTUB_DRIVER_VERSION=13000
  stub "$lib/fake13/lib64" libcublas.so.13 '^cublas' 1 STUB_CUBLAS
  stub "$lib/fake13/lib64" libnvrtc.so.13 '^nvrtc' 11 STUB_NVRTC
  echo "$stubkey" >"$lib/.stamp"
  rm -rf "$sdk/lib64.old"
  [ -d "$sdk/lib64" ] && mv "$sdk/lib64" "$sdk/lib64.old"
  mv "$lib" "$sdk/lib64" && rm -rf "$sdk/lib64.old"
fi
echo "$sdk"
