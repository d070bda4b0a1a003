#!/usr/bin/env bash
# valgrind memcheck on a short script that calls every fastconv op a few times
# (float32 and float64, both ISA levels, the failing paths too), with the real
# interpreter binary (not a pyenv shim) and PYTHONMALLOC=malloc so that
# valgrind sees every allocation.  Fails if valgrind reports an invalid
# read/write/free or a conditional jump on uninitialised memory inside
# fastconv, or a "definitely lost" block allocated by fastconv (Python's
# own end-of-run leaks are not ours and are ignored).
#
#   scripts/valgrind.sh            # the in-place build if any, else the installed package
# A few minutes: valgrind runs the code ~30-50x slower.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(${PYTHON:-python} -c 'import sys; print(sys.executable)')
LOG=${VALGRIND_LOG:-${TMPDIR:-/tmp}/fastconv-valgrind-$$.log}
# the in-place build if there is one (development), else the installed package (CI)
if ls src/fastconv/_core*.so >/dev/null 2>&1; then SRC="$PWD/src:"; else SRC=""; fi
export PYTHONPATH="$SRC$PWD/tests:$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONMALLOC=malloc OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2
"$PY" -c 'import fastconv; print("valgrind: fastconv from", fastconv.__file__)'
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
    --num-callers=40 --log-file="$LOG" "$PY" - <<'EOF'
import numpy as np
import fastconv
from fastconv import _core
from test_hardening import op_table
from leakcheck import failing_calls

for isa in _core.supported_isas():
    _core.set_isa(isa)
    for dtype in (np.float32, np.float64):
        for name, (fn, x) in op_table(dtype, np.random.default_rng(0), batch=1).items():
            for _ in range(2):
                fn(x)
for call in failing_calls().values():
    call()
layer = fastconv.Involution2d(16, 3, group_channels=4, seed=0)
layer(np.ones((1, 16, 7, 7), np.float32))
print("valgrind script: done")
EOF
# Errors whose stack passes through fastconv (_core*.so, the fc_ C code).
python3 - "$LOG" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"\n==\d+== \n", text)
ours = re.compile(r"_core\.|fastconv|/_kernels/| fc_|conv_|gemm_|_ops\.inc")
kinds = re.compile(r"Invalid (read|write|free)|uninitialised|Mismatched free|"
                   r"definitely lost|overlap")
bad = [b for b in blocks if kinds.search(b) and ours.search(b)]
summary = [l for l in text.splitlines() if "ERROR SUMMARY" in l or "definitely lost:" in l]
print("\n".join(summary[-2:]))
for b in bad[:10]:
    print(b, "\n")
print(f"valgrind: {len(bad)} report(s) in fastconv (full log: {sys.argv[1]})")
sys.exit(1 if bad else 0)
EOF
