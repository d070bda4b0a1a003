#!/usr/bin/env bash
# Build fastconv with AddressSanitizer + UndefinedBehaviorSanitizer (the C
# kernels and the Cython module) into a separate directory and run the test
# suite against that build.  Any ASan report (out-of-bounds, use-after-free,
# double free) or UBSan report (signed overflow, bad shift, misaligned access,
# ...) aborts the run with a non-zero status.
#
#   scripts/sanitize.sh                  # the default subset (see below)
#   scripts/sanitize.sh tests            # the whole suite (~10x slower than a plain run)
#   scripts/sanitize.sh tests/test_conv.py -k winograd
#
# Environment:
#   SANITIZE_DIR   where the instrumented build goes (default: a directory under
#                  ${TMPDIR:-/tmp}; the source tree's own in-place build is not touched)
#   SANITIZE_KEEP=1  reuse an existing build in SANITIZE_DIR (skip the rebuild)
#   CC             compiler (gcc or clang; the runtime libraries are found through it)
#
# Python itself is not instrumented, so the ASan runtime is preloaded
# (LD_PRELOAD) and leak detection is off: the interpreter's own allocations at
# exit would drown the report.  Leaks are checked by scripts/leakcheck.py and
# valgrind instead (docs/HARDENING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python}
CC=${CC:-gcc}
export CC
DIR=${SANITIZE_DIR:-${TMPDIR:-/tmp}/fastconv-sanitize-$(id -u)}

FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -g"
if [ "${SANITIZE_KEEP:-0}" != 1 ] || [ ! -d "$DIR/src/fastconv" ]; then
    rm -rf "$DIR"
    mkdir -p "$DIR"
    cp -r setup.py pyproject.toml README.md LICENSE src "$DIR"/
    rm -f "$DIR"/src/fastconv/*.so "$DIR"/src/fastconv/_core.c
    echo "sanitize: building into $DIR" >&2
    # FASTCONV_DEBUG=1: keep -g and the symbols (no strip) for the reports' stack traces
    (cd "$DIR" && FASTCONV_WERROR=1 FASTCONV_DEBUG=1 FASTCONV_CFLAGS="$FLAGS" \
        FASTCONV_LDFLAGS="-fsanitize=address,undefined" \
        "$PY" setup.py -q build_clib build_ext --inplace >build.log 2>&1) \
        || { tail -40 "$DIR/build.log" >&2; exit 1; }
fi

ASAN_LIB=$($CC -print-file-name=libasan.so)
UBSAN_LIB=$($CC -print-file-name=libubsan.so)
for f in "$ASAN_LIB" "$UBSAN_LIB"; do
    [ -e "$f" ] || { echo "sanitize: runtime $f not found (CC=$CC)" >&2; exit 1; }
done

# The default: the whole suite, the property tests at the "dev" profile
# (10 examples per op instead of CI's few hundred: instrumented code runs
# ~3-10x slower).
if [ $# -eq 0 ]; then
    set -- tests
    export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-dev}
fi

export LD_PRELOAD="$ASAN_LIB $UBSAN_LIB"
# detect_leaks=0: the uninstrumented interpreter's exit-time allocations.
# allocator_may_return_null=1: a hostile size must come back as MemoryError
# (fc_malloc returns NULL), not an ASan abort -- the tests check exactly that.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OPENBLAS_NUM_THREADS=1
export FASTCONV_SANITIZED=1
cd "$DIR"   # the instrumented copy of src/ comes first, never the checkout's build
PYTHONPATH="$DIR/src" "$PY" - <<'EOF'
import fastconv, os, sys
assert fastconv.__file__.startswith(os.environ["PYTHONPATH"]), fastconv.__file__
EOF
args=()
for a in "$@"; do
    case "$a" in
        tests*) args+=("$ROOT/$a") ;;
        *) args+=("$a") ;;
    esac
done
# --capture=sys: a sanitizer report is written to fd 2 just before the abort;
# pytest's default fd capture would swallow it with the dying process.
PYTHONPATH="$DIR/src" exec "$PY" -m pytest -q -p no:cacheprovider --capture=sys "${args[@]}"
