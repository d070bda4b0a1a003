#!/usr/bin/env bash
# The kernels on the Windows ABI without Windows (issue 27): every kernel file
# compiled by MinGW-w64's GCC (the GCC vector extensions, the CRT's aligned
# heap, Windows threads) with warnings as errors, linked with
# scripts/c_kernel_check.c into a static .exe, run under Wine: each
# implementation on every ISA level this CPU has, 1 and 2 threads, against a
# float64 loop.  Needs Debian's gcc-mingw-w64-x86-64 and wine64 (CI installs
# them); without them it says so and exits 0 (nothing checked).
#   scripts/wine_check.sh      (about a minute)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
K="$REPO/src/fastconv/_kernels"
CC=${MINGW_CC:-x86_64-w64-mingw32-gcc}
WINE=$(command -v wine64 || command -v wine || true)
if ! command -v "$CC" >/dev/null || [ -z "$WINE" ]; then
    echo "wine_check: skipped ($CC or wine not found: apt-get install -y gcc-mingw-w64-x86-64 wine64)"
    exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
base=(-O2 -std=c99 -Wall -Wextra -Werror -fno-math-errno -fopenmp -I"$K" -I"$K/include")
for f in api/api impl/pad runtime/cpu runtime/threads runtime/scratch runtime/pool isa/vec128; do
    "$CC" "${base[@]}" -c "$K/$f.c" -o "$out/$(basename "$f").o" &
done
"$CC" "${base[@]}" -mavx2 -mfma -ffp-contract=fast -c "$K/isa/avx2.c" -o "$out/avx2.o" &
"$CC" "${base[@]}" -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -ffp-contract=fast \
    -c "$K/isa/avx512.c" -o "$out/avx512.o" &
wait
for f in api pad cpu threads scratch pool vec128 avx2 avx512; do
    [ -s "$out/$f.o" ] || { echo "wine_check: $f did not compile" >&2; exit 1; }
done
"$CC" "${base[@]}" "$REPO/scripts/c_kernel_check.c" "$out"/*.o -lm -static -o "$out/check.exe"
export WINEDEBUG=-all WINEPREFIX="${WINEPREFIX:-$out/wine}"
status=0
"$WINE" "$out/check.exe" || status=$?
"$(dirname "$WINE")/wineserver" -w 2>/dev/null || true   # let Wine finish with the prefix first
exit $status
