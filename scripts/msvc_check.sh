#!/usr/bin/env bash
# Compile-checks the kernels as MSVC sees them, without MSVC (issue 7): every
# translation unit with the macros MSVC defines (_MSC_VER, _M_X64, no __GNUC__,
# so no GCC vector extensions) and its OpenMP 2.0 (FC_FORCE_PORTABLE: the
# critical section instead of OpenMP 3.1's atomic write).
#   0. the OpenMP pragmas: only OpenMP 2.0 directives and clauses (no atomic
#      write, collapse, simd, task, ...), no declaration in an omp loop's init;
#   1. gcc -std=c11 -pedantic -Wvla -DFC_FORCE_PORTABLE: the plain-C paths, no
#      VLA (MSVC has none), no GNU extension outside the FC_GNUC guards;
#   2. clang --target=x86_64-pc-windows-msvc (if clang is installed; Debian's
#      clang package): MSVC's predefined macros, so its branches (runtime/cpu.c's
#      __cpuidex/_xgetbv/_InterlockedExchange, FC_PRAGMA's __pragma) compile;
#      the CRT headers are minimal stand-ins written here.
# What only a real MSVC finds (the rest of its OpenMP 2.0 front end, its C11
# conformance, its warnings) is left to the Windows wheel job.
#   usage: scripts/msvc_check.sh        (a few seconds; exit 1 on any diagnostic)
set -euo pipefail
cd "$(dirname "$0")/../src/fastconv/_kernels"
TUS="api/api impl/pad runtime/cpu runtime/threads runtime/scratch isa/vec128 isa/avx2 isa/avx512"
INC="-I. -Iinclude"
isa_flags() {
    case $1 in
    *avx2) echo "-mavx2 -mfma" ;;
    *avx512) echo "-mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma" ;;
    *) echo "" ;;
    esac
}
fail=0
# 0. MSVC's /openmp is OpenMP 2.0 and its C front end is stricter than GCC's
#    or clang's, which accept all of this: flag what it rejects.
python3 - */*.c */*.h */*.inc *.h <<'PY' || fail=1
import re, sys
ok_words = {"omp", "parallel", "for", "sections", "section", "single", "master", "critical",
            "barrier", "atomic", "flush", "ordered", "threadprivate", "private", "firstprivate",
            "lastprivate", "shared", "default", "none", "reduction", "copyin", "copyprivate",
            "if", "num_threads", "schedule", "static", "dynamic", "guided", "runtime", "nowait"}
bad = 0
for path in sys.argv[1:]:
    lines = open(path).read().split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"\s*#\s*pragma\s+omp\b(.*)", line)
        if not m:
            continue
        # directive and clause names, not what the clauses' parentheses hold
        text, depth, words = m.group(0), 0, ""
        for ch in text.split("pragma", 1)[1]:
            depth += ch == "("
            if depth == 0:
                words += ch
            depth -= ch == ")"
        new = [w for w in re.findall(r"[A-Za-z_]\w*", words) if w not in ok_words]
        if re.search(r"reduction\s*\(\s*(min|max)\s*:", line):
            new.append("reduction min/max")
        if new:
            print(f"{path}:{i + 1}: not OpenMP 2.0 ({', '.join(new)}): {line.strip()}")
            bad = 1
        if re.search(r"\bfor\b", words) and i + 1 < len(lines) and \
                re.match(r"\s*for\s*\(\s*[A-Za-z_]\w*\s+[A-Za-z_]\w*\s*=", lines[i + 1]):
            print(f"{path}:{i + 2}: a declaration in an omp loop's init (MSVC C3015): "
                  f"{lines[i + 1].strip()}")
            bad = 1
sys.exit(bad)
PY
echo "OpenMP 2.0 forms: $([ $fail = 0 ] && echo clean || echo FAILED)"
run() {   # run a compiler; any output is a failure
    local out
    out=$("$@" 2>&1) || true
    if [ -n "$out" ]; then echo "$out"; fail=1; fi
}
for tu in $TUS; do
    run gcc -std=c11 -pedantic -Wall -Wextra -Wvla -Werror -fopenmp -DFC_FORCE_PORTABLE \
        $INC $(isa_flags "$tu") -fsyntax-only "$tu.c"
done
echo "gcc -pedantic -DFC_FORCE_PORTABLE: $([ $fail = 0 ] && echo clean || echo FAILED)"

CLANG=$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$CLANG" ]; then
    echo "clang not found: the MSVC-target check is skipped (apt-get install clang)"
    exit $fail
fi
stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
cat > "$stub/stdlib.h" <<'EOF'
#pragma once
#include <stddef.h>
void *malloc(size_t); void *calloc(size_t, size_t); void free(void *); void abort(void);
void *_aligned_malloc(size_t, size_t); void _aligned_free(void *);
EOF
printf '#pragma once\n#include <stdlib.h>\n' > "$stub/malloc.h"
cat > "$stub/string.h" <<'EOF'
#pragma once
#include <stddef.h>
void *memcpy(void *, const void *, size_t); void *memset(void *, int, size_t);
EOF
# what the kernels take from math.h (common.h includes it since the pooling kernels)
cat > "$stub/math.h" <<'EOF'
#pragma once
double exp(double); double expm1(double); double tanh(double); double erfc(double);
#define HUGE_VAL __builtin_huge_val()
EOF
printf '#pragma once\nint omp_get_max_threads(void);\n' > "$stub/omp.h"
printf '#pragma once\ntypedef int jmp_buf[16];\n' > "$stub/setjmp.h"
before=$fail
for tu in $TUS; do
    # -U__clang__: take the branches written for cl.exe itself; MSVC's baseline
    # x64 build defines no __SSE2__ (clang's does)
    base=""
    [ -z "$(isa_flags "$tu")" ] && base="-U__SSE2__ -U__SSE__"
    run "$CLANG" --target=x86_64-pc-windows-msvc -fms-compatibility -fms-extensions \
        -fms-compatibility-version=19.40 -ffreestanding -isystem "$stub" -std=c11 -pedantic \
        -Wall -Wextra -Wvla -Wno-builtin-macro-redefined -Wno-string-concatenation -fopenmp -U__clang__ \
        -DFC_FORCE_PORTABLE -mxsave \
        $INC $base $(isa_flags "$tu") -fsyntax-only "$tu.c"
done
echo "$(basename "$CLANG") --target=x86_64-pc-windows-msvc: $([ $fail = "$before" ] && echo clean || echo FAILED)"

# 3. the Windows build of the kernel levels (issue 27): isa/<level>.c as
#    setup.py has clang-cl compile them (CLANG_CL_BASE, CLANG_CL_LEVELS), with
#    the GCC vector extensions; each must compile without a diagnostic at /W4
#    into a COFF object whose code is that level's (FMA on avx2, zmm registers
#    on avx512), i.e. the SIMD paths, not the plain-C ones.
[ -e "$stub/math.h" ] || printf '#pragma once\ndouble exp(double); double expm1(double); double tanh(double); double erfc(double);\n#define HUGE_VAL __builtin_huge_val()\n' > "$stub/math.h"
grep -q calloc "$stub/stdlib.h" || echo 'void *calloc(size_t, size_t);' >> "$stub/stdlib.h"
OBJDUMP=$(command -v llvm-objdump || ls /usr/bin/llvm-objdump-[0-9]* 2>/dev/null | sort -V | tail -1 || true)
before=$fail
cl_base="/O2 /std:c11 /clang:-fno-math-errno /clang:-ffp-contract=fast"
for lv in vec128 avx2 avx512; do
    case $lv in
    avx2) flags="/clang:-mavx2 /clang:-mfma"; want="vfmadd" ;;
    avx512) flags="/clang:-mavx512f /clang:-mavx512vl /clang:-mavx512bw /clang:-mavx512dq /clang:-mavx2 /clang:-mfma"; want="zmm" ;;
    *) flags=""; want="mulps" ;;
    esac
    run "$CLANG" --driver-mode=cl --target=x86_64-pc-windows-msvc -fms-compatibility-version=19.40 \
        /nologo /W4 /c $cl_base $flags /imsvc "$stub" /I. /Iinclude "isa/$lv.c" "/Fo$stub/$lv.obj"
    if [ -n "$OBJDUMP" ] && [ -s "$stub/$lv.obj" ]; then
        n=$("$OBJDUMP" -d "$stub/$lv.obj" | grep -c "$want" || true)
        if [ "$n" -lt 100 ]; then echo "clang-cl $lv: only $n instructions with $want: not the SIMD path"; fail=1; fi
        echo "clang-cl isa/$lv.c: COFF object, $n instructions with $want"
    fi
done
echo "clang-cl (the Windows wheels' kernel levels): $([ $fail = "$before" ] && echo clean || echo FAILED)"
exit $fail
