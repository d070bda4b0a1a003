"""The fused epilogue: activation(conv + bias + residual) on every convolution
op, every implementation the planner picks, every ISA level; against the
float64 reference and against the unfused computation (conv, then add)."""
import numpy as np
import pytest

import fastconv
from helpers import assert_close, rand
from reference import ACTIVATIONS, apply_activation
import reference as ref

DT = (np.float32, np.float64)

# (name, nd, x shape, weight shape, kwargs): shapes that reach each implementation
CONV_CASES = [
    ("direct", 2, (2, 16, 9, 11), (24, 16, 3, 3), dict(padding=1, algorithm="direct")),
    ("gemm", 2, (1, 8, 10, 9), (12, 8, 3, 3), dict(padding=1, algorithm="gemm")),
    ("winograd", 2, (1, 16, 12, 12), (16, 16, 3, 3), dict(padding=1, algorithm="winograd")),
    ("pointwise", 2, (2, 24, 7, 9), (20, 24, 1, 1), {}),
    ("gathered_1x1_s2", 2, (1, 16, 12, 12), (32, 16, 1, 1), dict(stride=2)),
    ("depthwise", 2, (1, 16, 13, 10), (16, 1, 3, 3), dict(padding=1, groups=16)),
    ("depthwise_s2", 2, (2, 8, 14, 14), (8, 1, 5, 5), dict(padding=2, stride=2, groups=8)),
    ("grouped", 2, (1, 32, 8, 8), (32, 4, 3, 3), dict(padding=1, groups=8)),
    ("reflect", 2, (1, 4, 8, 8), (6, 4, 3, 3), dict(padding=1, padding_mode="reflect")),
    ("dilated", 2, (1, 8, 12, 12), (8, 8, 3, 3), dict(padding=2, dilation=2)),
    ("conv1d", 1, (2, 6, 20), (10, 6, 5), dict(padding=2)),
    ("conv3d", 3, (1, 4, 5, 6, 6), (8, 4, 3, 3, 3), dict(padding=1)),
]


def _ref_conv(nd, x, w, b, kw):
    kw = {k: v for k, v in kw.items() if k != "algorithm"}
    return getattr(ref, f"conv{nd}d")(x, w, b, **kw)


@pytest.mark.parametrize("dtype", DT, ids=("f32", "f64"))
@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_epilogue(case, dtype, isa, rng):
    name, nd, xs, ws, kw = case
    x, w = rand(rng, xs, dtype), rand(rng, ws, dtype, 0.5)
    b = rand(rng, ws[:1], dtype)
    base = _ref_conv(nd, x, w, b, kw)
    r = rand(rng, base.shape, dtype)
    conv = getattr(fastconv, f"conv{nd}d")
    layer = getattr(fastconv, f"Conv{nd}d")
    wino = name == "winograd"
    for act in ACTIVATIONS:
        for res in (None, r):
            want = apply_activation(base + (0 if res is None else res), act)
            got = conv(x, w, b, activation=act, residual=res, **kw)
            assert_close(got, want, dtype, winograd=wino, what=f"{name} {act} res={res is not None}")
            # the unfused computation: the same sums, rounded the same way
            plain = conv(x, w, b, **kw)
            alone = fastconv.add(plain, res, activation=act if not isinstance(act, tuple) else act[0],
                                 negative_slope=act[1] if isinstance(act, tuple) else 0.01)
            np.testing.assert_allclose(got, alone, rtol=2e-6 if dtype == np.float32 else 1e-13,
                                       atol=1e-6 if dtype == np.float32 else 1e-13)
            lay = layer(w, b, activation=act, **kw)
            assert_close(lay(x, residual=res), want, dtype, winograd=wino, what=f"{name} layer {act}")


@pytest.mark.parametrize("dtype", DT, ids=("f32", "f64"))
def test_residual_in_place_and_out(dtype, rng):
    """residual=r, out=r: y accumulates onto r (the kernels read a copy where the two overlap)."""
    x, w = rand(rng, (1, 8, 10, 10), dtype), rand(rng, (8, 8, 3, 3), dtype)
    for algo in ("direct", "gemm", "winograd", "auto"):
        r = rand(rng, (1, 8, 10, 10), dtype)
        want = apply_activation(ref.conv2d(x, w, padding=1) + r, "relu")
        got = fastconv.conv2d(x, w, padding=1, algorithm=algo, activation="relu", residual=r, out=r)
        assert got is r
        assert_close(r, want, dtype, winograd=algo == "winograd", what=algo)
    layer = fastconv.Conv2d(w, padding=1, activation="silu")
    r = rand(rng, (1, 8, 10, 10), dtype)
    want = apply_activation(ref.conv2d(x, w, padding=1) + r, "silu")
    assert layer(x, residual=r, out=r) is r
    assert_close(r, want, dtype)


def test_layer_sequence_of_shapes(rng):
    """One layer object on many geometries, each with its residual."""
    w, b = rand(rng, (16, 8, 3, 3), np.float32), rand(rng, (16,), np.float32)
    layer = fastconv.Conv2d(w, b, padding=1, activation="hardswish")
    for shape in [(1, 8, 6, 6), (2, 8, 17, 5), (1, 8, 6, 6), (3, 8, 32, 32), (1, 8, 1, 1)]:
        x = rand(rng, shape, np.float32)
        r = rand(rng, (shape[0], 16) + shape[2:], np.float32)
        want = apply_activation(ref.conv2d(x, w, b, padding=1) + r, "hardswish")
        assert_close(layer(x, residual=r), want, np.float32, what=str(shape))
        assert_close(layer(x), apply_activation(ref.conv2d(x, w, b, padding=1), "hardswish"),
                     np.float32, what=str(shape))


@pytest.mark.parametrize("dtype", DT, ids=("f32", "f64"))
def test_conv_transpose_epilogue(dtype, isa, rng):
    cases = [((1, 8, 6, 6), (8, 4, 4, 4), dict(stride=2, padding=1)),   # sub-pixel tiles
             ((2, 6, 5, 5), (6, 6, 3, 3), dict(padding=1)),
             ((1, 4, 7), (4, 6, 3), dict(stride=2))]
    for xs, ws, kw in cases:
        nd = len(xs) - 2
        x, w, b = rand(rng, xs, dtype), rand(rng, ws, dtype, 0.5), rand(rng, (ws[1],), dtype)
        base = getattr(ref, f"conv_transpose{nd}d")(x, w, b, **kw)
        r = rand(rng, base.shape, dtype)
        fn = getattr(fastconv, f"conv_transpose{nd}d")
        layer = getattr(fastconv, f"ConvTranspose{nd}d")
        for act in ("tanh", "relu", ("leaky_relu", 0.2), "sigmoid"):
            for res in (None, r):
                want = apply_activation(base + (0 if res is None else res), act)
                assert_close(fn(x, w, b, activation=act, residual=res, **kw), want, dtype, what=str(act))
                assert_close(layer(w, b, activation=act, **kw)(x, residual=res), want, dtype)


@pytest.mark.parametrize("dtype", DT, ids=("f32", "f64"))
def test_other_ops_epilogue(dtype, rng):
    x = rand(rng, (2, 8, 12, 12), dtype)
    # separable
    row, col, b = rand(rng, (5,), dtype), rand(rng, (8, 3), dtype), rand(rng, (8,), dtype)
    base = ref.separable_conv2d(x, row, col, b, padding=(1, 2))
    r = rand(rng, base.shape, dtype)
    for act in ("gelu", "relu", None):
        for res in (None, r):
            got = fastconv.separable_conv2d(x, row, col, b, padding=(1, 2), activation=act, residual=res)
            assert_close(got, apply_activation(base + (0 if res is None else res), act), dtype)
    # fused depthwise-separable
    dw, pw = rand(rng, (8, 1, 3, 3), dtype), rand(rng, (12, 8), dtype)
    db, pb = rand(rng, (8,), dtype), rand(rng, (12,), dtype)
    mid = apply_activation(ref.depthwise_conv2d(x, dw, db, padding=1), "relu6")
    base = np.einsum("oc,nchw->nohw", pw.astype(np.float64), mid) + pb[None, :, None, None]
    r = rand(rng, base.shape, dtype)
    for act in ("hardswish", "silu", "relu"):
        for res in (None, r):
            got = fastconv.depthwise_separable_conv2d(x, dw, pw, db, pb, padding=1,
                                                      depthwise_activation="relu6", activation=act,
                                                      residual=res)
            assert_close(got, apply_activation(base + (0 if res is None else res), act), dtype)
    with pytest.raises(ValueError, match="depthwise_activation"):
        fastconv.depthwise_separable_conv2d(x, dw, pw, depthwise_activation="gelu")
    # involution with bias, activation and residual
    K, G = 3, 2
    kern = rand(rng, (2, G, K * K, 12, 12), dtype)
    base = ref.involution2d(x, kern, K)
    bi, r = rand(rng, (8,), dtype), rand(rng, base.shape, dtype)
    for act in ("relu", "sigmoid", None):
        for bias in (None, bi):
            for res in (None, r):
                want = apply_activation(base + (0 if bias is None else bias[None, :, None, None])
                                        + (0 if res is None else res), act)
                got = fastconv.involution2d(x, kern, K, bias=bias, activation=act, residual=res)
                assert_close(got, want, dtype, what=f"involution {act}")


def test_zero_input_channels_epilogue():
    """No input channel: the result is act(bias + residual)."""
    x = np.zeros((1, 0, 4, 4), np.float32)
    w = np.zeros((3, 0, 3, 3), np.float32)
    b = np.array([-1.0, 0.5, 2.0], np.float32)
    r = np.full((1, 3, 2, 2), 0.25, np.float32)
    got = fastconv.conv2d(x, w, b, activation="sigmoid", residual=r)
    want = apply_activation(np.broadcast_to(b[None, :, None, None] + 0.25, (1, 3, 2, 2)), "sigmoid")
    assert_close(got, want, np.float32)


@pytest.mark.parametrize("act", [a for a in ACTIVATIONS if a is not None],
                         ids=lambda a: a if isinstance(a, str) else f"{a[0]}_{a[1]}")
def test_float32_activation_accuracy(act, isa):
    """Each value within a few float32 ulps of the float64 function (tiny
    results: within 1e-30), over the whole range, NaN passing through.  gelu's
    far negative tail (x < -4, |gelu| < 1e-4) is exp(-x^2/2) of a rounded
    square: 3e-5 relative there."""
    v = np.concatenate([np.linspace(-40, 40, 20001), np.geomspace(1e-30, 1, 300),
                        -np.geomspace(1e-30, 1, 300), [0.0, -0.0, 88.0, -88.0, 1e4, -1e4]])
    name, slope = (act, 0.01) if isinstance(act, str) else act
    x = v.astype(np.float32)
    got = fastconv.add(x, activation=name, negative_slope=slope)
    want = apply_activation(x.astype(np.float64), act)
    err = np.abs(got - want)
    rtol = np.where(x < -4, 3e-5, 2e-6) if name == "gelu" else 4e-7
    bad = err > rtol * np.abs(want) + 1e-30
    assert not bad.any(), f"{act}: worst at x={x[bad][:5]}: got {got[bad][:5]}, want {want[bad][:5]}"
    nan = fastconv.add(np.array([np.nan, 1.0], np.float32), activation=name)
    assert np.isnan(nan[0])
    inf = fastconv.add(np.array([np.inf, -np.inf], np.float32), activation=name)
    if name in ("sigmoid", "tanh"):
        assert inf[0] == 1.0 and abs(inf[1] - (0.0 if name == "sigmoid" else -1.0)) < 1e-30


@pytest.mark.parametrize("bad", ["swish", "Relu", 3, ("leaky_relu",), ("leaky_relu", float("nan")),
                                 ("gelu", 0.1), ("leaky_relu", "0.1")])
def test_bad_activation_and_residual(bad, rng):
    x, w = rand(rng, (1, 4, 6, 6), np.float32), rand(rng, (4, 4, 3, 3), np.float32)
    # a name or slope of the wrong type is a TypeError, a wrong name or form a ValueError
    wrong_type = bad == 3 or bad == ("leaky_relu", "0.1")
    with pytest.raises(TypeError if wrong_type else ValueError, match="activation"):
        fastconv.conv2d(x, w, activation=bad)
    with pytest.raises(ValueError, match="residual"):
        fastconv.conv2d(x, w, residual=np.zeros((1, 4, 6, 6), np.float32))
    with pytest.raises(TypeError, match="residual"):
        fastconv.conv2d(x, w, residual=np.zeros((1, 4, 4, 4), np.float64))
    with pytest.raises(ValueError, match="residual"):
        fastconv.Conv2d(w)(x, residual=np.zeros((4, 4), np.float32))
