"""The machine's load during a benchmark: busy processes on request
(``--load N``), and the figures every report records so that a result taken
on a busy machine is read as such."""
from __future__ import annotations

import os
import subprocess
import sys
import time

# A busy process: spins, and exits once its parent is gone (a benchmark killed
# with SIGKILL leaves no spinning orphans behind).
_SPIN = """\
import os, time
parent = os.getppid()
while True:
    end = time.monotonic() + 0.25
    while time.monotonic() < end:
        pass
    if os.getppid() != parent:
        break
"""


def loadavg() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


class BusyProcesses:
    """``with BusyProcesses(n):`` -- n processes that each keep a core busy."""

    def __init__(self, n: int):
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "BusyProcesses":
        for _ in range(self.n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", _SPIN],
                                               stdin=subprocess.DEVNULL))
        if self.n:
            time.sleep(0.3)          # let them get going
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        self.procs.clear()


def spread_summary(results) -> float | None:
    """The median over cells of each cell's spread (interquartile range of its
    repeats / their median)."""
    s = sorted(c.spread for r in results for c in r.cells.values()
               if c.ok and c.spread is not None)
    return s[len(s) // 2] if s else None


BUSY_LOAD = 0.5      # load average per logical CPU, beyond the --load processes
BUSY_SPREAD = 0.15   # median spread of the repeats


def busy_warning(meta: dict) -> str | None:
    """A warning when the machine was busy with other work: a load average
    above BUSY_LOAD per CPU before the run (read before any --load process
    started), or, without --load, repeats that scatter."""
    load = meta.get("load") or {}
    cpus = meta.get("logical_cpus") or os.cpu_count() or 1
    why = []
    before = load.get("loadavg_before")
    if before is not None and before[0] > BUSY_LOAD * cpus:
        why.append(f"1-minute load average {before[0]:.2f} on {cpus} CPUs before the run")
    spread = load.get("median_spread")
    if not load.get("busy_processes") and spread is not None and spread > BUSY_SPREAD:
        why.append(f"the repeats of a cell scatter by {100 * spread:.0f}% (median over cells)")
    if not why:
        return None
    return ("WARNING: the machine was busy -- " + "; ".join(why) +
            ". Read these times as times on a busy machine, not as the library's speed.")


def in_forked_child(fn, timeout: float = 60.0):
    """Run fn() in a child made by os.fork and return what it answered: True or
    False (fn's truth value), or None if the child gave no answer within
    timeout seconds (it is then killed): a pool that does not survive fork
    hangs there."""
    import select

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                   # the child: answer, then leave at once
        os.close(r)
        try:
            os.write(w, b"1" if fn() else b"0")
        finally:
            os._exit(0)
    os.close(w)
    ready, _, _ = select.select([r], [], [], timeout)
    got = os.read(r, 1) if ready else b""
    os.close(r)
    if not ready:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None if not ready else got == b"1"
