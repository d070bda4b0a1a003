"""Hardening (issue 8): hostile arguments, non-finite values, memory, threads,
determinism and interrupts, for every op.  Fast versions of the checks; the
long ones are scripts/leakcheck.py, scripts/sanitize.sh and the nightly
hypothesis profile (docs/HARDENING.md)."""

import gc
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPE_IDS, DTYPES, assert_close, rand

F32 = np.float32
# scripts/sanitize.sh sets this: ASan's quarantine holds freed memory, so RSS
# grows by design there (tracemalloc checks still run).
SANITIZED = os.environ.get("FASTCONV_SANITIZED") == "1"


# ---------------------------------------------------------------- the ops
def _draw(dtype, rng, batch=2):
    """The arrays of op_table, drawn in a fixed order."""
    r = lambda *s: rand(rng, s, dtype)  # noqa: E731
    W = {}
    W["x1"], W["x2"], W["x3"] = r(batch, 5, 13), r(batch, 5, 9, 11), r(batch, 3, 5, 6, 7)
    W["w1"], W["w2"], W["w3"] = r(7, 5, 3), r(7, 5, 3, 3), r(4, 3, 2, 3, 2)
    W["wg"], W["wp"] = r(5, 1, 3, 3), r(9, 5)
    W["b7"], W["b4"], W["b6"], W["b5"] = r(7), r(4), r(6), r(5)
    W["wt1"], W["wt2"], W["wt3"] = r(5, 3, 3), r(5, 2, 3, 3), r(3, 2, 2, 2, 3)
    W["dw"], W["dwb"] = r(10, 1, 3, 3), r(10)
    W["pw"], W["pwb"] = r(9, 10), r(9)
    W["row"], W["col"] = r(5, 4), r(3)
    W["ker"] = r(batch, 5, 9, 5, 6)
    return W


def op_table(dtype, rng, *, batch=2):
    """name -> (call(x, out=None), x): every op of the public API with small,
    awkward shapes (odd sizes, channels off the SIMD width, every padding form)."""
    W = _draw(dtype, rng, batch)
    conv2d_layer = fastconv.Conv2d(W["w2"], W["b7"], 1, 1, algorithm="gemm")
    convt_layer = fastconv.ConvTranspose2d(W["wt2"], None, 2, 1, 1)
    L = {
        "conv1d": lambda x, out=None: fastconv.conv1d(x, W["w1"], W["b7"], 2, 1, out=out),
        "conv2d_direct": lambda x, out=None: fastconv.conv2d(x, W["w2"], W["b7"], 1, 1,
                                                             algorithm="direct", out=out),
        "conv2d_gemm": lambda x, out=None: fastconv.conv2d(x, W["w2"], W["b7"], (2, 1), "same",
                                                           algorithm="gemm", padding_mode="reflect",
                                                           out=out),
        "conv2d_winograd": lambda x, out=None: fastconv.conv2d(x, W["w2"], W["b7"], 1, 1,
                                                               algorithm="winograd", out=out),
        "conv2d_grouped": lambda x, out=None: fastconv.conv2d(x, W["wg"], W["b5"], 1, 1, 1, 5,
                                                              padding_mode="circular", out=out),
        "conv3d": lambda x, out=None: fastconv.conv3d(x, W["w3"], W["b4"], 1,
                                                      ((1, 0), (0, 1), (1, 1)), out=out),
        "conv_transpose1d": lambda x, out=None: fastconv.conv_transpose1d(x, W["wt1"], None, 2, 1, 1,
                                                                          out=out),
        "conv_transpose2d": lambda x, out=None: fastconv.conv_transpose2d(x, W["wt2"], W["b6"][:2],
                                                                          2, 1, 1, 1, out=out),
        "conv_transpose3d": lambda x, out=None: fastconv.conv_transpose3d(x, W["wt3"], None, 2, 0, 1,
                                                                          out=out),
        "depthwise": lambda x, out=None: fastconv.depthwise_conv2d(x, W["dw"], W["dwb"], 2, 1, out=out),
        "pointwise": lambda x, out=None: fastconv.pointwise_conv2d(x, W["wp"], W["pwb"], out=out),
        "separable": lambda x, out=None: fastconv.separable_conv2d(x, W["row"], W["col"], W["b5"], 1, 1,
                                                                   padding_mode="replicate", out=out),
        "dwsep": lambda x, out=None: fastconv.depthwise_separable_conv2d(
            x, W["dw"], W["pw"], W["dwb"], W["pwb"], 1, 1, depthwise_activation="relu6", out=out),
        "involution": lambda x, out=None: fastconv.involution2d(x, W["ker"], 3, 2, 1, out=out),
        "max_pool": lambda x, out=None: fastconv.max_pool2d(x, 3, 2, 1),
        "layer_conv2d": lambda x, out=None: conv2d_layer(x, out=out),
        "layer_conv_transpose2d": lambda x, out=None: convt_layer(x, out=out),
    }
    X = {"conv1d": "x1", "conv3d": "x3", "conv_transpose1d": "x1", "conv_transpose3d": "x3"}
    return {name: (fn, W[X.get(name, "x2")]) for name, fn in L.items()}


def oracle(name, x, dtype, seed, batch=2):
    """The float64 oracle of op_table(dtype, default_rng(seed))[name] at x."""
    W = {k: v.astype(np.float64) for k, v in _draw(dtype, np.random.default_rng(seed), batch).items()}
    if name == "conv1d":
        return R.conv1d(x, W["w1"], W["b7"], 2, 1)
    if name in ("conv2d_direct", "conv2d_winograd", "layer_conv2d"):
        return R.conv2d(x, W["w2"], W["b7"], 1, 1)
    if name == "conv2d_gemm":
        return R.conv2d(x, W["w2"], W["b7"], (2, 1), "same", padding_mode="reflect")
    if name == "conv2d_grouped":
        return R.conv2d(x, W["wg"], W["b5"], 1, 1, 1, 5, padding_mode="circular")
    if name == "conv3d":
        return R.conv3d(x, W["w3"], W["b4"], 1, ((1, 0), (0, 1), (1, 1)))
    if name == "conv_transpose1d":
        return R.conv_transpose1d(x, W["wt1"], None, 2, 1, 1)
    if name in ("conv_transpose2d", "layer_conv_transpose2d"):
        b = W["b6"][:2] if name == "conv_transpose2d" else None
        return R.conv_transpose2d(x, W["wt2"], b, 2, 1, 1, 1)
    if name == "conv_transpose3d":
        return R.conv_transpose3d(x, W["wt3"], None, 2, 0, 1)
    if name == "depthwise":
        return R.depthwise_conv2d(x, W["dw"], W["dwb"], 2, 1)
    if name == "pointwise":
        return R.pointwise_conv2d(x, W["wp"], W["pwb"])
    if name == "separable":
        return R.separable_conv2d(x, W["row"], W["col"], W["b5"], 1, 1, "replicate")
    if name == "dwsep":
        return R.depthwise_separable_conv2d(x, W["dw"], W["pw"], W["dwb"], W["pwb"], 1, 1, 1,
                                            "relu6", None)
    if name == "involution":
        return R.involution2d(x, W["ker"], 3, 2, 1)
    if name == "max_pool":
        return R.max_pool2d(x, 3, 2, 1)
    raise KeyError(name)


OPS = tuple(op_table(np.float64, np.random.default_rng(0)))
OUT_OPS = tuple(n for n in OPS if n != "max_pool")


# ---------------------------------------------------------------- hostile sizes
HUGE = 2**40
x2s = np.ones((1, 1, 2, 2), F32)
w11 = np.ones((1, 1, 1, 1), F32)


@pytest.mark.parametrize("name,call", [
    ("conv1d", lambda: fastconv.conv1d(np.ones((1, 1, 2), F32), np.ones((1, 1, 1), F32), padding=2**62)),
    ("conv1d_2**64", lambda: fastconv.conv1d(np.ones((1, 1, 2), F32), np.ones((1, 1, 1), F32), padding=2**64)),
    ("conv2d", lambda: fastconv.conv2d(x2s, w11, stride=HUGE, padding=HUGE)),
    ("conv2d_direct", lambda: fastconv.conv2d(x2s, w11, stride=HUGE, padding=HUGE, algorithm="direct")),
    ("conv2d_gemm", lambda: fastconv.conv2d(x2s, w11, stride=HUGE, padding=HUGE, algorithm="gemm")),
    ("conv2d_dilation", lambda: fastconv.conv2d(x2s, np.ones((1, 1, 2, 2), F32), stride=HUGE,
                                                dilation=HUGE, padding=HUGE)),
    ("conv3d", lambda: fastconv.conv3d(np.ones((1, 1, 2, 2, 2), F32), np.ones((1, 1, 1, 1, 1), F32),
                                       stride=2**20, padding=2**17)),
    ("conv_transpose2d_stride", lambda: fastconv.conv_transpose2d(x2s, w11, stride=HUGE)),
    ("conv_transpose2d_dilation", lambda: fastconv.conv_transpose2d(x2s, np.ones((1, 1, 2, 2), F32),
                                                                    dilation=HUGE)),
    ("conv_transpose1d_2**62", lambda: fastconv.conv_transpose1d(np.ones((1, 1, 2), F32),
                                                                 np.ones((1, 1, 1), F32), stride=2**62)),
    ("conv_transpose2d_pad", lambda: fastconv.conv_transpose2d(x2s, w11, stride=HUGE, padding=HUGE // 2)),
    ("depthwise", lambda: fastconv.depthwise_conv2d(x2s, w11, stride=HUGE, padding=HUGE)),
    ("separable", lambda: fastconv.separable_conv2d(x2s, np.ones(1, F32), np.ones(1, F32),
                                                    stride=HUGE, padding=HUGE)),
    ("dwsep", lambda: fastconv.depthwise_separable_conv2d(x2s, w11, np.ones((1, 1), F32),
                                                          stride=2**28, padding=2**28)),
    ("involution", lambda: fastconv.involution2d(x2s, np.ones((1, 1, 1, 3, 3), F32), 1,
                                                 stride=HUGE, padding=HUGE)),
    ("max_pool", lambda: fastconv.max_pool2d(x2s, HUGE, stride=HUGE, padding=HUGE // 2)),
    ("max_unpool_output_size", lambda: fastconv.max_unpool2d(x2s, np.zeros((1, 1, 2, 2), np.int64), 2,
                                                             output_size=(HUGE, HUGE))),
    ("max_unpool_stride", lambda: fastconv.max_unpool2d(x2s, np.zeros((1, 1, 2, 2), np.int64), 2,
                                                        stride=2**62)),
    ("layer", lambda: fastconv.Conv2d(w11, stride=HUGE, padding=HUGE)(x2s)),
    ("layer_transpose", lambda: fastconv.ConvTranspose2d(w11, stride=HUGE)(x2s)),
    ("set_num_threads", lambda: fastconv.set_num_threads(2**31)),
])
def test_sizes_overflowing_products_are_value_errors(name, call, restore_threads):
    """Element counts beyond int64 (or beyond 2**48 padded elements) are a
    ValueError raised before anything is allocated -- never a wrapped size,
    an OverflowError from the C conversion, a crash or an endless loop."""
    with pytest.raises(ValueError, match="(?i)too (large|big)|must lie within|<= 4096"):
        call()


@pytest.mark.parametrize("call", [
    lambda: fastconv.conv2d(x2s, w11, stride=2**22, padding=2**22),
    lambda: fastconv.conv2d(x2s, w11, stride=2**22, padding=2**22, algorithm="direct"),
    lambda: fastconv.conv2d(x2s, w11, stride=2**22, padding=2**22, padding_mode="replicate"),
    lambda: fastconv.depthwise_conv2d(np.ones((1, 8, 2, 2), F32), np.ones((8, 1, 1, 1), F32),
                                      stride=2**20, padding=2**20),
    lambda: fastconv.separable_conv2d(x2s, np.ones(1, F32), np.ones(1, F32), stride=2**22, padding=2**22),
    lambda: fastconv.depthwise_separable_conv2d(x2s, w11, np.ones((1, 1), F32), stride=2**22,
                                                padding=2**22),
    lambda: fastconv.involution2d(x2s, np.ones((1, 1, 1, 3, 3), F32), 1, stride=2**22, padding=2**22),
    lambda: fastconv.conv1d(np.ones((1, 1, 2), F32), np.ones((1, 1, 1), F32), stride=2**45,
                            padding=2**45),
])
def test_huge_padding_below_the_limit_memoryerror_or_right(call):
    """Padded inputs of ~2**46 elements (a padded copy would need 256 TB): the
    result is right (paths that never materialise the padding) or a clean
    MemoryError from the scratch allocation (paths that do)."""
    try:
        y = call()
    except MemoryError:
        return
    # output positions 0, s, 2s: only the middle one lands on x[0, 0] (== 1)
    expect = np.zeros(y.shape, F32)
    expect[(...,) + (1,) * (y.ndim - 2)] = 1
    assert np.array_equal(y, expect)


@pytest.mark.parametrize("kw", [dict(stride=2**64), dict(dilation=2**64), dict(stride=2**63, dilation=2**70)])
def test_strides_and_dilations_that_never_move(kw):
    """Any stride of a single output position, any dilation of a 1-tap kernel,
    gives the result of stride 1 / dilation 1 (no C integer overflow)."""
    x = np.arange(1, 10, dtype=F32).reshape(1, 1, 3, 3)
    w = np.full((1, 1, 1, 1), 2, F32)
    ref = R.conv2d(x, w, stride=3)
    if "stride" not in kw:
        ref = R.conv2d(x, w)
    for fn in (fastconv.conv2d, fastconv.depthwise_conv2d, fastconv.Conv2d):
        y = fn(w, **kw)(x) if fn is fastconv.Conv2d else fn(x, w, **kw)
        assert np.array_equal(y, ref.astype(F32)), fn
    y = fastconv.conv_transpose2d(x[:, :, :1, :1], w, stride=2**64, dilation=2**64)
    assert np.array_equal(y, x[:, :, :1, :1] * 2)
    y = fastconv.max_pool2d(x, 1, stride=2**64)
    assert np.array_equal(y, x[:, :, :1, :1])


def test_too_many_threads_rejected(restore_threads):
    fastconv.set_num_threads(4096)
    assert fastconv.get_num_threads() == 4096
    with pytest.raises(ValueError, match="4096"):
        fastconv.set_num_threads(4097)
    assert fastconv.get_num_threads() == 4096


# ---------------------------------------------------------------- zero-size dims
ZERO_SHAPES = [(0, 5, 9, 11), (2, 5, 0, 11), (2, 5, 9, 0)]


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("zshape", range(3))
def test_zero_size_dims_never_crash(name, zshape, rng):
    """A zero batch or spatial size: the empty result (as PyTorch) or a
    ValueError; nothing reaches C that could touch memory."""
    fn, x = op_table(np.float32, rng)[name]
    shape = list(x.shape)
    zs = ZERO_SHAPES[zshape]
    if zshape == 0:
        shape[0] = 0
    else:
        shape[-1 if zshape == 2 else 2] = 0
    del zs
    xz = np.zeros(shape, np.float32)
    try:
        y = fn(xz)
    except ValueError:
        return
    y = y[0] if isinstance(y, tuple) else y
    assert y.size == 0 or np.all(np.isfinite(y))


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d", "depthwise", "pointwise"])
def test_zero_channels(op):
    """C_in = 0 or C_out = 0: empty or bias-only results, like PyTorch."""
    x0 = np.zeros((2, 0, 4, 4), F32)
    if op == "conv2d":
        y = fastconv.conv2d(x0, np.zeros((3, 0, 3, 3), F32), np.arange(3, dtype=F32), padding=1)
        assert y.shape == (2, 3, 4, 4) and np.array_equal(y[0, :, 0, 0], np.arange(3, dtype=F32))
        y = fastconv.conv2d(np.ones((2, 3, 4, 4), F32), np.zeros((0, 3, 3, 3), F32))
        assert y.shape == (2, 0, 2, 2)
    elif op == "conv_transpose2d":
        y = fastconv.conv_transpose2d(np.ones((2, 3, 4, 4), F32), np.zeros((3, 0, 3, 3), F32))
        assert y.shape == (2, 0, 6, 6)
    elif op == "depthwise":
        try:
            y = fastconv.depthwise_conv2d(x0, np.zeros((0, 1, 3, 3), F32))
            assert y.size == 0
        except ValueError:
            pass
    else:
        y = fastconv.pointwise_conv2d(x0, np.zeros((4, 0), F32), np.ones(4, F32))
        assert y.shape == (2, 4, 4, 4) and np.all(y == 1)


# ---------------------------------------------------------------- NaN / Inf
def _plant_nonfinite(x, rng):
    x = x.copy()
    flat = x.reshape(-1)
    pos = rng.choice(flat.size, size=3, replace=False)
    flat[pos] = (np.nan, np.inf, -np.inf)
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", [n for n in OPS if n != "conv2d_winograd"])
def test_nonfinite_propagates_like_the_oracle(name, dtype):
    """Non-finite outputs exactly where the receptive field holds a NaN/Inf
    (the float64 oracle's mask; PyTorch's too), finite ones still right.
    (Winograd may spread over a tile: documented, tested in test_conv.py.)"""
    for trial in range(3):
        rng = np.random.default_rng(trial)
        fn, x = op_table(dtype, rng)[name]
        xn = _plant_nonfinite(x, np.random.default_rng(100 + trial))
        y = fn(xn)
        ref = oracle(name, xn, dtype, trial)
        assert np.array_equal(np.isnan(y), np.isnan(ref)), name
        assert np.array_equal(np.isinf(y), np.isinf(ref)), name
        fin = np.isfinite(ref)
        if fin.any():
            assert_close(np.where(fin, y, 0), np.where(fin, ref, 0), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", OPS)
def test_op_table_matches_oracle(name, dtype):
    """The table every hardening test uses is itself right (guards the tests)."""
    fn, x = op_table(dtype, np.random.default_rng(0))[name]
    ref = oracle(name, x, dtype, 0)
    if name == "max_pool":
        assert np.array_equal(fn(x), ref.astype(dtype))
    else:
        assert_close(fn(x), ref, dtype, winograd=name == "conv2d_winograd")


# ---------------------------------------------------------------- hostile arrays
def _layouts(x):
    yield "readonly", _readonly(x)
    yield "big_endian", x.astype(x.dtype.newbyteorder(">"))
    yield "fortran", np.asfortranarray(x)
    yield "negative_strides", x[..., ::-1].copy()[..., ::-1]
    yield "noncontig", np.repeat(x, 2, axis=-1)[..., ::2]
    yield "list", x.tolist()


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", OPS)
def test_hostile_layouts_same_result(name, dtype):
    """Read-only, non-native byte order, Fortran, negatively strided,
    non-contiguous inputs and nested lists: the same result as a C array,
    and the input is not modified."""
    fn, x = op_table(dtype, np.random.default_rng(0))[name]
    ref = fn(x)
    ref = ref[0] if isinstance(ref, tuple) else ref
    for layout, xv in _layouts(x):
        if layout == "list" and dtype == np.float32:
            continue        # a list of Python floats is float64: a TypeError (no silent cast)
        before = np.array(xv, copy=True)
        y = fn(xv)
        assert np.array_equal(y, ref), layout
        assert np.array_equal(np.asarray(xv), before), f"{layout}: input modified"


@pytest.mark.parametrize("name", OPS)
def test_non_arrays_are_type_errors(name):
    fn, x = op_table(np.float32, np.random.default_rng(0))[name]
    for bad in (None, "x", object(), {"a": 1}, [[1, "a"]], np.zeros(x.shape, np.int32),
                np.zeros(x.shape, np.complex64), np.zeros(x.shape, np.float16)):
        with pytest.raises((TypeError, ValueError)):
            fn(bad)


@pytest.mark.parametrize("name", OUT_OPS)
def test_out_overlapping_an_input_is_value_error(name):
    """out= sharing memory with x (whole or in part) is a ValueError (docs/API.md),
    raised before anything is written."""
    fn, x = op_table(np.float32, np.random.default_rng(0))[name]
    shape = fn(x).shape
    n = int(np.prod(shape))
    buf = np.zeros(x.size + n, F32)
    xv = buf[:x.size].reshape(x.shape)
    xv[...] = x
    for start in (0, x.size // 2, x.size - 1):
        out = buf[start:start + n].reshape(shape)
        before = buf.copy()
        with pytest.raises(ValueError, match="overlap"):
            fn(xv, out=out)
        assert np.array_equal(buf, before)
    # a big-endian or read-only out is rejected too
    for bad in (np.zeros(shape, F32).astype(">f4"), _readonly(np.zeros(shape, F32))):
        with pytest.raises(ValueError):
            fn(x, out=bad)


def test_out_aliasing_weights_is_value_error():
    w = np.ones((2, 2, 1, 1), F32)
    x = np.ones((1, 2, 1, 2), F32)
    with pytest.raises(ValueError, match="overlap"):
        fastconv.conv2d(x, w, out=w.reshape(1, 2, 1, 2))
    layer = fastconv.Conv2d(w)
    with pytest.raises(ValueError, match="overlap"):
        layer(x, out=x)


# ---------------------------------------------------------------- memory
def _rss_kb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return 0


@pytest.mark.parametrize("name", OPS)
def test_no_leak_over_repeated_calls(name):
    """200 calls (scripts/leakcheck.py does 10,000): no Python objects pile up
    (tracemalloc) and the process does not grow by more than a few MB (RSS:
    the C scratch cache is reused, not reallocated)."""
    fn, x = op_table(np.float32, np.random.default_rng(0), batch=1)[name]
    out = fn(x)
    out = None if isinstance(out, tuple) else out
    for _ in range(20):                       # warm the caches (scratch, specs)
        fn(x)
    gc.collect()
    tracemalloc.start()
    try:
        rss0 = _rss_kb()
        snap0 = tracemalloc.take_snapshot()
        for i in range(200):
            y = fn(x)
            del y
        gc.collect()
        snap1 = tracemalloc.take_snapshot()
        rss1 = _rss_kb()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename") if s.size_diff > 0)
    assert grown < 64 * 1024, f"{grown} bytes of Python objects kept after 200 calls"
    assert SANITIZED or rss1 - rss0 < 16 * 1024, f"RSS grew {rss1 - rss0} KB over 200 calls"


def test_failed_calls_do_not_leak():
    """Calls rejected in validation, in C (FC_EINVAL: bad unpool index) and by
    a failed scratch allocation (FC_ENOMEM) leave nothing behind."""
    x = np.ones((1, 1, 2, 2), F32)
    calls = [
        lambda: fastconv.conv2d(x, np.ones((1, 2, 1, 1), F32)),
        lambda: fastconv.max_unpool2d(x, np.full((1, 1, 2, 2), 99, np.int64), 2),
        lambda: fastconv.conv2d(x, np.ones((1, 1, 1, 1), F32), stride=2**22, padding=2**22,
                                algorithm="direct"),
    ]
    for c in calls:
        for _ in range(5):
            with pytest.raises((ValueError, MemoryError)):
                c()
    gc.collect()
    tracemalloc.start()
    try:
        rss0, s0 = _rss_kb(), tracemalloc.take_snapshot()
        for _ in range(100):
            for c in calls:
                with pytest.raises((ValueError, MemoryError)):
                    c()
        gc.collect()
        rss1, s1 = _rss_kb(), tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in s1.compare_to(s0, "filename") if s.size_diff > 0)
    assert grown < 64 * 1024
    assert SANITIZED or rss1 - rss0 < 16 * 1024


# ---------------------------------------------------------------- threads
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_many_threads_every_op_and_shared_layers(dtype, restore_threads):
    """8 Python threads, each calling every op (sharing the layer objects of
    one table) in a different order, while OpenMP runs 2 threads inside each
    call: every result bit-identical to the serial one."""
    fastconv.set_num_threads(2)
    ops = op_table(dtype, np.random.default_rng(1))
    serial = {n: fn(x) for n, (fn, x) in ops.items()}
    names = list(ops)
    errors = []

    def worker(k):
        try:
            order = names[k % len(names):] + names[:k % len(names)]
            for rep in range(3):
                for n in order:
                    fn, x = ops[n]
                    y = fn(x)
                    if not np.array_equal(y, serial[n], equal_nan=True):
                        errors.append(f"thread {k}: {n} differs")
        except Exception as e:  # noqa: BLE001
            errors.append(f"thread {k}: {type(e).__name__}: {e}")

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in ts), "a thread hangs"
    assert not errors, errors[:5]


def test_set_num_threads_while_others_compute(restore_threads):
    """One thread keeps changing the thread count while 4 others compute:
    no crash, and every result is still the serial one (results never depend
    on the thread count)."""
    ops = op_table(np.float32, np.random.default_rng(2))
    serial = {n: fn(x) for n, (fn, x) in ops.items()}
    stop = threading.Event()
    errors = []

    def flipper():
        k = 0
        while not stop.is_set():
            fastconv.set_num_threads(1 + k % 5)
            k += 1
            time.sleep(0.0005)

    def worker(k):
        try:
            for rep in range(2):
                for n, (fn, x) in ops.items():
                    if not np.array_equal(fn(x), serial[n]):
                        errors.append(f"{n} differs")
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {e}")

    f = threading.Thread(target=flipper)
    ws = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    f.start()
    for t in ws:
        t.start()
    for t in ws:
        t.join(timeout=300)
    stop.set()
    f.join()
    assert not any(t.is_alive() for t in ws), "a thread hangs"
    assert not errors, errors[:5]


# ---------------------------------------------------------------- determinism
DET_CASES = {
    # name: (x shape, call(x, w)); sizes chosen so that 1, 2, 3 and 5 threads
    # split the work differently (odd block counts, remainders)
    "direct": ((3, 19, 23, 29), lambda x, w: fastconv.conv2d(x, w, None, 1, 1, algorithm="direct")),
    "gemm": ((3, 19, 23, 29), lambda x, w: fastconv.conv2d(x, w, None, 1, 1, algorithm="gemm")),
    "gemm_1x1_big_k": ((2, 300, 9, 11), lambda x, w: fastconv.conv2d(x, w[:, :, :1, :1].repeat(300 // 19 + 1, 1)[:, :300].copy(),
                                                                     algorithm="gemm")),
    "winograd": ((3, 19, 23, 29), lambda x, w: fastconv.conv2d(x, w, None, 1, 1, algorithm="winograd")),
    "winograd_grouped": ((1, 38, 23, 29), lambda x, w: fastconv.conv2d(
        x, np.resize(w, (38, 19, 3, 3)).astype(x.dtype), None, 1, 1, 1, 2, algorithm="winograd")),
    "layer_gemm": ((3, 19, 23, 29), lambda x, w: fastconv.Conv2d(w, None, 1, 1, algorithm="gemm")(x)),
    "grouped": ((2, 19, 23, 29), lambda x, w: fastconv.conv2d(x, w[:, :1].copy(), None, 1, 1, 1, 19)),
    "depthwise": ((2, 19, 23, 29), lambda x, w: fastconv.depthwise_conv2d(x, w[:, :1].copy(), None, 2, 1)),
    "dwsep": ((2, 19, 23, 29), lambda x, w: fastconv.depthwise_separable_conv2d(
        x, w[:, :1].copy(), w[:, :, 0, 0].copy(), None, None, 1, 1)),
    "separable": ((2, 19, 23, 29), lambda x, w: fastconv.separable_conv2d(x, w[:, 0, 0].copy(),
                                                                          w[:, 0, :, 1].copy(), None, 1, 1)),
    "involution": ((2, 19, 23, 29), lambda x, w: fastconv.involution2d(
        x, np.resize(w, (2, 1, 9, 23, 29)).astype(x.dtype), 3)),
    "transposed": ((2, 19, 11, 13), lambda x, w: fastconv.conv_transpose2d(x, w, None, 2, 1, 1)),
    "conv3d": ((2, 19, 5, 7, 9), lambda x, w: fastconv.conv3d(x, w[:, :, None, :2, :2].copy(), None, 1, 1)),
    "max_pool": ((2, 19, 23, 29), lambda x, w: fastconv.max_pool2d(x, 3, 2, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", sorted(DET_CASES))
def test_bit_identical_for_any_thread_count(case, dtype, isa, restore_threads):
    """Every algorithm splits work so that each output is summed by one thread
    in a fixed order: outputs are bit-identical for 1, 2, 3 and 5 threads."""
    shape, call = DET_CASES[case]
    rng = np.random.default_rng(3)
    x = rand(rng, shape, dtype)
    w = rand(rng, (19, 19, 3, 3), dtype)
    results = []
    for n in (1, 2, 3, 5):
        fastconv.set_num_threads(n)
        results.append(call(x, w))
    for n, y in zip((2, 3, 5), results[1:]):
        assert np.array_equal(y, results[0]), f"{case}: {n} threads differ from 1"


# ---------------------------------------------------------------- interrupts
_LONG = """
import faulthandler, signal, sys, time, numpy as np
sys.path[:0] = {path!r}
faulthandler.register(signal.SIGUSR1)          # the parent asks for a traceback if we hang
# Python's own Ctrl-C handler even when started with SIGINT ignored (a
# background job of a non-interactive shell inherits SIG_IGN; Python keeps it)
signal.signal(signal.SIGINT, signal.default_int_handler)
import fastconv
fastconv.set_num_threads(2)
x = np.ones((2, 64, 48, 48), np.float32)
w = np.ones((64, 64, 3, 3), np.float32)
fastconv.conv2d(x, w, padding=1, algorithm="direct")
t = time.perf_counter(); fastconv.conv2d(x, w, padding=1, algorithm="direct")
print(time.perf_counter() - t, flush=True)      # one call's time, then: ready
try:
    while True:
        fastconv.conv2d(x, w, padding=1, algorithm="direct")
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
"""


@pytest.mark.skipif(sys.platform == "win32",
                    reason="Popen.send_signal takes no SIGINT on Windows (and there is no SIGUSR1)")
def test_sigint_during_long_calls_raises_keyboardinterrupt():
    """A real SIGINT to a process looping over long convolutions (GIL released,
    OpenMP running) ends in KeyboardInterrupt after the current call: the
    process exits through the handler, it does not hang or crash."""
    path = [p for p in sys.path if p]
    proc = subprocess.Popen([sys.executable, "-c", _LONG.format(path=path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        time.sleep(min(0.5, float(line) / 2))       # mid-call
        proc.send_signal(signal.SIGINT)
        try:
            # generous: a loaded CI host (or the sanitizer build) runs calls 10x slower
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)          # where is it stuck?
            time.sleep(2)
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"no exit 300 s after SIGINT; child's stacks:\n{err}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, (proc.returncode, out, err)
    assert "interrupted" in out


@pytest.mark.parametrize("how", ["interrupt_main", "pthread_kill"])
def test_interrupt_from_a_timer_thread(how, restore_threads, request):
    """_thread.interrupt_main / pthread_kill(SIGINT) while the main thread is
    inside a long call: KeyboardInterrupt is raised once the call returns."""
    import _thread

    if how == "pthread_kill" and not hasattr(signal, "pthread_kill"):
        pytest.skip("no pthread_kill")
    fastconv.set_num_threads(2)
    x = np.ones((2, 64, 32, 32), F32)
    w = np.ones((64, 64, 3, 3), F32)
    main = threading.main_thread().ident
    if threading.get_ident() != main:
        pytest.skip("not on the main thread")
    fire = (lambda: _thread.interrupt_main()) if how == "interrupt_main" else \
        (lambda: signal.pthread_kill(main, signal.SIGINT))
    timer = threading.Timer(0.05, fire)
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        # started with SIGINT ignored (a background job): Python's handler for the test
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    # bounded by time, not by a call count: a loaded host runs each call
    # many times slower, and the interrupt is due one call after it fires
    deadline = time.monotonic() + 300
    with pytest.raises(KeyboardInterrupt):
        timer.start()
        try:
            while time.monotonic() < deadline:     # raises after the call in flight
                fastconv.conv2d(x, w, padding=1, algorithm="direct")
        finally:
            timer.cancel()
    # the library still works afterwards
    y = fastconv.conv2d(x[:1, :, :5, :5], w, padding=1)
    assert np.all(np.isfinite(y))


@pytest.mark.skipif(SANITIZED, reason="RSS grows by design under ASan")
def test_leakcheck_script_runs():
    """scripts/leakcheck.py runs (a few calls per op) and reports no leak."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "scripts", "leakcheck.py")
    if not os.path.exists(script):
        pytest.skip("scripts/ not shipped with this copy")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, script, "--calls", "100", "--quiet"], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- reads past the end
_GUARD = r"""
import ctypes, mmap, sys
import numpy as np
sys.path[:0] = {path!r}
import fastconv
from fastconv import _core
_core.set_isa({isa!r})
libc = ctypes.CDLL(None, use_errno=True)
PAGE = mmap.PAGESIZE
keep = []

def guarded(a):
    '''a copy of a whose last byte is followed by an unreadable page'''
    a = np.ascontiguousarray(a)
    pages = -(-a.nbytes // PAGE) + 1
    m = mmap.mmap(-1, pages * PAGE)
    buf = (ctypes.c_char * (pages * PAGE)).from_buffer(m)
    guard = ctypes.addressof(buf) + (pages - 1) * PAGE
    assert libc.mprotect(ctypes.c_void_p(guard), PAGE, 0) == 0, ctypes.get_errno()
    g = np.frombuffer(m, a.dtype, a.size, (pages - 1) * PAGE - a.nbytes).reshape(a.shape)
    g[...] = a
    keep.append((m, buf))
    return g

rng = np.random.default_rng(0)
for dt in (np.float32, np.float64):
    r = lambda *s: guarded(rng.standard_normal(s).astype(dt))
    for H, W in [(h, w) for h in (4, 21) for w in (1, 2, 3, 5, 7, 9, 13, 17)]:
        cases = {{
            "direct": lambda: fastconv.conv2d(r(1, 3, H, W), r(5, 3, 3, 3), r(5), padding=1, algorithm="direct"),
            "gemm": lambda: fastconv.conv2d(r(1, 3, H, W), r(5, 3, 3, 3), r(5), padding=1, algorithm="gemm"),
            "1x1": lambda: fastconv.conv2d(r(1, 3, H, W), r(5, 3, 1, 1)),
            "winograd": lambda: fastconv.conv2d(r(1, 3, H, W), r(5, 3, 3, 3), padding=1, algorithm="winograd"),
            "grouped": lambda: fastconv.conv2d(r(1, 8, H, W), r(8, 2, 3, 3), padding=1, groups=4),
            "grouped/winograd": lambda: fastconv.conv2d(r(1, 32, H, W), r(24, 16, 3, 3), r(24), padding=1, groups=2, algorithm="winograd"),
            "depthwise": lambda: fastconv.conv2d(r(1, 9, H, W), r(9, 1, 3, 3), r(9), padding=1, groups=9),
            "depthwise/wide": lambda: fastconv.conv2d(r(1, 2, H, W + 48), r(4, 1, 3, 3), r(4), padding=1, dilation=(1, 2), groups=2),
            "depthwise/2": lambda: fastconv.conv2d(r(1, 9, H + 1, W), r(9, 1, 3, 3), stride=2, padding=1, groups=9),
            "dwsep": lambda: fastconv.depthwise_separable_conv2d(r(1, 9, H, W), r(9, 1, 3, 3), r(4, 9), padding=1),
            "separable": lambda: fastconv.separable_conv2d(r(1, 3, H, W), r(3), r(3), padding=1),
            "involution": lambda: fastconv.involution2d(r(1, 4, H, W), r(1, 2, 9, H, W), 3, padding=1),
            "involution/2": lambda: fastconv.involution2d(r(1, 4, H + 1, W), r(1, 2, 9, H // 2 + 1, (W + 1) // 2), 3, stride=2, padding=1),
            "transposed": lambda: fastconv.conv_transpose2d(r(1, 3, H, W), r(3, 5, 4, 4), r(5), stride=2, padding=1),
            "conv1d": lambda: fastconv.conv1d(r(1, 3, W), r(5, 3, 3), padding=1),
            "conv3d": lambda: fastconv.conv3d(r(1, 3, 2, H, W), r(5, 3, 2, 3, 3), padding=(0, 1, 1)),
            "max_pool": lambda: fastconv.max_pool2d(r(1, 3, H, W), 3, 1, 1),
        }}
        for name, call in cases.items():
            print(dt.__name__, H, W, name, flush=True)
            call()
print("ok")
"""


def test_no_read_past_the_end_of_any_array(isa):
    """Every array handed to every op ends right before an unreadable page
    (mprotect), on narrow widths where the kernels' last vectors overhang:
    a read past an input's end would be a segfault here (the involution kernel
    had one, found by ASan on a 3-wide plane: fixed)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("mprotect through ctypes: Linux")
    path = [p for p in sys.path if p]
    r = subprocess.run([sys.executable, "-c", _GUARD.format(path=path, isa=isa)],
                       capture_output=True, text=True, timeout=600)
    last = r.stdout.strip().splitlines()[-1:] or ["(nothing)"]
    assert r.returncode == 0 and last == ["ok"], (r.returncode, last, r.stderr[-2000:])
