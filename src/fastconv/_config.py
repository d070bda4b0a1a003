"""Threads and the machine: set_num_threads, get_num_threads, show_config."""
from __future__ import annotations

import os
import platform
import sys

from . import _args, _core

MAX_THREADS = 4096      # FC_MAX_THREADS in dispatch.c


def get_num_threads() -> int:
    """Threads the kernels use (OMP_NUM_THREADS, else all cores, unless set)."""
    return _core.get_num_threads()


def set_num_threads(n) -> None:
    """Use n >= 1 threads (at most 4096) in every following call, from any Python thread."""
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


def config() -> dict:
    from . import __version__
    best = _core.supported_isas()[-1]
    level = _core.get_isa()
    forced = os.environ.get("FASTCONV_ISA")
    why = (f"forced by FASTCONV_ISA={forced}" if forced else
           "set by fastconv._core.set_isa" if level != best else
           "the widest level this CPU and OS support")
    return {
        "fastconv": __version__,
        "python": sys.version.split()[0],
        "numpy": __import__("numpy").__version__,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "openmp": _core.openmp_enabled(),
        "threads": _core.get_num_threads(),
        "isa_supported": _core.supported_isas(),
        "isa": level,
        "isa_reason": why,
    }


def show_config() -> None:
    """Print the version, the build, the CPU features found and the kernels in use."""
    c = config()
    print(f"fastconv {c['fastconv']} (python {c['python']}, numpy {c['numpy']})")
    print(f"  platform:       {c['platform']}")
    print(f"  cpu:            {c['cpu']}")
    print(f"  openmp:         {'yes' if c['openmp'] else 'no (single-threaded build)'}")
    print(f"  threads:        {c['threads']}")
    print(f"  isa supported:  {', '.join(c['isa_supported'])}")
    print(f"  kernels in use: {c['isa']} ({c['isa_reason']})")


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
