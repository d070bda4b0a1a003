#!/usr/bin/env bash
# AArch64 under emulation (issue 27): cross-compile fastconv for AArch64 and run
# the test suite on qemu-user with an arm64 Debian root's Python and NumPy, so
# that the NEON level (isa/neon.c) and its portable twin (vec128) are tested on
# an x86-64 machine.  Needs Debian's packages (CI installs them):
#   apt-get install -y qemu-user gcc-aarch64-linux-gnu debootstrap
# and the host's Cython (to generate _core.c).  The arm64 root (Debian bookworm,
# python3 3.11, numpy 1.24, pytest, hypothesis; about 250 MB) is made once, by
# debootstrap's first stage and dpkg -x (nothing arm64 runs while it is made),
# and kept in $FC_ARM64_ROOT.
#
#   scripts/qemu_aarch64.sh                  # build, then the quick subset
#   scripts/qemu_aarch64.sh --full           # build, then the whole suite (slow: hours)
#   scripts/qemu_aarch64.sh -- tests/test_layout.py -k depthwise   # pytest args after --
#   scripts/qemu_aarch64.sh --build-only     # the cross-built package in $FC_ARM64_BUILD/pkg
#   scripts/qemu_aarch64.sh --no-build ...   # reuse the package built last time
#   scripts/qemu_aarch64.sh --python         # print the qemu command that runs the arm64 python
#
# The compile flags are setup.py's (BASE, and -ffp-contract=fast for the NEON
# level); warnings are errors.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${FC_ARM64_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/fastconv/arm64-root}
OUT=${FC_ARM64_BUILD:-${TMPDIR:-/tmp}/fastconv-arm64}
CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
for tool in qemu-aarch64 "$CC" debootstrap dpkg; do
    command -v "$tool" >/dev/null || {
        echo "qemu_aarch64: $tool not found (apt-get install -y qemu-user gcc-aarch64-linux-gnu debootstrap)" >&2
        exit 2
    }
done
PY="qemu-aarch64 -L $ROOT $ROOT/usr/bin/python3.11"
# the python that tests see as sys.executable (and start in subprocesses): a
# host script that runs the arm64 python under qemu, named as its argv[0]
WRAP="$OUT/bin/python3"
write_wrapper() {
    mkdir -p "$OUT/bin"
    printf '#!/bin/sh\nexec qemu-aarch64 -L %s -0 %s %s "$@"\n' "$ROOT" "$WRAP" "$ROOT/usr/bin/python3.11" > "$WRAP"
    chmod +x "$WRAP"
}

make_root() {
    [ -x "$ROOT/usr/bin/python3.11" ] && [ -e "$ROOT/.fastconv-root-ok" ] && return 0
    echo "== making the arm64 root in $ROOT (debootstrap, first stage only)"
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    debootstrap --foreign --arch=arm64 --variant=minbase \
        --include=python3,python3-dev,python3-numpy,python3-pytest,python3-hypothesis,libgomp1 \
        bookworm "$ROOT" "$MIRROR" > "$ROOT.log" 2>&1 || { tail -20 "$ROOT.log" >&2; exit 1; }
    # unpack every downloaded package (the second stage would run arm64 maintainer
    # scripts; nothing here needs them)
    for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg -x "$deb" "$ROOT"; done
    # what update-alternatives would have linked: NumPy's BLAS and LAPACK
    local lib="$ROOT/usr/lib/aarch64-linux-gnu"
    ln -sf blas/libblas.so.3 "$lib/libblas.so.3"
    ln -sf lapack/liblapack.so.3 "$lib/liblapack.so.3"
    rm -f "$ROOT"/var/cache/apt/archives/*.deb
    $PY -c "import numpy, pytest, hypothesis" || { echo "qemu_aarch64: the arm64 root's python does not run" >&2; exit 1; }
    touch "$ROOT/.fastconv-root-ok"
}

build() {
    echo "== cross-compiling fastconv for AArch64 into $OUT"
    local K="$REPO/src/fastconv/_kernels" obj="$OUT/obj"
    rm -rf "$OUT"
    mkdir -p "$obj"
    local base=(-O3 -std=c99 -Wall -Wextra -Werror -fno-math-errno -pthread -fopenmp -fPIC -I"$K" -I"$K/include")
    local f
    for f in api/api impl/pad runtime/cpu runtime/threads runtime/scratch runtime/pool isa/vec128; do
        "$CC" "${base[@]}" -c "$K/$f.c" -o "$obj/$(basename "$f").o" &
    done
    "$CC" "${base[@]}" -ffp-contract=fast -c "$K/isa/neon.c" -o "$obj/neon.o" &
    python -m cython -3 -I "$K/include" -o "$OUT/_core.c" "$REPO/src/fastconv/_core.pyx"
    local np_inc="$ROOT/usr/lib/python3/dist-packages/numpy/core/include"
    "$CC" -O2 -fPIC -fopenmp -pthread -I"$K" -I"$K/include" -I"$ROOT/usr/include/python3.11" \
        -I"$ROOT/usr/include" -I"$np_inc" -DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION \
        -c "$OUT/_core.c" -o "$obj/_core.o" -w &
    wait
    for f in api pad cpu threads scratch pool vec128 neon _core; do
        [ -s "$obj/$f.o" ] || { echo "qemu_aarch64: $f did not compile" >&2; exit 1; }
    done
    "$CC" -shared -fopenmp -pthread "$obj"/*.o -o "$OUT/_core.cpython-311-aarch64-linux-gnu.so"
}

# the package: the Python sources as they are now, and the extension
package() {
    local pkg="$OUT/pkg/fastconv"
    rm -rf "$OUT/pkg"
    mkdir -p "$pkg"
    (cd "$REPO/src/fastconv" && tar cf - --exclude=_kernels --exclude=__pycache__ --exclude="*.so" \
        --exclude="*.c" --exclude="*.pyx" .) | (cd "$pkg" && tar xf -)
    cp "$OUT/_core.cpython-311-aarch64-linux-gnu.so" "$pkg/"
}

full=0; build_only=0; no_build=0
args=()
while [ $# -gt 0 ]; do
    case $1 in
    --full) full=1 ;;
    --build-only) build_only=1 ;;
    --no-build) no_build=1 ;;
    --python) echo "$PY"; exit 0 ;;
    --) shift; args=("$@"); break ;;
    *) echo "qemu_aarch64: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
make_root
[ $no_build = 1 ] && [ -s "$OUT/_core.cpython-311-aarch64-linux-gnu.so" ] || build
package
[ $build_only = 1 ] && exit 0
write_wrapper
PY=$WRAP
export FASTCONV_EMULATED=qemu-user PYTHONHOME="$ROOT/usr" PYTHONPATH="$OUT/pkg" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1 \
    HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-dev}
$PY -c "import fastconv; fastconv.show_config()"
if [ ${#args[@]} -eq 0 ]; then
    if [ $full = 1 ]; then
        args=("$REPO/tests")
    else
        # the quick subset: every op through the functional calls and the layer
        # objects on each level (the isa fixture runs vec128 and neon)
        args=("$REPO/tests/test_layers.py" "$REPO/tests/test_special.py" "$REPO/tests/test_layout.py"
              "$REPO/tests/test_epilogue.py" "$REPO/tests/test_threads_config.py" "$REPO/tests/test_grad.py" "$REPO/tests/test_wgrad.py")
    fi
fi
$PY -m pytest -q -p no:cacheprovider -x "${args[@]}"
