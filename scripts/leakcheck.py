#!/usr/bin/env python
"""Leak check: call every fastconv op many times (10,000 by default) and
watch the process (RSS) and the Python heap (tracemalloc).

    python scripts/leakcheck.py                 # 10,000 calls per op
    python scripts/leakcheck.py --calls 500 --ops conv2d_gemm,dwsep
    python scripts/leakcheck.py --inject-leak   # self-test: must FAIL

An op fails when, after a warm-up (scratch caches filled, specs cached),
its calls grow RSS by more than --rss-kb (default 2048 KB: 200 bytes a call
over 10,000 calls) or leave more than --py-kb of Python objects alive.  The
ops are the table of tests/test_hardening.py (every public op, both algorithms
of conv2d, the layer objects, and calls that fail in validation, in C and in
a scratch allocation).  Exit status 1 if any op leaks.
"""
import argparse
import gc
import os
import sys
import time
import tracemalloc

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import fastconv  # noqa: E402
from test_hardening import op_table  # noqa: E402


def rss_kb():
    """Resident set size (Linux); 0 where there is no /proc (macOS, Windows):
    there only the Python-object check (tracemalloc) is made."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, AttributeError):
        return 0


def failing_calls():
    f32 = np.float32
    x = np.ones((1, 1, 2, 2), f32)

    def validation():
        fastconv.conv2d(x, np.ones((1, 2, 1, 1), f32))

    def c_einval():
        fastconv.max_unpool2d(x, np.full((1, 1, 2, 2), 99, np.int64), 2)

    def c_enomem():        # the direct method's padded scratch: 2**46 floats
        fastconv.conv2d(x, np.ones((1, 1, 1, 1), f32), stride=2**22, padding=2**22,
                        algorithm="direct")

    def wrap(fn):
        def call():
            try:
                fn()
            except (ValueError, MemoryError):
                return
            raise AssertionError(f"{fn.__name__} did not fail")
        return call
    return {"fail_validation": wrap(validation), "fail_c_einval": wrap(c_einval),
            "fail_c_enomem": wrap(c_enomem)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--ops", default="", help="comma-separated subset")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--rss-kb", type=int, default=2048)
    ap.add_argument("--py-kb", type=int, default=64)
    ap.add_argument("--inject-leak", action="store_true", help="self-test: leak 1 KB a call")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    table = {n: (lambda fn=fn, x=x: fn(x))
             for n, (fn, x) in op_table(np.dtype(a.dtype), np.random.default_rng(0), batch=1).items()}
    table.update(failing_calls())
    if a.ops:
        table = {n: table[n] for n in a.ops.split(",")}
    kept = []
    if a.inject_leak:
        table = {n: (lambda c=c: (c(), kept.append(np.ones(128)))) for n, c in table.items()}

    bad = []
    if not a.quiet:
        print(f"{'op':26s} {'calls':>6s} {'RSS +KB':>8s} {'py +KB':>7s} {'s':>6s}")
    for name, call in table.items():
        for _ in range(min(200, a.calls)):
            call()
        gc.collect()
        tracemalloc.start()
        s0, r0, t0 = tracemalloc.take_snapshot(), rss_kb(), time.perf_counter()
        for _ in range(a.calls):
            call()
        gc.collect()
        s1, r1, t1 = tracemalloc.take_snapshot(), rss_kb(), time.perf_counter()
        tracemalloc.stop()
        py = sum(d.size_diff for d in s1.compare_to(s0, "filename") if d.size_diff > 0) / 1024
        ok = r1 - r0 <= a.rss_kb and py <= a.py_kb
        if not ok:
            bad.append(name)
        if not a.quiet or not ok:
            print(f"{name:26s} {a.calls:6d} {r1 - r0:8d} {py:7.1f} {t1 - t0:6.1f}"
                  f"{'' if ok else '  LEAK'}", flush=True)
    if bad:
        print(f"leakcheck: {len(bad)} of {len(table)} ops leak: {', '.join(bad)}")
        return 1
    if not a.quiet:
        print(f"leakcheck: {len(table)} ops x {a.calls} calls, no leak")
    return 0


if __name__ == "__main__":
    sys.exit(main())
