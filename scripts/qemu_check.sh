#!/usr/bin/env bash
# Dispatch safety: run the test suite on emulated CPUs with qemu-user (Debian's
# qemu-user package: apt-get install -y qemu-user), one run per CPU model:
#   Nehalem  no AVX at all: the portable (vec128) kernels must be chosen and pass,
#            so no AVX instruction may run outside the per-ISA kernel files
#   Haswell  AVX2+FMA, no AVX-512: the avx2 kernels must be chosen and pass
# qemu-user emulates the python binary itself, so every library in the process
# (numpy, OpenMP, fastconv) sees the emulated CPUID.
#
#   scripts/qemu_check.sh                 # both CPUs, the whole test suite
#   scripts/qemu_check.sh --quick         # both CPUs, a fast subset (4 files: layers,
#                                         # Winograd, depthwise/separable/pooling, dispatch)
#   CPUS="Nehalem" scripts/qemu_check.sh -- -k winograd    # extra pytest args after --
#
# Tests the fastconv that the python finds (PYTHONPATH=src for an in-place build).
# Deselected: test_isa_detection_matches_cpu compares the detected levels with
# /proc/cpuinfo, which qemu-user passes through from the host (the host's AVX2
# flags), while CPUID (what fastconv uses) reports the emulated CPU.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
QEMU=${QEMU:-qemu-x86_64}
CPUS=${CPUS:-Nehalem Haswell}
command -v "$QEMU" >/dev/null || { echo "qemu_check: $QEMU not found (apt-get install -y qemu-user)" >&2; exit 2; }
PY=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')   # the real binary, not a shim
files=("$REPO/tests")
if [ "${1:-}" = "--quick" ]; then
    shift
    files=("$REPO/tests/test_layers.py" "$REPO/tests/test_winograd.py" "$REPO/tests/test_special.py"
           "$REPO/tests/test_threads_config.py")
fi
[ "${1:-}" = "--" ] && shift
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1
cd "${TMPDIR:-/tmp}"
# qemu warns once per CPUID feature its TCG lacks (pcid, x2apic, ...): noise
quiet() { grep -v "TCG doesn't support requested feature" >&2 || true; }
status=0
declare -A want=([Nehalem]=vec128 [Westmere]=vec128 [SandyBridge]=vec128 [IvyBridge]=vec128
                 [Haswell]=avx2 [Broadwell]=avx2 [Skylake-Client]=avx2)
summary=()
for cpu in $CPUS; do
    echo "== qemu -cpu $cpu"
    "$QEMU" -cpu "$cpu" "$PY" - "${want[$cpu]:-}" <<'PYEOF' 2> >(quiet) || { status=1; continue; }
import sys
import numpy as np
import fastconv
from fastconv import _core
fastconv.show_config()
feats = getattr(np._core._multiarray_umath, "__cpu_features__", {})
print("  numpy sees:     " + " ".join(k for k in ("SSE42", "AVX", "AVX2", "FMA3", "AVX512F")
                                        if feats.get(k)))
want = sys.argv[1]
if want and _core.get_isa() != want:
    sys.exit(f"qemu_check: expected the {want} kernels, got {_core.get_isa()}")
PYEOF
    t=$SECONDS
    set +e
    "$QEMU" -cpu "$cpu" "$PY" -m pytest "${files[@]}" -q -p no:cacheprovider -rfE \
        -k "not test_isa_detection_matches_cpu" "$@" 2> >(quiet) | tail -n 3
    r=${PIPESTATUS[0]}
    set -e
    [ "$r" -eq 0 ] || status=1
    summary+=("$cpu: $([ "$r" -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - t)) s")
done
echo
printf '%s\n' "${summary[@]}"
exit $status
