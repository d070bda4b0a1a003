"""The weight gradient's C kernels (impl/wgrad.inc) on every ISA level and
dtype, against a float64 NumPy oracle of the definition (the sum over images
and output pixels of grad_output times the padded input's window): the GEMM
form (its mr x nr edges, several pixel chunks, batches, stride phases,
dilation, 1-D/2-D/3-D), the inner-product form of few channels per group
(depthwise, small groups, a 3-channel first layer), and inputs holding NaN or
Inf (the products of the zero padding included, as torch computes them)."""
import numpy as np
import pytest

from fastconv import grad
from helpers import DTYPES, DTYPE_IDS, assert_close, rand


def oracle(x, gy, wshape, stride, padding, dilation, groups):
    """float64 gw by the definition: windows of the zero-padded input."""
    nd = x.ndim - 2
    x, gy = x.astype(np.float64), gy.astype(np.float64)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    C_out, cig, *k = wshape
    N, C_in = x.shape[:2]
    out = gy.shape[2:]
    st = xp.strides
    # win[n, c, o..., t...] = xp[n, c, o*s + t*d]
    win = np.lib.stride_tricks.as_strided(
        xp, (N, C_in) + tuple(out) + tuple(k),
        st[:2] + tuple(s * a for s, a in zip(st[2:], stride)) + tuple(s * a for s, a in zip(st[2:], dilation)))
    cog = C_out // groups
    gw = np.empty(wshape)
    ax = tuple(range(2, 2 + nd))
    for g in range(groups):
        wg = win[:, g * cig:(g + 1) * cig]
        yg = gy[:, g * cog:(g + 1) * cog]
        # sum over n and output pixels: (cog, cig, k...)
        with np.errstate(invalid="ignore", over="ignore"):
            gw[g * cog:(g + 1) * cog] = np.tensordot(yg, wg, axes=((0,) + ax, (0,) + ax))
    return gw


def _out(size, k, s, p, d):
    return tuple((i + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for i, kk, ss, pp, dd in zip(size, k, s, p, d))


CASES = [  # N, C_in, C_out, groups, spatial, kernel, stride, padding, dilation
    (1, 13, 37, 1, (19, 23), (3, 3), (1, 1), (1, 1), (1, 1)),       # mr and nr edges, several chunks
    (3, 16, 32, 1, (12, 12), (3, 3), (2, 2), (1, 1), (1, 1)),       # stride phases, batch
    (2, 8, 24, 1, (17, 15), (3, 5), (1, 2), (2, 0), (2, 1)),        # dilation, mixed strides
    (1, 20, 40, 1, (30, 30), (1, 1), (1, 1), (0, 0), (1, 1)),       # 1x1: x is its own plane
    (2, 6, 10, 1, (9, 10), (1, 1), (2, 3), (0, 0), (1, 1)),         # strided 1x1
    (2, 3, 16, 1, (21, 21), (7, 7), (2, 2), (3, 3), (1, 1)),        # a 3-channel first layer
    (2, 24, 24, 24, (14, 14), (3, 3), (1, 1), (1, 1), (1, 1)),      # depthwise
    (1, 10, 10, 10, (11, 9), (5, 5), (2, 2), (2, 2), (1, 1)),       # depthwise 5x5/2
    (2, 12, 24, 3, (9, 9), (3, 3), (1, 1), (1, 1), (1, 1)),         # groups of 4 -> 8
    (1, 64, 64, 4, (7, 7), (3, 3), (1, 1), (1, 1), (1, 1)),         # groups of 16: the GEMM's side
    (1, 6, 12, 2, (40,), (5,), (3,), (2,), (2,)),                   # 1-D
    (1, 5, 9, 1, (6, 7, 5), (3, 3, 3), (1, 2, 1), (1, 1, 1), (1, 1, 2)),   # 3-D
    (2, 4, 4, 4, (5, 6, 7), (3, 3, 3), (2, 1, 1), (1, 1, 0), (1, 1, 1)),   # 3-D depthwise
    (1, 4, 5, 1, (3, 3), (3, 3), (1, 1), (0, 0), (1, 1)),           # one output pixel
]


def _call(case, dtype, rng):
    N, ci, co, g, sp, k, s, p, d = case
    nd = len(sp)
    x = rand(rng, (N, ci) + sp, dtype)
    gy = rand(rng, (N, co) + _out(sp, k, s, p, d), dtype)
    ws = (co, ci // g) + k
    fn = getattr(grad, f"conv{nd}d_weight")
    return fn(x, ws, gy, stride=s, padding=p, dilation=d, groups=g), oracle(x, gy, ws, s, p, d, g)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES, ids=[f"{len(c[4])}d-{i}" for i, c in enumerate(CASES)])
def test_weight_gradient(case, dtype, isa, rng):
    gw, ref = _call(case, dtype, rng)
    assert_close(gw, ref, dtype, what=f"{case}")


def test_threads_give_the_same_bits(rng):
    import fastconv
    case = (2, 13, 37, 1, (19, 23), (3, 3), (1, 1), (1, 1), (1, 1))
    old = fastconv.get_num_threads()
    try:
        res = []
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            res.append(_call(case, np.float32, np.random.default_rng(5))[0])
    finally:
        fastconv.set_num_threads(old)
    assert all(np.array_equal(res[0], r) for r in res[1:])


@pytest.mark.parametrize("groups, co", [(1, 32), (8, 8)], ids=["gemm", "depthwise"])
def test_nan_and_inf_as_torch(groups, co, isa, rng):
    """A NaN or an Inf reaches only the taps whose windows read it, the zero
    padding's products included (0 x Inf is NaN there, as in torch); the
    grid points off the output that the fast forms multiply by zero add
    nothing."""
    x = rand(rng, (1, 8, 9, 9))
    gy = rand(rng, (1, co, 9, 9))
    x[0, 1, 4, 8] = np.inf             # the last column: read by the taps kw <= 1 only
    gy[0, 3, 0, 0] = np.nan            # a corner: every tap of output channel 3 reads it
    gy[0, 5, 8, 4] = -np.inf
    ws = (co, 8 // groups, 3, 3)
    ref = oracle(x, gy, ws, (1, 1), (1, 1), (1, 1), groups)
    for dt in (np.float32, np.float64):
        gw = grad.conv2d_weight(x.astype(dt), ws, gy.astype(dt), padding=1, groups=groups)
        np.testing.assert_array_equal(np.isnan(gw), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(gw), np.isinf(ref))
        fin = np.isfinite(ref)
        np.testing.assert_allclose(gw[fin], ref[fin], rtol=1e-4, atol=1e-4)
    torch = pytest.importorskip("torch")
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.zeros(ws, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv2d(tx, tw, padding=1, groups=groups).backward(torch.from_numpy(gy))
    np.testing.assert_array_equal(np.isnan(tw.grad.numpy()), np.isnan(ref))
