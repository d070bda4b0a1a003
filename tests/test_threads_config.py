"""Thread pool control, thread-count independence, build configuration."""

import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, assert_close, rand

THREAD_COUNTS = (1, 2, 7)


def test_get_num_threads_is_positive_int():
    n = fastconv.get_num_threads()
    assert isinstance(n, int) and n >= 1


def test_set_num_threads_roundtrip(restore_threads):
    for n in (1, 2, 7, 3):
        fastconv.set_num_threads(n)
        assert fastconv.get_num_threads() == n


@pytest.mark.parametrize("bad", (0, -1, -8))
def test_set_num_threads_rejects_less_than_one(bad, restore_threads):
    before = fastconv.get_num_threads()
    with pytest.raises(ValueError):
        fastconv.set_num_threads(bad)
    assert fastconv.get_num_threads() == before


@pytest.mark.parametrize("bad", (1.5, "2", None))
def test_set_num_threads_rejects_non_int(bad, restore_threads):
    with pytest.raises((TypeError, ValueError)):
        fastconv.set_num_threads(bad)


def test_openmp_enabled():
    from fastconv import _core

    assert _core.openmp_enabled() is True


def test_show_config(capfd):
    fastconv.show_config()
    out, err = capfd.readouterr()
    text = out + err
    assert "fastconv" in text.lower()
    assert "openmp" in text.lower()


def test_supported_isas_and_set_isa():
    from fastconv import _core

    isas = list(_core.supported_isas())
    import platform
    arm = platform.machine().lower() in ("aarch64", "arm64")
    assert "vec128" in isas and set(isas) <= ({"vec128", "neon"} if arm else {"vec128", "avx2", "avx512"})
    if arm:
        assert "neon" in isas   # every AArch64 CPU has ASIMD
    prev = _core.get_isa()
    assert prev in isas
    try:
        for name in isas:
            _core.set_isa(name)
            assert _core.get_isa() == name
        with pytest.raises(RuntimeError, match="another architecture"):
            _core.set_isa("avx512" if arm else "neon")
        with pytest.raises(ValueError):
            _core.set_isa("sse9")
    finally:
        _core.set_isa(prev)
    assert _core.get_isa() == prev


def test_isa_detection_matches_cpu():
    from fastconv import _core

    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:  # pragma: no cover
        pytest.skip("no /proc/cpuinfo")
    import platform
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("compares x86-64's CPU flags")
    isas = set(_core.supported_isas())
    if "avx2" in flags and "fma" in flags:
        assert "avx2" in isas
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
        assert "avx512" in isas
    if "avx512f" not in flags:
        assert "avx512" not in isas
    if "avx2" not in flags:
        assert "avx2" not in isas


def _ops(rng, dtype):
    """(name, fn, ref, winograd) for a medium problem that every thread gets work in."""
    x = rand(rng, (2, 8, 12, 11), dtype)
    w = rand(rng, (12, 4, 3, 3), dtype)
    b = rand(rng, (12,), dtype)
    wt = rand(rng, (8, 3, 3, 3), dtype)
    dw = rand(rng, (8, 1, 3, 3), dtype)
    pw = rand(rng, (5, 8), dtype)
    ker = rand(rng, (2, 2, 9, 12, 11), dtype)
    x1 = rand(rng, (3, 8, 29), dtype)
    w1 = rand(rng, (6, 8, 5), dtype)
    x3 = rand(rng, (2, 4, 5, 6, 7), dtype)
    w3 = rand(rng, (5, 4, 3, 3, 3), dtype)
    ops = []
    for algo in ("direct", "gemm", "winograd"):
        ops.append((f"conv2d-{algo}", lambda a=algo: fastconv.conv2d(x, w, b, 1, 1, 1, 2, algorithm=a),
                    R.conv2d(x, w, b, 1, 1, 1, 2), algo == "winograd"))
    ops += [
        ("conv2d-s2-reflect", lambda: fastconv.conv2d(x, w, b, 2, 2, 1, 2, padding_mode="reflect"),
         R.conv2d(x, w, b, 2, 2, 1, 2, "reflect"), False),
        ("conv1d", lambda: fastconv.conv1d(x1, w1, None, 2, "same"), R.conv1d(x1, w1, None, 2, "same"), False),
        ("conv3d", lambda: fastconv.conv3d(x3, w3, None, 1, 1), R.conv3d(x3, w3, None, 1, 1), False),
        ("conv_transpose2d", lambda: fastconv.conv_transpose2d(x, wt, None, 2, 1, 1, 2),
         R.conv_transpose2d(x, wt, None, 2, 1, 1, 2), False),
        ("depthwise", lambda: fastconv.depthwise_conv2d(x, dw, None, 1, 1), R.depthwise_conv2d(x, dw, None, 1, 1),
         False),
        ("pointwise", lambda: fastconv.pointwise_conv2d(x, pw), R.pointwise_conv2d(x, pw), False),
        ("separable", lambda: fastconv.separable_conv2d(x, pw[0, :3], pw[1, :5], None, 1, (2, 1)),
         R.separable_conv2d(x, pw[0, :3], pw[1, :5], None, 1, (2, 1)), False),
        ("dwsep", lambda: fastconv.depthwise_separable_conv2d(x, dw, pw, None, None, 1, 1,
                                                              depthwise_activation="relu"),
         R.depthwise_separable_conv2d(x, dw, pw, None, None, 1, 1, 1, "relu"), False),
        ("involution2d", lambda: fastconv.involution2d(x, ker, 3), R.involution2d(x, ker, 3), False),
        ("max_pool2d", lambda: fastconv.max_pool2d(x, 3, 2, 1), R.max_pool2d(x, 3, 2, 1), False),
    ]
    return ops


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_results_independent_of_thread_count(dtype, rng, restore_threads):
    ops = _ops(rng, dtype)
    results = {}
    for n in THREAD_COUNTS:
        fastconv.set_num_threads(n)
        assert fastconv.get_num_threads() == n
        for name, fn, ref, wino in ops:
            y = fn()
            assert_close(y, ref, dtype, winograd=wino, what=f"{name} threads={n}")
            results.setdefault(name, []).append(y)
    for name, ys in results.items():
        for n, y in zip(THREAD_COUNTS[1:], ys[1:]):
            assert np.array_equal(ys[0], y, equal_nan=True), \
                f"{name}: result with {n} threads differs bitwise from 1 thread"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_layers_independent_of_thread_count(dtype, rng, restore_threads):
    w = rand(rng, (16, 8, 3, 3), dtype)
    x = rand(rng, (3, 8, 10, 9), dtype)
    ref = R.conv2d(x, w, None, 1, 1)
    layers = [fastconv.Conv2d(w, padding=1, algorithm=a) for a in ("direct", "gemm", "winograd")]
    for n in THREAD_COUNTS:
        fastconv.set_num_threads(n)
        for layer, wino in zip(layers, (False, False, True)):
            assert_close(layer(x), ref, dtype, winograd=wino, what=f"threads={n}")
    # a layer built under one thread count and used under another
    fastconv.set_num_threads(1)
    layer = fastconv.Conv2d(w, padding=1)
    fastconv.set_num_threads(7)
    assert_close(layer(x), ref, dtype, winograd=True)


def test_threadpoolctl_limits_pool(rng, restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x = rand(rng, (2, 8, 12, 12))
    w = rand(rng, (8, 8, 3, 3))
    ref = R.conv2d(x, w, None, 1, 1)
    with threadpoolctl.threadpool_limits(limits=1):
        assert_close(fastconv.conv2d(x, w, None, 1, 1, algorithm="gemm"), ref, np.float64)
    assert_close(fastconv.conv2d(x, w, None, 1, 1, algorithm="gemm"), ref, np.float64)


def test_threadpoolctl_sees_fastconv_pool(restore_threads):
    """docs/guide/threads.md: `threadpoolctl` limits fastconv's pool."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fastconv.set_num_threads(2)
    with threadpoolctl.threadpool_limits(limits=1):
        assert fastconv.get_num_threads() == 1


def test_version_exposed():
    assert isinstance(getattr(fastconv, "__version__", None), str)


def test_show_config_reports_version_and_kernel_set(capfd):
    from fastconv import _core

    fastconv.show_config()
    text = "".join(capfd.readouterr()).lower()
    assert fastconv.__version__ in text
    assert _core.get_isa() in text


def test_winograd_nonfinite_behaviour_documented():
    doc = (fastconv.conv2d.__doc__ or "").lower()
    assert "winograd" in doc and ("nan" in doc or "non-finite" in doc or "inf" in doc)


def test_gil_released_while_kernel_runs(restore_threads):
    """While one thread is inside a kernel, another Python thread keeps running.

    Progress-based, not timed: the worker reads a counter that the main thread
    keeps incrementing, just before and just after one kernel call.  With the
    GIL held for the whole call, the counter could not move in between.
    """
    import threading

    fastconv.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 64, 48, 48))
    w = rng.standard_normal((64, 64, 3, 3))
    counter = [0]
    seen = []
    started, done = threading.Event(), threading.Event()

    def work():
        started.wait()
        before = counter[0]
        fastconv.conv2d(x, w, padding=1, algorithm="direct")
        seen.append(counter[0] - before)
        done.set()

    th = threading.Thread(target=work)
    th.start()
    started.set()
    while not done.is_set():
        counter[0] += 1
    th.join()
    assert seen and seen[0] > 1000, f"the main thread advanced only {seen} times during a kernel"


def _threads_in_subprocess(env_threads):
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if env_threads is not None:
        env["OMP_NUM_THREADS"] = str(env_threads)
    out = subprocess.run([sys.executable, "-c", "import fastconv; print(fastconv.get_num_threads())"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


def test_default_threads_follow_omp_num_threads():
    assert _threads_in_subprocess(3) == 3
    assert _threads_in_subprocess(1) == 1


def test_default_threads_all_cores():
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert _threads_in_subprocess(None) in {cores, os.cpu_count()}
