"""Build: the C kernels as static libraries (each SIMD file with its own
-m flags, nothing else), linked into one Cython extension.

Environment:
  FASTCONV_OPENMP=0   build without OpenMP (single-threaded kernels)
  FASTCONV_WERROR=1   turn compiler warnings in the kernels into errors (CI)
  FASTCONV_CFLAGS     extra flags for every C file (e.g. sanitizers)
  FASTCONV_LDFLAGS    extra flags for linking the extension
  FASTCONV_DEBUG=1    keep debug information and symbols (by default GCC/Clang
                      builds drop Python's -g and Linux links strip the module)
  FASTCONV_CLANG_CL   Windows: the clang-cl that compiles the SIMD kernel levels
                      (default: clang-cl on PATH or LLVM's default place; 0: none)
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
from setuptools.command.build_clib import build_clib

KDIR = "src/fastconv/_kernels"
MSVC = sys.platform == "win32" and "GCC" not in sys.version
DEBUG = os.environ.get("FASTCONV_DEBUG") == "1"
MACHINE = (os.environ.get("_PYTHON_HOST_PLATFORM") or platform.machine()).lower()
X86 = any(m in MACHINE for m in ("x86_64", "amd64", "i686", "x86"))
ARM64 = any(m in MACHINE for m in ("aarch64", "arm64"))


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

# Windows: cl.exe has no GCC vector extensions (every ukernel would take its
# plain-C path, measured 4-27x slower), so the kernel levels -- isa/<level>.c,
# every microkernel and no OpenMP -- are compiled by clang-cl, which has them
# and writes objects MSVC's linker takes; the rest (the planner, the threads:
# OpenMP 2.0, vcomp) stays on cl.exe.  clang-cl: FASTCONV_CLANG_CL, else on PATH
# (GitHub's Windows runners have LLVM), else cl.exe alone (slow, correct).
_CLANG_CL = os.environ.get("FASTCONV_CLANG_CL", "")   # "0": cl.exe alone
CLANG_CL = None
if MSVC and _CLANG_CL != "0":
    CLANG_CL = _CLANG_CL or shutil.which("clang-cl") or next(
        (p for p in (r"C:\Program Files\LLVM\bin\clang-cl.exe",) if os.path.exists(p)), None)
# clang-cl's flags for a level (scripts/msvc_check.sh compiles the levels with these)
CLANG_CL_BASE = ["/O2", "/std:c11", "/clang:-fno-math-errno", "/clang:-ffp-contract=fast"]
CLANG_CL_LEVELS = {"vec128": [], "avx2": ["/clang:-mavx2", "/clang:-mfma"],
                   "avx512": ["/clang:-mavx512f", "/clang:-mavx512vl", "/clang:-mavx512bw",
                              "/clang:-mavx512dq", "/clang:-mavx2", "/clang:-mfma"]}

# The baseline library gets no -m flags: it must run on any CPU of the architecture.
if CLANG_CL:
    libraries = [lib("fc_kernels", [s for s in BASELINE if s != "isa/vec128.c"])]
    for name, flags in CLANG_CL_LEVELS.items():
        libraries.append(lib(f"fc_{name}", [f"isa/{name}.c"]))
        libraries[-1][1].update(clang_cl=CLANG_CL, cflags=CLANG_CL_BASE + flags)
else:
    libraries = [lib("fc_kernels", BASELINE)]
    if X86:
        libraries += [lib(f"fc_{name}", [f"isa/{name}.c"], flags) for name, flags in LEVELS.items()]
if ARM64:
    # ASIMD is in every ARMv8-A CPU: no -march flag, only the FMA contraction
    libraries += [lib("fc_neon", ["isa/neon.c"], ["/fp:contract"] if MSVC else ["-ffp-contract=fast"])]

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

class BuildClib(build_clib):
    """build_clib that compiles the libraries marked clang_cl with clang-cl
    (archived by MSVC's lib.exe like the others)."""

    def build_libraries(self, libraries):
        super().build_libraries([lb for lb in libraries if "clang_cl" not in lb[1]])
        for name, info in libraries:
            if "clang_cl" not in info:
                continue
            objects = []
            for src in info["sources"]:
                obj = os.path.join(self.build_temp, os.path.splitext(src)[0] + ".obj")
                os.makedirs(os.path.dirname(obj), exist_ok=True)
                cmd = [info["clang_cl"], "/nologo", "/c", *info["cflags"],
                       *[f"/I{d}" for d in info["include_dirs"]], src, f"/Fo{obj}"]
                print(" ".join(cmd))
                subprocess.run(cmd, check=True)
                objects.append(obj)
            self.compiler.create_static_lib(objects, name, output_dir=self.build_clib, debug=self.debug)


setup(
    cmdclass={"build_clib": BuildClib},
    libraries=libraries,
    ext_modules=cythonize([ext], compiler_directives={"language_level": 3}),
)
