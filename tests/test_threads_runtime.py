"""The kernels' thread pool (runtime/pool.c): fork safety, many Python
threads at once, threads chosen by the work, idle workers that sleep, the
settings (OMP_NUM_THREADS, set_num_threads, FASTCONV_THREADING) and the same
results from every threading backend."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastconv
from fastconv import _core

LINUX = sys.platform.startswith("linux")
SRC = [p for p in sys.path if p]


def run_child(code, env=None, timeout=120):
    """Run code in a fresh interpreter (with this sys.path); its last stdout line, as JSON."""
    e = dict(os.environ)
    e.update(env or {})
    pre = f"import sys; sys.path[:0] = {SRC!r}\n"
    p = subprocess.run([sys.executable, "-c", pre + code], capture_output=True, text=True,
                       timeout=timeout, env=e)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_backend_is_the_pool_where_there_are_posix_threads():
    want = "openmp" if sys.platform == "win32" else "pool"
    assert _core.threading_name() == want


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.skipif(bool(os.environ.get("FASTCONV_EMULATED")),
                    reason="qemu-user can deadlock in its own locks when a threaded guest forks")
def test_fork_after_a_threaded_call_computes_correctly(restore_threads):
    """A child made by fork after a 2-thread call (the pool's workers exist in
    the parent, not in the child) gets the right answer, at 2 threads, and
    does not hang (libgomp's pool did)."""
    import multiprocessing as mp

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 32, 40, 40), dtype=np.float32)
    w = rng.standard_normal((48, 32, 3, 3), dtype=np.float32)
    fastconv.set_num_threads(2)
    want = fastconv.conv2d(x, w, padding=1)
    want_dw = fastconv.depthwise_conv2d(x, w[:32, :1].copy(), padding=1)
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        jobs = [pool.apply_async(_child_conv, (x, w)) for _ in range(4)]
        for j in jobs:
            y, ydw = j.get(timeout=120)
            np.testing.assert_array_equal(y, want)
            np.testing.assert_array_equal(ydw, want_dw)
    # and the parent's pool still works
    np.testing.assert_array_equal(fastconv.conv2d(x, w, padding=1), want)


def _child_conv(x, w):
    fastconv.set_num_threads(2)
    return fastconv.conv2d(x, w, padding=1), fastconv.depthwise_conv2d(x, w[:32, :1].copy(), padding=1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.skipif(bool(os.environ.get("FASTCONV_EMULATED")),
                    reason="qemu-user can deadlock in its own locks when a threaded guest forks")
def test_fork_while_another_thread_computes(restore_threads):
    """fork while a Python thread of the parent is inside a threaded call:
    the child's pool starts empty and unlocked."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 64, 48, 48), dtype=np.float32)
    w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
    fastconv.set_num_threads(2)
    want = fastconv.conv2d(x, w, padding=1)
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            fastconv.conv2d(x, w, padding=1)

    t = threading.Thread(target=spin)
    t.start()
    try:
        from fastconv.bench.load import in_forked_child

        for _ in range(3):
            ok = in_forked_child(lambda: np.array_equal(fastconv.conv2d(x, w, padding=1), want), timeout=120)
            assert ok is not None, "the forked child hung"
            assert ok, "wrong answer in the child"
    finally:
        stop.set()
        t.join()


def test_many_python_threads_at_once(restore_threads):
    """Layer objects called from several Python threads at once (the GIL is
    released in the call): each gets its own right answer; a call that finds
    the pool busy runs on its own thread."""
    fastconv.set_num_threads(2)
    rng = np.random.default_rng(2)
    layers, inputs, wants = [], [], []
    for i in range(6):
        c = 8 + 8 * i
        w = rng.standard_normal((c, c, 3, 3), dtype=np.float32)
        layers.append(fastconv.Conv2d(w, padding=1))
        x = rng.standard_normal((1, c, 20 + i, 24), dtype=np.float32)
        inputs.append(x)
        # the layer's own answer called alone (its plan may differ from the
        # functional call's: a layer does not count Winograd's packing as cost)
        wants.append(layers[-1](x).copy())
    errors = []
    barrier = threading.Barrier(len(layers))

    def work(i):
        try:
            barrier.wait()
            for _ in range(30):
                y = layers[i](inputs[i])
                if not np.array_equal(y, wants[i]):
                    errors.append(i)
                    return
        except Exception as e:      # noqa: BLE001 -- reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(layers))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in ts), "a thread hung"
    assert errors == []


@pytest.mark.parametrize("backend", ["openmp", "serial"])
def test_every_backend_gives_the_same_bits(backend):
    """FASTCONV_THREADING=openmp|serial: the same outputs as the pool's (each
    output is summed by one thread in a fixed order, whichever thread)."""
    code = """
import json, numpy as np, fastconv
fastconv.set_num_threads(2)
rng = np.random.default_rng(5)
x = rng.standard_normal((2, 24, 30, 30), dtype=np.float32)
w = rng.standard_normal((40, 24, 3, 3), dtype=np.float32)
ys = [fastconv.conv2d(x, w, padding=1), fastconv.conv2d(x, w, padding=1, algorithm="gemm"),
      fastconv.conv2d(x, w[:, :3].copy(), padding=1, groups=8), fastconv.depthwise_conv2d(x, w[:24, :1].copy()),
      fastconv.conv_transpose2d(x, w.transpose(1, 0, 2, 3).copy(), stride=2)]
import hashlib
print(json.dumps([fastconv._core.threading_name()] + [hashlib.sha256(y.tobytes()).hexdigest() for y in ys]))
"""
    if backend == "openmp" and not _core.openmp_enabled():
        pytest.skip("no OpenMP in this build")
    ref = run_child(code, {"FASTCONV_THREADING": "pool"})
    got = run_child(code, {"FASTCONV_THREADING": backend})
    assert got[0] == backend
    assert got[1:] == ref[1:]


def _task_threads():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not LINUX, reason="counts threads through /proc")
def test_threads_follow_the_work_and_the_settings():
    """A small call starts no thread; a large one starts workers up to the
    setting; OMP_NUM_THREADS=1 starts none."""
    code = """
import json, os, numpy as np, fastconv
n = lambda: len(os.listdir("/proc/self/task"))
fastconv.set_num_threads(3)
start = n()
small = fastconv.conv2d(np.ones((1, 8, 8, 8), np.float32), np.ones((8, 8, 3, 3), np.float32), padding=1)
after_small = n()
big = fastconv.conv2d(np.ones((1, 64, 56, 56), np.float32), np.ones((64, 64, 3, 3), np.float32), padding=1)
after_big = n()
print(json.dumps([start, after_small, after_big]))
"""
    start, after_small, after_big = run_child(code, {"FASTCONV_LOAD_CAP": "0"})   # the load: below
    assert after_small == start                  # 8->8 3x3 @8: 74 kFLOP, no thread pays
    assert after_big == start + 2                # 3 threads: the caller and two workers
    code1 = """
import json, os, numpy as np, fastconv
n = lambda: len(os.listdir("/proc/self/task"))
start = n()
fastconv.conv2d(np.ones((1, 64, 56, 56), np.float32), np.ones((64, 64, 3, 3), np.float32), padding=1)
print(json.dumps([fastconv.get_num_threads(), start, n()]))
"""
    threads, start, end = run_child(code1, {"OMP_NUM_THREADS": "1"})
    assert threads == 1 and end == start


@pytest.mark.skipif(not LINUX, reason="counts threads and runnable work through /proc")
def test_busy_cores_give_a_call_fewer_threads():
    """With more busy processes than cores, a large call runs on its caller's
    thread alone (no worker is started) and still computes the same bits."""
    from fastconv.bench.load import BusyProcesses

    code = """
import json, os, hashlib, numpy as np, fastconv
n = lambda: len(os.listdir("/proc/self/task"))
fastconv.set_num_threads(2)
start = n()
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 64, 56, 56), dtype=np.float32); w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
y = fastconv.conv2d(x, w, padding=1)
print(json.dumps([start, n(), hashlib.sha256(y.tobytes()).hexdigest()]))
"""
    with BusyProcesses((os.cpu_count() or 1) + 1):
        start, end, h_busy = run_child(code)
    assert end == start
    _, _, h_quiet = run_child(code, {"FASTCONV_LOAD_CAP": "0"})
    assert h_busy == h_quiet


@pytest.mark.skipif(not LINUX, reason="reads thread CPU times through /proc")
def test_idle_workers_sleep_after_a_call():
    """After its call returns, no worker spins: over 0.4 s of idleness the
    workers use (almost) no CPU time (libgomp's spin for ~0.3 s by default)."""
    code = """
import json, os, time, numpy as np, fastconv
fastconv.set_num_threads(2)
x = np.ones((1, 64, 56, 56), np.float32); w = np.ones((64, 64, 3, 3), np.float32)
for _ in range(5):
    fastconv.conv2d(x, w, padding=1)
me = str(os.getpid())
def ticks():
    t = {}
    for tid in os.listdir("/proc/self/task"):
        if tid == me:
            continue
        with open(f"/proc/self/task/{tid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        t[tid] = int(parts[11]) + int(parts[12])      # utime + stime, in clock ticks
    return t
time.sleep(0.05)
a = ticks(); time.sleep(0.4); b = ticks()
print(json.dumps({"workers": len(a), "ticks": sum(b[k] - a.get(k, 0) for k in b),
                  "hz": os.sysconf("SC_CLK_TCK")}))
"""
    r = run_child(code)
    assert r["workers"] >= 1
    assert r["ticks"] <= 2, r                    # 2 ticks = 20 ms of the 400 ms


def test_set_num_threads_above_the_pool_size_still_correct(restore_threads):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 16, 30, 30), dtype=np.float32)
    w = rng.standard_normal((16, 16, 3, 3), dtype=np.float32)
    fastconv.set_num_threads(1)
    want = fastconv.conv2d(x, w, padding=1)
    for n in (2, 3, 7, 64):
        fastconv.set_num_threads(n)
        np.testing.assert_array_equal(fastconv.conv2d(x, w, padding=1), want)
