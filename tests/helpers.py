"""Shared helpers for the fastconv tests (not an oracle: see reference.py)."""

import contextlib

import numpy as np
import pytest

from reference import rel_err, tolerance

DTYPES = (np.float32, np.float64)
DTYPE_IDS = ("f32", "f64")


def rand(rng, shape, dtype=np.float64, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def conv_call(x, w, b, nd, layer=False, **kw):
    """fastconv.conv{nd}d(x, w, b, **kw), or the layer object Conv{nd}d(w, b, **kw) on x."""
    import fastconv
    if layer:
        return getattr(fastconv, f"Conv{nd}d")(w, b, **kw)(x)
    return getattr(fastconv, f"conv{nd}d")(x, w, b, **kw)


def assert_close(y, ref, dtype=None, winograd=False, what=""):
    """rel_err(y, ref) within docs/TESTING.md's tolerance for dtype."""
    y = np.asarray(y)
    if dtype is None:
        dtype = y.dtype
    assert y.dtype == np.dtype(dtype), f"{what}: result dtype {y.dtype}, expected {np.dtype(dtype)}"
    assert y.shape == np.shape(ref), f"{what}: shape {y.shape}, expected {np.shape(ref)}"
    err = rel_err(y, ref)
    tol = tolerance(dtype, winograd)
    assert err <= tol, f"{what}: rel_err {err:.3e} > {tol:.0e}"


class ArrayLike:
    """Only exposes __array__ (no buffer protocol, not an ndarray)."""

    def __init__(self, a):
        self._a = np.asarray(a)

    def __array__(self, dtype=None, copy=None):
        a = self._a
        if dtype is not None:
            a = a.astype(dtype)
        return a.copy() if copy else a


LAYOUTS = ("c", "noncontig", "negstride", "fortran", "array_like", "memoryview", "readonly",
           "readonly_memoryview")


def relayout(a, layout):
    """Same values as a, different memory layout / container."""
    a = np.ascontiguousarray(a)
    if layout == "c":
        return a
    if layout == "noncontig":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        v = big[..., ::2]
        assert not v.flags.c_contiguous or a.shape[-1] <= 1
        return v
    if layout == "negstride":
        v = a[(slice(None, None, -1),) * a.ndim].copy()[(slice(None, None, -1),) * a.ndim]
        assert all(s < 0 for s, n in zip(v.strides, v.shape) if n > 1) or a.size <= 1
        return v
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "array_like":
        return ArrayLike(a)
    if layout == "memoryview":
        return memoryview(a)
    if layout == "readonly":
        v = a.copy()
        v.flags.writeable = False
        return v
    if layout == "readonly_memoryview":
        return memoryview(np.frombuffer(a.tobytes(), a.dtype).reshape(a.shape))
    if layout == "torch":
        torch = pytest.importorskip("torch")
        return torch.from_numpy(a)
    raise ValueError(layout)


def bad_outs(shape, dtype):
    """(id, array) pairs of out= arguments that must be rejected."""
    dtype = np.dtype(dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    outs = []
    wrong_shape = tuple(shape[:-1]) + (shape[-1] + 1,)
    outs.append(("shape", np.full(wrong_shape, 7.0, dtype)))
    outs.append(("extra_dim", np.full((1,) + tuple(shape), 7.0, dtype)))
    outs.append(("dtype", np.full(shape, 7.0, other)))
    outs.append(("int_dtype", np.full(shape, 7, np.int32)))
    big = np.full(tuple(shape[:-1]) + (2 * shape[-1],), 7.0, dtype)
    outs.append(("noncontig", big[..., ::2]))
    if sum(1 for n in shape if n > 1) >= 2:
        outs.append(("fortran", np.asfortranarray(np.full(shape, 7.0, dtype))))
    return outs


def check_out_param(fn, expected_shape, dtype, ref, *, winograd=False):
    """fn(out=...) must write into a right out and reject every wrong one."""
    out = np.full(expected_shape, np.nan, dtype)
    res = fn(out=out)
    assert res is out, "out= must be returned as is"
    assert_close(out, ref, dtype, winograd=winograd, what="out=")
    for name, bad in bad_outs(expected_shape, dtype):
        before = np.array(bad, copy=True)
        with pytest.raises(ValueError):
            fn(out=bad)
        assert np.array_equal(np.asarray(bad), before, equal_nan=True), \
            f"out ({name}) was modified although the call was rejected"


@contextlib.contextmanager
def forced_isa(name):
    """The kernel level name in force inside the block (the previous one after)."""
    from fastconv import _core

    prev = _core.get_isa()
    _core.set_isa(name)
    try:
        yield
    finally:
        _core.set_isa(prev)
