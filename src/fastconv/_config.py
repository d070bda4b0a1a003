"""Threads and the machine: set_num_threads, get_num_threads, show_config."""
from __future__ import annotations

import os
import platform
import sys
from typing import Any

from . import _args, _core

MAX_THREADS = 4096      # FC_MAX_THREADS in runtime/cpu.c


def get_num_threads() -> int:
    """The number of threads the kernels use at most.

    Returns
    -------
    int
        What :func:`set_num_threads` last set; before that ``OMP_NUM_THREADS``
        if it is set, else the number of cores.

    Notes
    -----
    It is an upper bound per call: a call takes the threads its work pays for
    (a small layer runs on one), and fewer while other runnable work keeps the
    cores busy. ``threadpoolctl`` sees and limits the same pool (user API
    ``"openmp"``).

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.get_num_threads() >= 1
    True
    """
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Use at most ``n`` threads in every following call, from any Python thread.

    Parameters
    ----------
    n : int
        1 <= n <= 4096.

    Raises
    ------
    ValueError
        ``n`` below 1 or above 4096 (an ``n`` that is not an int is refused
        too, with an error naming it).

    Examples
    --------
    >>> import fastconv as fc
    >>> before = fc.get_num_threads()
    >>> fc.set_num_threads(1)
    >>> fc.get_num_threads()
    1
    >>> fc.set_num_threads(before)
    """
    n = _args.int_arg(n, "n", minimum=1)
    if n > MAX_THREADS:
        raise ValueError(f"n must be <= {MAX_THREADS}, got {n}")
    _core.set_num_threads(n)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# CPU flags that matter to the kernel levels, as /proc/cpuinfo names them
_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl")


def _cpuinfo_flags() -> list[str] | None:
    """The relevant flags /proc/cpuinfo lists (None where there is none).  Only
    informative: the kernels are chosen by CPUID and XGETBV in runtime/cpu.c, and
    an emulator (qemu-user) passes the host's /proc/cpuinfo through."""
    if _arch() != "x86":
        return None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [x for x in _FLAGS if x in have]
    except OSError:
        pass
    return None


def _compiler() -> str:
    """The compiler that built the extension, from its ELF .comment strings."""
    import re
    try:
        with open(_core.__file__, "rb") as f:
            data = f.read()
    except OSError:
        return "unknown"
    found = dict.fromkeys(m.group(0).decode("ascii", "replace") for m in re.finditer(
        rb"GCC: \([^)\n]{0,80}\) [0-9][0-9.]*|clang version [0-9][0-9.]*", data))
    return "; ".join(found) if found else "unknown"


def _arch() -> str:
    m = platform.machine().lower()
    if any(a in m for a in ("x86_64", "amd64", "i686", "x86")):
        return "x86"
    if any(a in m for a in ("aarch64", "arm64")):
        return "arm64"
    return m


def _isa_reason(level: str, supported: list[str]) -> str:
    """Why the kernels in use are these: forced, set, or what the CPU offers."""
    forced = os.environ.get("FASTCONV_ISA")
    best = supported[-1]
    if forced and forced.strip().lower() == level:
        return f"forced by FASTCONV_ISA={forced.strip()}; the CPU supports up to {best}"
    if level != best:
        return f"set by fastconv._core.set_isa; the CPU supports up to {best}"
    if _arch() == "arm64":
        return ("AArch64: ASIMD with FMA, which every ARMv8-A CPU has" if best == "neon" else
                "AArch64, but this build has no NEON level")
    if _arch() != "x86":
        return (f"the portable build: SIMD kernels are compiled for x86-64 and AArch64 only "
                f"(this is {platform.machine()})")
    if best == "avx512":
        return ("the CPU has AVX-512 F/DQ/BW/VL and AVX2+FMA, and the OS saves the "
                "ZMM registers")
    why = ("the CPU has AVX2+FMA and the OS saves the YMM registers; no AVX-512 F/DQ/BW/VL"
           if best == "avx2" else
           "the CPU lacks AVX2+FMA (or the OS does not save the YMM registers)")
    flags = _cpuinfo_flags()
    if flags is not None:
        listed = ("avx512" if {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= set(flags)
                  else "avx2" if {"avx2", "fma"} <= set(flags) else "vec128")
        order = ("vec128", "avx2", "avx512")
        if order.index(listed) > order.index(best):
            why += (f" (CPUID says so, although /proc/cpuinfo lists {listed}: an emulator "
                    f"such as qemu-user or a hypervisor hides it)")
    return why


def config() -> dict[str, Any]:
    """What :func:`show_config` prints, as a dict.

    Returns
    -------
    dict
        Keys ``fastconv``, ``python``, ``numpy``, ``platform``, ``compiler``,
        ``cpu``, ``cpu_flags``, ``openmp``, ``threads``, ``threading``,
        ``isa_supported``, ``isa`` and ``isa_reason``.
    """
    from . import __version__
    supported = list(_core.supported_isas())
    level = _core.get_isa()
    return {
        "fastconv": __version__,
        "python": sys.version.split()[0],
        "numpy": __import__("numpy").__version__,
        "platform": platform.platform(),
        "compiler": _compiler(),
        "cpu": _cpu_name(),
        "cpu_flags": _cpuinfo_flags(),
        "openmp": _core.openmp_enabled(),
        "threads": _core.get_num_threads(),
        "threading": _core.threading_name(),
        "isa_supported": supported,
        "isa": level,
        "isa_reason": _isa_reason(level, supported),
    }


def show_config() -> None:
    """Print the version, the build, the CPU features found and the kernels in use.

    One line each: fastconv, Python and NumPy versions; the platform; the
    compiler that built the extension; the CPU and its relevant flags (from
    ``/proc/cpuinfo``, where there is one); OpenMP; the thread setting and the
    threading (``pool``, ``openmp`` or ``serial``, from ``FASTCONV_THREADING``);
    the ISA levels the CPU supports (``vec128``, ``avx2``, ``avx512``); and the
    level in use with the reason (what the CPU offers, or forced by
    ``FASTCONV_ISA``). ``python -m fastconv config`` prints the same.

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.show_config()  # doctest: +ELLIPSIS
    fastconv ... (python ..., numpy ...)
      platform: ...
      kernels in use: ...
    """
    c = config()
    flags = c["cpu_flags"]
    print(f"fastconv {c['fastconv']} (python {c['python']}, numpy {c['numpy']})")
    print(f"  platform:       {c['platform']}")
    print(f"  compiler:       {c['compiler']}")
    print(f"  cpu:            {c['cpu']}")
    if flags is not None:
        print(f"  cpu flags:      {' '.join(flags) or '(none of ' + ' '.join(_FLAGS) + ')'}"
              f"  (/proc/cpuinfo)")
    print(f"  openmp:         {'yes' if c['openmp'] else 'no (single-threaded build)'}")
    print(f"  threads:        {c['threads']}")
    print(f"  threading:      {c['threading']}")
    print(f"  isa supported:  {', '.join(c['isa_supported'])}")
    print(f"  kernels in use: {c['isa']}: {c['isa_reason']}")


def _register_threadpoolctl() -> None:
    """Let threadpoolctl see and limit fastconv's pool (user_api "openmp")."""
    try:
        import threadpoolctl
        from threadpoolctl import LibController
    except ImportError:
        return
    if not hasattr(threadpoolctl, "register"):
        return

    class FastconvController(LibController):
        user_api = "openmp"
        internal_api = "fastconv"
        filename_prefixes = ("_core",)
        check_symbols = ("fc_get_num_threads", "fc_set_num_threads", "fc_openmp_enabled")

        def get_num_threads(self):
            return self.dynlib.fc_get_num_threads()

        def set_num_threads(self, num_threads):
            self.dynlib.fc_set_num_threads(int(num_threads))

        def get_version(self):
            from . import __version__
            return __version__

    threadpoolctl.register(FastconvController)
