"""Build: the C kernels as static libraries (each SIMD file with its own
-m flags, nothing else), linked into one Cython extension.

Environment:
  FASTCONV_OPENMP=0   build without OpenMP (single-threaded kernels)
  FASTCONV_WERROR=1   turn compiler warnings in the kernels into errors (CI)
  FASTCONV_CFLAGS     extra flags for every C file (e.g. sanitizers)
  FASTCONV_LDFLAGS    extra flags for linking the extension
  FASTCONV_DEBUG=1    keep debug information and symbols (by default GCC/Clang
                      builds drop Python's -g and Linux links strip the module)
"""
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

KDIR = "src/fastconv/_kernels"
MSVC = sys.platform == "win32" and "GCC" not in sys.version
DEBUG = os.environ.get("FASTCONV_DEBUG") == "1"
MACHINE = (os.environ.get("_PYTHON_HOST_PLATFORM") or platform.machine()).lower()
X86 = any(m in MACHINE for m in ("x86_64", "amd64", "i686", "x86"))


def _probe(flags, link_flags):
    """True if a tiny OpenMP program compiles and links with these flags."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    src = "#include <omp.h>\nint main(void){int n=0;\n#pragma omp parallel reduction(+:n)\nn+=1;\nreturn n>0?0:1;}\n"
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "probe.c")
        with open(c, "w") as f:
            f.write(src)
        cmd = cc.split() + flags + [c, "-o", os.path.join(d, "probe")] + link_flags
        try:
            return subprocess.run(cmd, capture_output=True).returncode == 0
        except OSError:
            return False


def openmp_flags():
    if os.environ.get("FASTCONV_OPENMP", "1") == "0":
        return [], []
    if MSVC:
        # /openmp (OpenMP 2.0, runtime vcomp140.dll of the Visual C++
        # redistributable), not /openmp:llvm: that one's libomp140 DLL is not
        # redistributable.  The kernels keep to what 2.0 accepts (signed loop
        # indices declared before the loop, no atomic write: common.h).
        return ["/openmp"], []
    if sys.platform == "darwin":
        prefix = os.environ.get("LIBOMP_PREFIX") or (
            subprocess.run(["brew", "--prefix", "libomp"], capture_output=True, text=True).stdout.strip()
            if shutil.which("brew") else "")
        cf = ["-Xpreprocessor", "-fopenmp"] + ([f"-I{prefix}/include"] if prefix else [])
        lf = ([f"-L{prefix}/lib"] if prefix else []) + ["-lomp"]
        return (cf, lf) if _probe(cf, lf) else ([], [])
    return (["-fopenmp"], ["-fopenmp"]) if _probe(["-fopenmp"], ["-fopenmp"]) else ([], [])


OMP_CFLAGS, OMP_LFLAGS = openmp_flags()
if MSVC:
    # C11 mode (and its conforming preprocessor; VS 2019 16.8+).  /GL-: no
    # whole-program optimisation of the kernel libraries (setuptools' default
    # /GL), so that link-time code generation cannot move code between the
    # per-ISA objects.  MSVC has no GCC vector extensions: every kernel takes
    # its plain-C path (correct, slower; the AVX2/AVX-512 files still get the
    # compiler's own vectorisation and their intrinsics).  FASTCONV_WERROR
    # applies to GCC/Clang.
    BASE = ["/O2", "/std:c11", "/GL-"]
else:
    BASE = ["-O3", "-std=c99", "-Wall", "-Wextra", "-fno-math-errno", "-pthread"]
    if not DEBUG:
        BASE.append("-g0")    # after Python's own CFLAGS (-g): release objects without DWARF
    if os.environ.get("FASTCONV_WERROR") == "1":
        BASE.append("-Werror")
BASE += OMP_CFLAGS + os.environ.get("FASTCONV_CFLAGS", "").split()


INCLUDE = [KDIR, f"{KDIR}/include"]


def lib(name, sources, simd_flags=()):
    return (name, {"sources": [f"{KDIR}/{s}" for s in sources],
                   "include_dirs": INCLUDE,
                   "cflags": BASE + list(simd_flags)})


# The kernel tree (docs/DESIGN.md): api/ and plan/ and impl/ and runtime/
# are built for the baseline; each ISA level is one translation unit,
# isa/<level>.c (its tuning table and every microkernel), built with that
# level's flags and nothing else.  A new level is a line here.
BASELINE = ["api/api.c", "impl/pad.c", "runtime/cpu.c", "runtime/threads.c",
            "runtime/scratch.c", "runtime/pool.c", "isa/vec128.c"]
if MSVC:
    # /fp:contract (VS 2022): a*b+c may become an FMA, as -ffp-contract=fast below
    LEVELS = {"avx2": ["/arch:AVX2", "/fp:contract"], "avx512": ["/arch:AVX512", "/fp:contract"]}
else:
    LEVELS = {"avx2": ["-mavx2", "-mfma", "-ffp-contract=fast"],
              "avx512": ["-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq", "-mavx2", "-mfma",
                         "-ffp-contract=fast"]}

# The baseline library gets no -m flags: it must run on any CPU of the architecture.
libraries = [lib("fc_kernels", BASELINE)]
if X86:
    libraries += [lib(f"fc_{name}", [f"isa/{name}.c"], flags) for name, flags in LEVELS.items()]

# Release builds are stripped at link where the linker is GNU's (or LLVM's
# lld) on Linux: -s drops the symbol table the extension does not need (it
# exports only PyInit__core).  macOS and MSVC link as setuptools does.
STRIP = [] if DEBUG or MSVC or not sys.platform.startswith("linux") else ["-s"]

ext = Extension(
    "fastconv._core",
    sources=["src/fastconv/_core.pyx"],
    include_dirs=INCLUDE + [np.get_include()],
    # the oldest NumPy the extension runs with: the project's numpy>=1.23
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                   ("NPY_TARGET_VERSION", "NPY_1_23_API_VERSION")],
    extra_compile_args=(["/O2"] if MSVC else ["-O2"] + ([] if DEBUG else ["-g0"])) + OMP_CFLAGS
    + os.environ.get("FASTCONV_CFLAGS", "").split(),
    extra_link_args=OMP_LFLAGS + ([] if MSVC else ["-pthread"]) + STRIP
    + os.environ.get("FASTCONV_LDFLAGS", "").split(),
)

setup(
    libraries=libraries,
    ext_modules=cythonize([ext], compiler_directives={"language_level": 3}),
)
