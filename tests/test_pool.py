"""max_pool2d (+indices) and max_unpool2d against the oracle and torch."""

import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, LAYOUTS, rand, relayout

# (shape, kernel_size, stride, padding)
POOL_CASES = {
    "k2_default_stride": ((2, 3, 8, 8), 2, None, 0),
    "k2_odd_size": ((2, 3, 9, 7), 2, None, 0),
    "k3_s2_p1": ((1, 2, 7, 9), 3, 2, 1),
    "k3_s1_p1": ((2, 2, 6, 5), 3, 1, 1),
    "k_tuple": ((2, 2, 5, 6), (3, 2), (1, 2), (1, 1)),
    "pad_tuple": ((1, 3, 7, 8), (3, 4), 2, (1, 2)),
    "stride_gt_kernel": ((1, 2, 11, 10), 2, 3, 0),
    "stride_gt_kernel_p1": ((1, 2, 11, 10), 2, 3, 1),
    "k1": ((2, 3, 4, 5), 1, None, 0),
    "k1_s2": ((2, 3, 5, 5), 1, 2, 0),
    "unbatched": ((3, 6, 6), 2, None, 0),
    "unbatched_p1": ((3, 5, 7), 3, 2, 1),
    "spatial_1x1": ((2, 4, 1, 1), 1, None, 0),
    "global": ((2, 3, 5, 7), (5, 7), None, 0),
    "prime": ((1, 7, 13, 11), 3, 2, 1),
    "ch17_w33": ((1, 17, 3, 33), 2, 1, 1),
    "ch33": ((1, 33, 4, 9), 3, 2, 0),
    "ch16_w16": ((2, 16, 4, 16), (2, 3), (2, 1), (1, 1)),
    "batch3": ((3, 2, 6, 6), 2, 2, 1),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(POOL_CASES), ids=list(POOL_CASES))
def test_max_pool_unpool(isa, dtype, case, rng):
    shape, k, s, p = POOL_CASES[case]
    x = rand(rng, shape, dtype)
    ref_v, ref_i = R.max_pool2d(x, k, s, p, return_indices=True)
    y = fastconv.max_pool2d(x, k, s, p)
    assert y.dtype == dtype and y.shape == ref_v.shape
    assert np.array_equal(y, ref_v.astype(dtype))
    v, i = fastconv.max_pool2d(x, k, s, p, return_indices=True)
    assert np.array_equal(v, ref_v.astype(dtype))
    assert i.dtype == np.int64 and np.array_equal(i, ref_i)
    # back to the input's own size (always valid: the indices lie in its plane)
    u = fastconv.max_unpool2d(v, i, k, s, p, output_size=shape[-2:])
    ref_u = R.max_unpool2d(v, i, k, s, p, output_size=shape[-2:])
    assert u.dtype == dtype and u.shape == ref_u.shape
    assert np.array_equal(u, ref_u.astype(dtype))
    if default_unpool_fits(shape, k, s, p):
        u = fastconv.max_unpool2d(v, i, k, s, p)
        ref_u = R.max_unpool2d(v, i, k, s, p)
        assert u.shape == ref_u.shape and np.array_equal(u, ref_u.astype(dtype))


def default_unpool_fits(shape, k, s, p):
    """The default unpool size holds the input plane, so every index is in range."""
    k = R.ntuple(k, 2, "")
    s = k if s is None else R.ntuple(s, 2, "")
    p = R.ntuple(p, 2, "")
    h, w = shape[-2:]
    ho, wo = [(i + 2 * pi - ki) // si + 1 for i, pi, ki, si in zip((h, w), p, k, s)]
    return (ho - 1) * s[0] - 2 * p[0] + k[0] >= h and (wo - 1) * s[1] - 2 * p[1] + k[1] >= w


@pytest.mark.parametrize("case", ["k2_default_stride", "k3_s2_p1", "k_tuple", "unbatched_p1",
                                  "stride_gt_kernel", "global"])
def test_max_pool_unpool_vs_torch(case, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape, k, s, p = POOL_CASES[case]
    x = rand(rng, shape, np.float64)
    v, i = fastconv.max_pool2d(x, k, s, p, return_indices=True)
    tv, ti = F.max_pool2d(torch.from_numpy(x), k, s, p, return_indices=True)
    assert np.array_equal(v, tv.numpy()) and np.array_equal(i, ti.numpy())
    osz = list(shape[-2:])
    u = fastconv.max_unpool2d(v, i, k, s, p, output_size=osz)
    assert np.array_equal(u, F.max_unpool2d(tv, ti, k, s, p, output_size=osz).numpy())
    if default_unpool_fits(shape, k, s, p):
        u = fastconv.max_unpool2d(v, i, k, s, p)
        assert np.array_equal(u, F.max_unpool2d(tv, ti, k, s, p).numpy())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pool_layouts(layout, rng):
    x = rand(rng, (2, 3, 7, 7), np.float32)
    ref_v, ref_i = R.max_pool2d(x, 3, 2, 1, return_indices=True)
    v, i = fastconv.max_pool2d(relayout(x, layout), 3, 2, 1, return_indices=True)
    assert np.array_equal(v, ref_v.astype(np.float32)) and np.array_equal(i, ref_i)
    u = fastconv.max_unpool2d(relayout(v, layout), relayout(i, layout), 3, 2, 1)
    assert np.array_equal(u, R.max_unpool2d(v, i, 3, 2, 1).astype(np.float32))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("output_size", [(8, 9), (1, 2, 8, 9), (9, 9), [9, 8]])
def test_max_unpool_output_size(dtype, output_size, rng):
    x = rand(rng, (1, 2, 8, 9), dtype)
    v, i = fastconv.max_pool2d(x, 2, return_indices=True)   # (4, 4): default unpool is 8x8
    u = fastconv.max_unpool2d(v, i, 2, output_size=output_size)
    ref = R.max_unpool2d(v, i, 2, output_size=output_size)
    assert u.shape == ref.shape and np.array_equal(u, ref.astype(dtype))
    torch = pytest.importorskip("torch")
    tu = torch.nn.functional.max_unpool2d(torch.from_numpy(v), torch.from_numpy(i), 2,
                                          output_size=list(output_size))
    assert np.array_equal(u, tu.numpy())


def test_max_unpool_explicit_output_size_when_default_is_empty(rng):
    # input 1x1, kernel (4, 1), padding (2, 0): pooled 1x1, the default unpool size
    # is 0x1, but output_size=(1, 1) is within a stride of it, and torch accepts it.
    x = rand(rng, (1, 1, 1, 1), np.float64)
    v, i = fastconv.max_pool2d(x, (4, 1), None, (2, 0), return_indices=True)
    assert v.shape == (1, 1, 1, 1) and i.item() == 0
    u = fastconv.max_unpool2d(v, i, (4, 1), None, (2, 0), output_size=(1, 1))
    assert np.array_equal(u, x)


def test_unpool_roundtrip_keeps_maxima(rng):
    x = rand(rng, (2, 3, 8, 8), np.float64)
    v, i = fastconv.max_pool2d(x, 2, return_indices=True)
    u = fastconv.max_unpool2d(v, i, 2)
    mask = u != 0
    assert np.array_equal(u[mask], x[mask]) and mask.sum() == v.size


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_max_pool_nan_propagates(isa, dtype, rng):
    x = rand(rng, (2, 3, 8, 9), dtype)
    x[0, 0, 1, 1] = np.nan
    x[1, 2, 7, 8] = np.nan
    x[0, 1, 4, 4] = np.inf
    for k, s, p in [(2, None, 0), (3, 2, 1), (3, 1, 1)]:
        ref = R.max_pool2d(x, k, s, p)
        y = fastconv.max_pool2d(x, k, s, p)
        assert np.array_equal(np.isnan(y), np.isnan(ref)), (k, s, p)
        assert np.array_equal(np.isposinf(y), np.isposinf(ref)), (k, s, p)
        _, i = fastconv.max_pool2d(x, k, s, p, return_indices=True)
        nan_at = np.isnan(ref)
        assert np.all(np.isnan(x.reshape(2, 3, -1)[
            np.arange(2)[:, None, None, None], np.arange(3)[None, :, None, None], i][nan_at]))


@pytest.mark.parametrize("name,args,kw", [
    ("kernel_size", (0,), {}),
    ("kernel_size", (-1,), {}),
    ("kernel_size", ((2, 0),), {}),
    ("kernel_size", ((2, 2, 2),), {}),
    ("stride", (2,), dict(stride=0)),
    ("stride", (2,), dict(stride=(1, -1))),
    ("padding", (2,), dict(padding=-1)),
    ("padding", (2,), dict(padding=2)),          # > kernel_size / 2
    ("padding", (3,), dict(padding=(1, 2))),
])
def test_max_pool_bad_argument(name, args, kw):
    x = np.ones((1, 2, 6, 6))
    with pytest.raises(ValueError, match=name):
        fastconv.max_pool2d(x, *args, **kw)


@pytest.mark.parametrize("shape,k", [((1, 2, 2, 2), 3), ((6, 6), 2), ((1, 1, 2, 6, 6), 2),
                                     ((1, 2, 0, 6), 1)])
def test_max_pool_bad_shapes(shape, k):
    with pytest.raises(ValueError):
        fastconv.max_pool2d(np.ones(shape), k)


def test_pool_dtypes():
    with pytest.raises(TypeError, match="int64"):
        fastconv.max_pool2d(np.ones((1, 2, 4, 4), np.int64), 2)
    x = np.ones((1, 2, 4, 4))
    v, i = fastconv.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(TypeError) as ei:
        fastconv.max_unpool2d(v.astype(np.int32), i, 2)
    assert "int32" in str(ei.value)


@pytest.mark.parametrize("what", ["indices_shape", "index_too_big", "index_negative", "x_rank"])
def test_max_unpool_bad_input(what):
    x = np.arange(32, dtype=np.float64).reshape(1, 2, 4, 4)
    v, i = fastconv.max_pool2d(x, 2, return_indices=True)
    if what == "indices_shape":
        i = i[:, :, :1]
    elif what == "index_too_big":
        i = i.copy()
        i[0, 0, 0, 0] = 16
    elif what == "index_negative":
        i = i.copy()
        i[0, 1, 1, 1] = -1
    elif what == "x_rank":
        v, i = v[0, 0], i[0, 0]
    with pytest.raises(ValueError):
        fastconv.max_unpool2d(v, i, 2)


# ---------------------------------------------------------------- global average pooling
@pytest.mark.parametrize("shape", [(2, 5, 7), (1, 16, 7, 7), (3, 4, 56, 56), (2, 3, 2, 5, 6), (0, 3, 4, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_matches_the_mean(shape, dtype, restore_threads):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) + 3.0).astype(dtype)
    want = x.astype(np.float64).mean(axis=tuple(range(2, x.ndim)), keepdims=True)
    for threads in (1, 2):
        fastconv.set_num_threads(threads)
        y = fastconv.global_avg_pool(x)
        assert y.shape == want.shape and y.dtype == dtype
        np.testing.assert_allclose(y, want, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=0)
    flat = fastconv.global_avg_pool(x, keepdims=False)
    assert flat.shape == shape[:2]
    out = np.empty(want.shape, dtype)
    assert fastconv.global_avg_pool(x, out=out) is out


def test_global_avg_pool_rejects():
    with pytest.raises(ValueError, match="dims"):
        fastconv.global_avg_pool(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="empty"):
        fastconv.global_avg_pool(np.ones((1, 2, 0, 3), np.float32))
    with pytest.raises(TypeError):
        fastconv.global_avg_pool(np.ones((1, 2, 3), np.int32))
    with pytest.raises(ValueError, match="shape"):
        fastconv.global_avg_pool(np.ones((1, 2, 3, 3), np.float32), out=np.empty((1, 2), np.float32))
