"""The oracle itself, checked against PyTorch (float64) and SciPy.

Does not import fastconv: it proves reference.py before the library is judged by it.
"""

import numpy as np
import pytest

import reference as R

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-12


def t(a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def close(a, b):
    b = b.numpy() if hasattr(b, "numpy") else b
    assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    assert R.rel_err(a, b) <= TOL


def _torch_conv(nd, x, w, b, stride, padding, dilation, groups, padding_mode):
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    xt = t(x)
    simple = isinstance(padding, (int, str)) or all(isinstance(p, int) for p in padding)
    if padding_mode == "zeros" and simple:
        return fn(xt, t(w), t(b), stride, padding, dilation, groups)
    # explicit pad (pairs or a non-zero mode) then a valid convolution
    if isinstance(padding, int):
        pads = [(padding, padding)] * nd
    else:
        pads = [(p, p) if isinstance(p, int) else p for p in padding]
    flat = []
    for b_, a_ in reversed(pads):
        flat += [b_, a_]
    mode = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
            "circular": "circular"}[padding_mode]
    unb = xt.dim() == nd + 1
    if unb:
        xt = xt[None]
    xt = F.pad(xt, flat, mode=mode)
    if unb:
        xt = xt[0]
    return fn(xt, t(w), t(b), stride, 0, dilation, groups)


CONV2D_CASES = [
    # (N, C, O, H, W, kH, kW, stride, padding, dilation, groups, mode, bias)
    (2, 3, 4, 7, 8, 3, 3, 1, 1, 1, 1, "zeros", True),
    (1, 4, 6, 9, 5, 3, 2, (2, 1), (1, 0), (1, 2), 2, "zeros", False),
    (2, 4, 4, 6, 6, 3, 3, 1, 1, 1, 4, "zeros", True),
    (None, 3, 2, 5, 6, 3, 3, 1, 1, 1, 1, "zeros", True),
    (1, 2, 3, 7, 7, 3, 3, 1, ((0, 2), (1, 0)), 1, 1, "zeros", True),
    (1, 2, 3, 7, 7, 3, 3, 2, ((1, 2), (2, 1)), 1, 1, "zeros", False),
    (2, 2, 2, 6, 7, 3, 3, 1, 2, 1, 1, "reflect", True),
    (2, 2, 2, 6, 7, 3, 3, 1, (1, 2), 1, 1, "replicate", True),
    (2, 2, 2, 6, 7, 3, 3, 1, (3, 2), 1, 1, "circular", True),
    (1, 2, 2, 6, 7, 3, 3, 2, ((0, 3), (2, 1)), 1, 1, "reflect", False),
    (1, 3, 3, 5, 5, 3, 3, 1, (5, 5), 1, 1, "circular", False),
    (1, 2, 4, 9, 9, 2, 2, 3, 0, 1, 2, "zeros", True),
    (1, 2, 2, 1, 1, 1, 1, 1, 0, 1, 1, "zeros", True),
    (1, 2, 2, 1, 1, 3, 3, 1, 1, 1, 1, "zeros", True),
]


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_vs_torch(case):
    rng = np.random.default_rng(0)
    n, c, o, h, w_, kh, kw, s, p, d, g, mode, has_b = case
    xshape = (c, h, w_) if n is None else (n, c, h, w_)
    x = rng.standard_normal(xshape)
    w = rng.standard_normal((o, c // g, kh, kw))
    b = rng.standard_normal(o) if has_b else None
    close(R.conv2d(x, w, b, s, p, d, g, mode), _torch_conv(2, x, w, b, s, p, d, g, mode))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_nd_modes_vs_torch_module(nd, mode):
    rng = np.random.default_rng(nd)
    cls = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[nd]
    sizes = (5, 6, 7)[:nd]
    m = cls(4, 6, 3, stride=2, padding=2, dilation=1, groups=2, padding_mode=mode,
            dtype=torch.float64)
    x = rng.standard_normal((2, 4) + sizes)
    with torch.no_grad():
        ref = m(t(x))
    y = R.conv_nd(x, m.weight.detach().numpy(), m.bias.detach().numpy(), 2, 2, 1, 2, mode, nd=nd)
    close(y, ref)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("dil", [1, 2])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_same_padding_stride1_equals_torch_same(nd, dil, k):
    rng = np.random.default_rng(k)
    sizes = (7, 6, 5)[:nd]
    x = rng.standard_normal((2, 3) + sizes)
    w = rng.standard_normal((2, 3) + (k,) * nd)
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    close(R.conv_nd(x, w, None, 1, "same", dil, nd=nd), fn(t(x), t(w), None, 1, "same", dil))


@pytest.mark.parametrize("in_size,k,s,d", [(7, 3, 2, 1), (8, 3, 2, 1), (9, 4, 3, 1),
                                           (10, 3, 3, 2), (5, 1, 2, 1), (3, 5, 2, 1),
                                           (1, 3, 4, 1), (6, 2, 4, 3)])
def test_same_padding_stride_gt1_is_tensorflow_same(in_size, k, s, d):
    # TensorFlow "SAME": out = ceil(in / s); pad_total = max((out-1)*s + (k-1)*d + 1 - in, 0),
    # pad_before = pad_total // 2.
    pads = R.same_pads((in_size,), (k,), (s,), (d,))
    out = -(-in_size // s)
    (b, a), = pads
    assert R.conv_output_size(in_size, k, s, b, a, d) == out
    assert b == (b + a) // 2 and a >= b
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, in_size))
    w = rng.standard_normal((3, 2, k))
    ref = F.conv1d(F.pad(t(x), [b, a]), t(w), None, s, 0, d)
    close(R.conv1d(x, w, None, s, "same", d), ref)
    assert ref.shape[-1] == out


@pytest.mark.parametrize("nd", [1, 3])
def test_conv1d_3d_misc_vs_torch(nd):
    rng = np.random.default_rng(3)
    sizes = (9,) if nd == 1 else (5, 4, 6)
    for (s, p, d, g) in [(1, 0, 1, 1), (2, 1, 2, 3), (3, 2, 1, 1), (1, "valid", 1, 3),
                         (1, "same", 2, 1)]:
        x = rng.standard_normal((2, 6) + sizes)
        w = rng.standard_normal((3, 6 // g) + (2,) * nd)
        b = rng.standard_normal(3)
        close(R.conv_nd(x, w, b, s, p, d, g, nd=nd), _torch_conv(nd, x, w, b, s, p, d, g, "zeros"))
        xu = x[0]
        close(R.conv_nd(xu, w, b, s, p, d, g, nd=nd), _torch_conv(nd, xu, w, b, s, p, d, g, "zeros"))


@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_activation(act):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 6, 6)) * 4
    w = rng.standard_normal((4, 3, 3, 3))
    ref = F.conv2d(t(x), t(w))
    ref = F.relu(ref) if act == "relu" else F.relu6(ref)
    close(R.conv2d(x, w, activation=act), ref)
    y = R.apply_activation(np.array([np.nan, -1.0, 7.0]), act)
    assert np.isnan(y[0]) and y[1] == 0


CT_CASES = [
    # (N, Cin, Cout, sizes, k, stride, padding, output_padding, groups, dilation)
    (2, 3, 4, (5,), 3, 1, 0, 0, 1, 1),
    (1, 4, 6, (6,), 3, 2, 1, 1, 2, 1),
    (2, 4, 4, (4,), 2, 3, 2, 2, 4, 2),
    (1, 2, 3, (4, 5), 3, 2, 1, 1, 1, 1),
    (2, 4, 2, (3, 4), (2, 3), (1, 2), (0, 1), (0, 1), 2, (2, 1)),
    (None, 2, 3, (4, 3), 3, 2, 0, 1, 1, 2),
    (1, 3, 3, (1, 1), 3, 1, 1, 0, 3, 1),
    (1, 2, 2, (3, 3, 2), 2, 2, 0, 1, 1, 1),
    (2, 4, 4, (2, 3, 3), 3, (1, 2, 2), 1, (0, 1, 0), 2, 1),
]


@pytest.mark.parametrize("case", CT_CASES)
def test_conv_transpose_vs_torch(case):
    rng = np.random.default_rng(1)
    n, cin, cout, sizes, k, s, p, op, g, d = case
    nd = len(sizes)
    kk = R.ntuple(k, nd, "k")
    xshape = ((cin,) if n is None else (n, cin)) + sizes
    x = rng.standard_normal(xshape)
    w = rng.standard_normal((cin, cout // g) + kk)
    b = rng.standard_normal(cout)
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    ref = fn(t(x), t(w), t(b), s, p, op, g, d)
    close(R.conv_transpose_nd(x, w, b, s, p, op, g, d, nd=nd), ref)


def test_conv_transpose_is_adjoint_of_conv():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    y = R.conv2d(x, w, None, 2, 1, (1, 2), 2)
    u = rng.standard_normal(y.shape)
    op = (x.shape[2] - R.conv_transpose2d(u, w, None, 2, 1, 0, 2, (1, 2)).shape[2],
          x.shape[3] - R.conv_transpose2d(u, w, None, 2, 1, 0, 2, (1, 2)).shape[3])
    xt = R.conv_transpose2d(u, w, None, 2, 1, op, 2, (1, 2))
    assert np.isclose(np.sum(y * u), np.sum(x * xt), rtol=1e-12)


def test_depthwise_pointwise_separable_vs_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 8, 7))
    dw = rng.standard_normal((6, 1, 3, 3))
    db = rng.standard_normal(6)
    close(R.depthwise_conv2d(x, dw, db, 2, 1, 2), F.conv2d(t(x), t(dw), t(db), 2, 1, 2, 3))
    pw = rng.standard_normal((5, 3))
    pb = rng.standard_normal(5)
    close(R.pointwise_conv2d(x, pw, pb), F.conv2d(t(x), t(pw[:, :, None, None]), t(pb)))
    close(R.pointwise_conv2d(x, pw[:, :, None, None], pb), F.conv2d(t(x), t(pw[:, :, None, None]), t(pb)))
    row = rng.standard_normal((3, 4))
    col = rng.standard_normal(3)
    wsep = np.stack([np.outer(col, row[c]) for c in range(3)])[:, None]
    close(R.separable_conv2d(x, row, col, None, 1, (1, 2)), F.conv2d(t(x), t(wsep), None, 1, (1, 2), 1, 3))
    pw2 = rng.standard_normal((4, 6))
    ref = F.conv2d(F.relu6(F.conv2d(t(x), t(dw), t(db), 1, 1, 1, 3)), t(pw2[:, :, None, None]))
    close(R.depthwise_separable_conv2d(x, dw, pw2, db, None, 1, 1, 1, "relu6", None), ref)


def test_separable_vs_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 9, 8))
    row = rng.standard_normal(5)
    col = rng.standard_normal(3)
    ref = np.empty_like(x)
    for c in range(2):
        tmp = ndimage.correlate1d(x[0, c], col, axis=0, mode="constant")
        ref[0, c] = ndimage.correlate1d(tmp, row, axis=1, mode="constant")
    close(R.separable_conv2d(x, row, col, None, 1, (1, 2)), ref)
    for mode, smode in [("reflect", "mirror"), ("replicate", "nearest"), ("circular", "wrap")]:
        for c in range(2):
            tmp = ndimage.correlate1d(x[0, c], col, axis=0, mode=smode)
            ref[0, c] = ndimage.correlate1d(tmp, row, axis=1, mode=smode)
        close(R.separable_conv2d(x, row, col, None, 1, (1, 2), mode), ref)


@pytest.mark.parametrize("k,s,p,shape", [(2, None, 0, (2, 3, 8, 8)), (3, 2, 1, (1, 2, 7, 9)),
                                         ((3, 2), (1, 2), (1, 1), (2, 2, 5, 6)),
                                         (3, 1, 1, (3, 5, 5)), (1, 1, 0, (1, 1, 1, 1)),
                                         (2, 3, 0, (1, 2, 8, 8)), (2, 3, 1, (1, 2, 6, 6))])
def test_max_pool_unpool_vs_torch(k, s, p, shape):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape)
    v, i = R.max_pool2d(x, k, s, p, return_indices=True)
    tv, ti = F.max_pool2d(t(x), k, s, p, return_indices=True)
    close(v, tv)
    assert np.array_equal(i, ti.numpy()) and i.dtype == np.int64
    close(R.max_pool2d(x, k, s, p), tv)
    u = R.max_unpool2d(v, i, k, s, p)
    tu = F.max_unpool2d(tv, ti, k, s, p)
    close(u, tu)
    osz = tuple(int(v) + 1 for v in tu.shape[-2:])
    if s is None or min(R.ntuple(s, 2, "")) > 1:
        close(R.max_unpool2d(v, i, k, s, p, output_size=osz), F.max_unpool2d(tv, ti, k, s, p, output_size=osz))


def torch_involution2d(x, kernel, K, stride=1, padding=None, dilation=1):
    """The official formulation: unfold, multiply, sum over the K*K taps."""
    n, c, h, w = x.shape
    g = kernel.shape[1]
    if padding is None:
        padding = dilation * (K - 1) // 2
    cols = F.unfold(x, K, dilation, padding, stride)
    ho, wo = kernel.shape[-2:]
    cols = cols.view(n, g, c // g, K * K, ho, wo)
    return (kernel.unsqueeze(2) * cols).sum(dim=3).view(n, c, ho, wo)


@pytest.mark.parametrize("K,s,p,d,g", [(3, 1, None, 1, 2), (5, 2, None, 1, 1), (3, 1, 2, 2, 4),
                                       (7, 1, None, 1, 4), (1, 1, None, 1, 2), (3, 3, 0, 1, 1)])
def test_involution2d_vs_unfold(K, s, p, d, g):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 9, 8))
    pp = d * (K - 1) // 2 if p is None else p
    ho = (9 + 2 * pp - d * (K - 1) - 1) // s + 1
    wo = (8 + 2 * pp - d * (K - 1) - 1) // s + 1
    ker = rng.standard_normal((2, g, K * K, ho, wo))
    close(R.involution2d(x, ker, K, s, p, d), torch_involution2d(t(x), t(ker), K, s, p, d))


def torch_involution_module(sd, channels, K, stride, group_channels, reduction_ratio=4):
    from torch_official import official_involution

    return official_involution(sd, channels, K, stride, group_channels, reduction_ratio)


@pytest.mark.parametrize("C,K,s,gc", [(32, 7, 1, 16), (32, 7, 2, 16), (16, 3, 1, 16),
                                      (32, 5, 2, 8)])
def test_involution_module_vs_torch(C, K, s, gc):
    rng = np.random.default_rng(8)
    sd = R.make_involution_state_dict(rng, C, K, gc)
    x = rng.standard_normal((2, C, 8, 6))
    m = torch_involution_module(sd, C, K, s, gc)
    with torch.no_grad():
        ref = m(t(x))
    close(R.involution_module(x, sd, s, gc), ref)


def test_rel_err():
    assert R.rel_err([1.0, 2.0], [1.0, 2.0]) == 0
    assert R.rel_err([0.0, 0.0], [0.0, 0.0]) == 0
    assert np.isclose(R.rel_err([2.0, 2.0], [1.0, 1.0]), 1.0)
    with pytest.raises(AssertionError):
        R.rel_err([1.0], [1.0, 2.0])


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("k,dil", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_same_with_padding_mode_vs_torch_module(mode, k, dil):
    rng = np.random.default_rng(k)
    m = torch.nn.Conv2d(3, 4, k, padding="same", dilation=dil, padding_mode=mode, dtype=torch.float64)
    x = rng.standard_normal((2, 3, 9, 8))
    with torch.no_grad():
        ref = m(t(x))
    y = R.conv2d(x, m.weight.detach().numpy(), m.bias.detach().numpy(), 1, "same", dil, 1, mode)
    close(y, ref)
