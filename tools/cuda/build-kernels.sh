#!/usr/bin/env bash
# Compiles the CUDA kernels of src/main/cuda with nvcc 11.8 into the committed files under
# src/main/resources/kernels, so that they load on every NVIDIA driver from CUDA 11.8 (r520) on:
#   <module>.ptx     one PTX module per source for compute_70 (PTX ISA 7.8, which every driver of CUDA 11.8 or
#                    later JIT-compiles, for Volta and every later GPU);
#   <module>.fatbin  SASS for sm_70 (V100), sm_75 (T4), sm_80 (A100), sm_86 (A10, RTX 30), sm_89 (L4, RTX 40)
#                    and sm_90 (H100/H200), plus PTX for compute_70 and compute_80: GPUs without matching SASS
#                    (sm_100, sm_120, ...) JIT-compile the newest PTX not above them, compute_80, whose TF32
#                    kernels use the tensor cores (compute_70's carry only their fp32 fallback);
#   MANIFEST         source hash, nvcc version, host compiler, flags, and per module the PTX ISA version and the
#                    SASS list read back from the files written.
# nvcc 11.8 is the toolkit of Debian bookworm's non-free component (package nvidia-cuda-toolkit, installed under
# /usr/lib/nvidia-cuda-toolkit; see docs/cuda.md). nvcc 12 or 13 would write PTX ISA 8.x/9.0, which older drivers
# refuse, and nvcc 13 cannot target sm_70 at all, so regenerating insists on release 11.8. nvcc's output is
# deterministic for a given nvcc version and host compiler, and no file embeds a path, so regenerating an
# unchanged tree reproduces the committed bytes.
#
# Usage: tools/cuda/build-kernels.sh [--if-stale | --check]
#   (none)      regenerate everything (needs nvcc 11.8; fails naming the nvcc it found otherwise)
#   --if-stale  regenerate only when the sources, flags or nvcc version differ from MANIFEST (the Maven
#               build runs this; without nvcc 11.8 it keeps the committed files and says so)
#   --check     CI: verify the committed files without any toolkit: MANIFEST's source hash matches the sources,
#               every .ptx declares PTX ISA 7.8 for sm_70, and every fatbin holds exactly the SASS list above
#               plus compute_70 and compute_80 PTX (its container headers are parsed with python3; the same check runs in
#               Java as KernelBinariesTest); with nvcc 11.8 present it also regenerates into a temporary
#               directory and fails if any committed file differs
# Environment: NVCC (default /usr/lib/nvidia-cuda-toolkit/bin/nvcc when present, else nvcc on the PATH),
#              CCBIN (host compiler for nvcc; default g++-11 when present: nvcc 11.8 accepts gcc <= 11), JOBS.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=src/main/cuda
OUT=src/main/resources/kernels
MODE=${1:-}
case "$MODE" in ""|--if-stale|--check) ;; *) echo "usage: $0 [--if-stale | --check]" >&2; exit 2 ;; esac

NVCC_RELEASE=11.8                  # the toolkit the committed kernels come from
PTX_ISA=7.8                        # what nvcc 11.8 writes; drivers of CUDA 11.8 (r520) and later JIT it
PTX_ARCH=70                        # the .ptx modules' virtual architecture: Volta and later
SASS_ARCHS="70 75 80 86 89 90"     # SASS in every fatbin
FATBIN_PTX_ARCHS="70 80"           # PTX in every fatbin: compute_80 has the TF32 tensor-core code for the JIT
DEBIAN_NVCC=/usr/lib/nvidia-cuda-toolkit/bin/nvcc
if [ -z "${NVCC:-}" ]; then
  if [ -x "$DEBIAN_NVCC" ]; then NVCC=$DEBIAN_NVCC; else NVCC=nvcc; fi
fi
if [ -z "${CCBIN:-}" ] && command -v g++-11 > /dev/null 2>&1; then CCBIN=g++-11; fi

PTX_FLAGS="-ptx -arch=compute_$PTX_ARCH -std=c++17 -O3"
FATBIN_FLAGS="-fatbin -std=c++17 -O3"
for a in $SASS_ARCHS; do FATBIN_FLAGS+=" -gencode arch=compute_$a,code=sm_$a"; done
for a in $FATBIN_PTX_ARCHS; do FATBIN_FLAGS+=" -gencode arch=compute_$a,code=compute_$a"; done
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

# sha256 over "sha256  name" lines of the nvcc inputs (top-level *.cu and *.cuh, C-locale order);
# dev.pdecnn.backend.cuda.KernelModules.sourceHash computes the same in Java.
source_hash() {
  (cd "$SRC" && LC_ALL=C ls -1 | LC_ALL=C grep -E '\.(cu|cuh)$' | LC_ALL=C sort | while read -r f; do
    printf '%s  %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"
  done) | sha256sum | cut -d' ' -f1
}

modules() {
  (cd "$SRC" && LC_ALL=C ls -1 | LC_ALL=C grep -E '\.cu$' | LC_ALL=C sort | sed 's/\.cu$//')
}

manifest_value() { # $1 = key
  [ -f "$OUT/MANIFEST" ] && sed -n "s/^$1 //p" "$OUT/MANIFEST" || true
}

# What a directory of kernels holds, one line per module: "<module> ptx-isa <X.Y> ptx-target sm_<N>
# fatbin sass sm_70,sm_75,... ptx compute_70 fatbin-ptx-isa 7.8". The fatbin container (what nvcc -fatbin
# writes) is a 16-byte header (u32 magic 0xBA55ED50, u16 version, u16 header size, u64 size of the entries that
# follow) and then entries, each a header (u16 kind: 1 PTX, 2 ELF/SASS; u16 version; u32 header size; u64
# payload size; u32 compressed size; u32; u16 minor and u16 major at byte 24, the PTX ISA version of a PTX
# entry; u32 arch at byte 28, e.g. 90) followed by its payload (nvcc 11.8 LZ4-compresses the embedded PTX). KernelBinariesTest parses the same in Java
# (dev.pdecnn.backend.cuda.Fatbin).
describe() { # $1 = directory
  if ! command -v python3 > /dev/null 2>&1; then
    echo "build-kernels: python3 is needed to read the fatbin headers" >&2
    return 1
  fi
  python3 - "$1" $(modules) <<'EOF'
import re, struct, sys
d, mods = sys.argv[1], sys.argv[2:]
for m in mods:
    ptx = open(f"{d}/{m}.ptx", encoding="utf-8").read()
    isa = re.search(r"^\.version\s+(\S+)", ptx, re.M)
    tgt = re.search(r"^\.target\s+(\w+)", ptx, re.M)
    b = open(f"{d}/{m}.fatbin", "rb").read()
    magic, _, hsize, size = struct.unpack_from("<IHHQ", b, 0)
    if magic != 0xBA55ED50 or hsize + size > len(b):
        sys.exit(f"{m}.fatbin: not a fatbin container (magic {magic:#x})")
    sass, ptxs, isas, off = [], [], set(), hsize
    while off < hsize + size:
        kind, _, ehsize, psize = struct.unpack_from("<HHIQ", b, off)
        minor, major, arch = struct.unpack_from("<HHI", b, off + 24)
        {1: ptxs, 2: sass}.get(kind, []).append(arch)
        if kind == 1:
            isas.add(f"{major}.{minor}")
        off += ehsize + psize
    print(f"{m} ptx-isa {isa.group(1) if isa else '?'} ptx-target {tgt.group(1) if tgt else '?'} fatbin sass "
          + ",".join(f"sm_{a}" for a in sorted(sass)) + " ptx " + ",".join(f"compute_{a}" for a in sorted(ptxs))
          + " fatbin-ptx-isa " + ",".join(sorted(isas)))
EOF
}

expected_description() {
  local sass ptx
  sass=$(for a in $SASS_ARCHS; do printf 'sm_%s\n' "$a"; done | sort | paste -sd, -)
  ptx=$(for a in $FATBIN_PTX_ARCHS; do printf 'compute_%s\n' "$a"; done | sort | paste -sd, -)
  for m in $(modules); do
    echo "$m ptx-isa $PTX_ISA ptx-target sm_$PTX_ARCH fatbin sass $sass ptx $ptx fatbin-ptx-isa $PTX_ISA"
  done
}

manifest() { # $1 = directory the modules were written to
  echo "# Generated by tools/cuda/build-kernels.sh from $SRC: do not edit; rerun the script after editing the sources."
  echo "sources-sha256 $(source_hash)"
  echo "nvcc $NVCC_VERSION"
  echo "toolkit $TOOLKIT"
  echo "host-compiler $HOST_COMPILER"
  echo "ptx-flags $PTX_FLAGS"
  echo "fatbin-flags $FATBIN_FLAGS"
  describe "$1" | sed 's/^/module /'
}

# The checks that need no toolkit: sources, PTX ISA, SASS lists, and MANIFEST saying the same.
verify_committed() {
  local ok=1 actual expected
  if [ "$(manifest_value sources-sha256)" != "$(source_hash)" ]; then
    echo "build-kernels: $OUT is stale (MANIFEST's source hash differs from $SRC): run tools/cuda/build-kernels.sh with nvcc $NVCC_RELEASE and commit" >&2
    ok=0
  fi
  actual=$(describe "$OUT")
  expected=$(expected_description)
  if [ "$actual" != "$expected" ]; then
    echo "build-kernels: the committed kernels are not PTX ISA $PTX_ISA for sm_$PTX_ARCH with SASS for sm_{${SASS_ARCHS// /,}} + PTX compute_{${FATBIN_PTX_ARCHS// /,}}:" >&2
    diff <(echo "$expected") <(echo "$actual") | sed -n 's/^> /  found:    /p; s/^< /  expected: /p' >&2 || true
    ok=0
  fi
  if [ "$(sed -n 's/^module //p' "$OUT/MANIFEST")" != "$actual" ]; then
    echo "build-kernels: MANIFEST's module lines do not describe the committed files" >&2
    ok=0
  fi
  case "$(manifest_value nvcc)" in
    *"cuda_$NVCC_RELEASE."*) ;;
    *) echo "build-kernels: MANIFEST says the kernels come from '$(manifest_value nvcc)', not nvcc $NVCC_RELEASE" >&2; ok=0 ;;
  esac
  [ "$ok" = 1 ]
}

build_into() { # $1 = output directory
  local dir=$1 ccbin=""
  [ -n "${CCBIN:-}" ] && ccbin="-ccbin $CCBIN"
  mkdir -p "$dir"
  # nvcc runs ptxas and fatbinary from the PATH: its own directory first (/usr/local/bin may hold CUDA 13's)
  modules | PATH="$(dirname "$NVCC_PATH"):/usr/bin:$PATH" xargs -P "$JOBS" -I{} sh -c \
    "'$NVCC_PATH' $ccbin $PTX_FLAGS -o '$dir/{}.ptx' '$SRC/{}.cu' && '$NVCC_PATH' $ccbin $FATBIN_FLAGS -o '$dir/{}.fatbin' '$SRC/{}.cu'"
  manifest "$dir" > "$dir/MANIFEST.tmp"
  mv "$dir/MANIFEST.tmp" "$dir/MANIFEST"
}

# Which nvcc we have: NVCC_PATH and NVCC_VERSION set when it is release 11.8; NVCC_WRONG names any other.
NVCC_PATH="" NVCC_VERSION="" NVCC_WRONG=""
if p=$(command -v "$NVCC" 2> /dev/null); then
  v=$(PATH="$(dirname "$p"):/usr/bin:$PATH" "$p" --version 2> /dev/null || true)
  if grep -q "release $NVCC_RELEASE," <<< "$v"; then
    NVCC_PATH=$p
    NVCC_VERSION=$(tail -1 <<< "$v")
    TOOLKIT="CUDA $(sed -n 's/.*\(release .*\)/\1/p' <<< "$v")"
    if pkg=$(dpkg-query -S "$p" 2> /dev/null | cut -d: -f1) && [ -n "$pkg" ]; then
      TOOLKIT+=" (Debian package $pkg $(dpkg-query -W -f='${Version}' "$pkg" 2> /dev/null))"
    fi
    HOST_COMPILER="$("${CCBIN:-g++}" --version | head -1)"
  else
    NVCC_WRONG="$p ($(grep -o 'release [0-9.]*' <<< "$v" || echo 'unknown version'))"
  fi
fi
no_nvcc_reason() {
  if [ -n "$NVCC_WRONG" ]; then echo "nvcc $NVCC_RELEASE not found (found $NVCC_WRONG)"
  else echo "nvcc $NVCC_RELEASE not found (NVCC=$NVCC)"; fi
}

if [ -z "$NVCC_PATH" ]; then
  case "$MODE" in
    --if-stale)
      if [ "$(manifest_value sources-sha256)" = "$(source_hash)" ]; then
        echo "build-kernels: $(no_nvcc_reason); using the committed kernels in $OUT (they match the sources)"
      else
        echo "build-kernels: WARNING: the sources changed but $(no_nvcc_reason): the committed kernels in $OUT are stale; install the toolkit (docs/cuda.md) and rerun tools/cuda/build-kernels.sh" >&2
      fi
      exit 0 ;;
    --check)
      verify_committed
      echo "build-kernels: committed kernels match the sources, PTX ISA $PTX_ISA, SASS sm_{${SASS_ARCHS// /,}} + PTX compute_{${FATBIN_PTX_ARCHS// /,}} ($(no_nvcc_reason), so not regenerated)"
      exit 0 ;;
    *)
      echo "build-kernels: $(no_nvcc_reason): the committed kernels must come from CUDA $NVCC_RELEASE so that drivers from r520 on load them; install Debian bookworm's nvidia-cuda-toolkit (non-free; docs/cuda.md) or set NVCC to an nvcc $NVCC_RELEASE" >&2
      exit 1 ;;
  esac
fi

case "$MODE" in
  --if-stale)
    if [ "$(manifest_value sources-sha256)" = "$(source_hash)" ] && [ "$(manifest_value nvcc)" = "$NVCC_VERSION" ] \
       && [ "$(manifest_value ptx-flags)" = "$PTX_FLAGS" ] && [ "$(manifest_value fatbin-flags)" = "$FATBIN_FLAGS" ]; then
      echo "build-kernels: $OUT is up to date"
      exit 0
    fi
    echo "build-kernels: sources or flags changed; regenerating $OUT with $NVCC_VERSION" ;;
  --check)
    verify_committed
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    build_into "$tmp"
    if ! diff -r -q "$tmp" "$OUT" > /dev/null; then
      diff -r -q "$tmp" "$OUT" >&2 || true
      echo "build-kernels: the committed kernels in $OUT are stale: run tools/cuda/build-kernels.sh and commit" >&2
      exit 1
    fi
    echo "build-kernels: committed kernels are fresh ($NVCC_VERSION): PTX ISA $PTX_ISA, SASS sm_{${SASS_ARCHS// /,}} + PTX compute_{${FATBIN_PTX_ARCHS// /,}}"
    exit 0 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build_into "$tmp"
rm -f "$OUT"/*.ptx "$OUT"/*.fatbin "$OUT"/MANIFEST
mkdir -p "$OUT"
cp "$tmp"/* "$OUT"/
echo "build-kernels: wrote $(ls "$OUT" | wc -l) files to $OUT"
