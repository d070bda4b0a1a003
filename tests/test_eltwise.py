"""fastconv.add: activation(x + y) element-wise, threaded C (the glue between layers)."""
import numpy as np
import pytest

import fastconv

ACTS = {
    None: lambda v: v,
    "relu": lambda v: np.where(v < 0, 0, v),
    "relu6": lambda v: np.where(v < 0, 0, np.where(v > 6, 6, v)),
    "leaky_relu": lambda v: np.where(v < 0, v * 0.2, v),
    "hardswish": lambda v: np.where(v <= -3, 0, np.where(v >= 3, v, v * (v + 3) / 6)),
}


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (2, 3, 5, 5), (1, 64, 56, 56), (3, 16385)])
def test_add_activation(act, dtype, shape, restore_threads):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    y = (rng.standard_normal(shape) * 5).astype(dtype)
    want = ACTS[act]((x.astype(np.float64) + y)).astype(dtype) if act != "leaky_relu" else None
    for threads in (1, 2):
        fastconv.set_num_threads(threads)
        got = fastconv.add(x, y, activation=act, negative_slope=0.2)
        s = (x + y)                                   # the same rounding of the sum as the kernel
        ref = ACTS[act](s).astype(dtype)
        np.testing.assert_allclose(got, ref, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-6)
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        alone = fastconv.add(x, activation=act, negative_slope=0.2)
        np.testing.assert_allclose(alone, ACTS[act](x).astype(dtype), rtol=1e-6, atol=1e-6)


def test_add_in_place_and_nan():
    x = np.array([-1.0, 2.0, np.nan, -7.0], np.float32)
    y = np.ones(4, np.float32)
    r = fastconv.add(x, y, activation="relu", out=x)
    assert r is x
    assert x[0] == 0 and x[1] == 3 and np.isnan(x[2]) and x[3] == 0
    z = np.full(4, 5.0, np.float32)
    fastconv.add(np.ones(4, np.float32), z, out=z)
    assert np.all(z == 6)


def test_add_rejects():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        fastconv.add(x, np.ones((3, 2), np.float32))
    with pytest.raises(TypeError):
        fastconv.add(x, np.ones((2, 3), np.float64))
    with pytest.raises(ValueError, match="activation"):
        fastconv.add(x, activation="swish!")
    with pytest.raises(ValueError, match="overlap"):
        fastconv.add(x, out=x[:, :])       # a view of x, not x itself: refused
    assert fastconv.add(np.ones((0, 3), np.float32)).shape == (0, 3)
