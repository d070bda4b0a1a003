#!/usr/bin/env bash
# One wheel must serve every CPU of the architecture: only the per-ISA kernel
# files (isa/avx2.c, isa/avx512.c) may be compiled with -m flags.  This checks the
# objects of a build: the baseline ones (everything else) must hold no
# AVX/AVX-512 instruction (no ymm/zmm register, no VEX-encoded instruction),
# and the AVX2 ones must (else the flags did not reach them).
#
#   scripts/check_baseline.sh [BUILD_DIR]     (default: build/ of the repo)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
command -v objdump >/dev/null || { echo "check_baseline: objdump not found (binutils)" >&2; exit 2; }
if grep -nE -- '-march|-mtune|native' setup.py; then
    echo "check_baseline: setup.py asks for CPU-specific code generation (above)" >&2
    exit 1
fi
for v in CFLAGS CPPFLAGS FASTCONV_CFLAGS; do
    case " ${!v:-} " in *-march*|*-mavx*) echo "check_baseline: \$$v has ${!v}" >&2; exit 1;; esac
done
mapfile -t objs < <(find "$dir" -name '*.o' | sort)
[ ${#objs[@]} -gt 0 ] || { echo "check_baseline: no objects under $dir (build first)" >&2; exit 2; }
bad=0
printf "%-28s %8s %8s %8s\n" object ymm zmm vex
for o in "${objs[@]}"; do
    dis=$(objdump -d --no-show-raw-insn "$o")
    ymm=$(grep -c '%ymm' <<<"$dis" || true)
    zmm=$(grep -c '%zmm' <<<"$dis" || true)
    # VEX/EVEX instructions are the v-prefixed mnemonics (vaddps, vmovdqu, vzeroupper, ...)
    vex=$(grep -cP '^\s+[0-9a-f]+:\s+v[a-z0-9]+\s' <<<"$dis" || true)
    name=$(basename "$o")
    printf "%-28s %8d %8d %8d" "$name" "$ymm" "$zmm" "$vex"
    case "$name" in
        avx512.o) echo "  (AVX-512 kernels: allowed)";;
        avx2.o)   if [ "$ymm" -eq 0 ]; then echo "  NO AVX2 CODE?"; bad=1; else echo "  (AVX2 kernels: allowed)"; fi;;
        *)          if [ $((ymm + zmm + vex)) -ne 0 ]; then echo "  BASELINE HAS AVX"; bad=1; else echo "  baseline: ok"; fi;;
    esac
done
if [ $bad -ne 0 ]; then echo "check_baseline: FAILED" >&2; exit 1; fi
echo "check_baseline: the baseline objects hold no AVX instruction"
