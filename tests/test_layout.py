"""Channels last (layout="NHWC" and its 1-D / 3-D names) on every op that
takes it: the same numbers as channels first, transposed, through the
functional call and the layer objects, every ISA level."""
import numpy as np
import pytest

import fastconv
from helpers import assert_close, rand
import reference as ref

CASES = [  # nd, x shape (NCHW), w shape, kwargs
    (2, (2, 16, 9, 11), (24, 16, 3, 3), dict(padding=1)),
    (2, (1, 8, 12, 12), (32, 8, 1, 1), {}),
    (2, (1, 8, 12, 12), (16, 8, 1, 1), dict(stride=2)),
    (2, (2, 16, 13, 10), (16, 1, 3, 3), dict(padding=1, groups=16)),
    (2, (1, 8, 14, 14), (8, 1, 5, 5), dict(padding=2, stride=2, groups=8)),
    (2, (1, 32, 8, 8), (32, 4, 3, 3), dict(padding=1, groups=8)),
    (2, (1, 4, 8, 8), (6, 4, 3, 3), dict(padding=1, padding_mode="reflect")),
    (2, (1, 8, 12, 12), (8, 8, 3, 3), dict(padding=2, dilation=2)),
    (2, (1, 16, 10, 10), (16, 16, 3, 3), dict(padding=1, algorithm="winograd")),
    (2, (1, 3, 30, 30), (16, 3, 7, 7), dict(padding=3, stride=2)),
    (1, (2, 6, 20), (10, 6, 5), dict(padding=2)),
    (3, (1, 4, 5, 6, 6), (8, 4, 3, 3, 3), dict(padding=1)),
]
NAMES = {1: "NLC", 2: "NHWC", 3: "NDHWC"}


def cl(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=("f32", "f64"))
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}d-{i}" for i, c in enumerate(CASES)])
def test_conv_channels_last(case, dtype, isa, rng):
    nd, xs, ws, kw = case
    x, w, b = rand(rng, xs, dtype), rand(rng, ws, dtype, 0.5), rand(rng, ws[:1], dtype)
    base = getattr(ref, f"conv{nd}d")(x, w, b, **{k: v for k, v in kw.items() if k != "algorithm"})
    r = rand(rng, base.shape, dtype)
    wino = kw.get("algorithm") == "winograd"
    for act in (None, "relu", "silu"):
        for res in (None, r):
            want = ref.apply_activation(base + (0 if res is None else res), act)
            got = getattr(fastconv, f"conv{nd}d")(cl(x), w, b, activation=act, layout=NAMES[nd],
                                                 residual=None if res is None else cl(res), **kw)
            assert_close(np.moveaxis(got, -1, 1), want, dtype, winograd=wino, what=f"{act}")
            lay = getattr(fastconv, f"Conv{nd}d")(w, b, activation=act, layout="channels_last", **kw)
            got = lay(cl(x), residual=None if res is None else cl(res))
            assert_close(np.moveaxis(got, -1, 1), want, dtype, winograd=wino, what=f"layer {act}")


def test_layer_channels_last_sequence_of_shapes(rng):
    w = rand(rng, (12, 6, 3, 3), np.float32)
    lay = fastconv.Conv2d(w, padding=1, layout="NHWC", reuse_output=True)
    for shape in [(1, 6, 5, 7), (3, 6, 16, 16), (1, 6, 5, 7), (2, 6, 1, 1)]:
        x = rand(rng, shape, np.float32)
        assert_close(np.moveaxis(lay(cl(x)), -1, 1), ref.conv2d(x, w, padding=1), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=("f32", "f64"))
def test_pool_and_glue_channels_last(dtype, rng):
    for nd, shape in ((1, (2, 5, 17)), (2, (2, 6, 11, 9)), (3, (1, 3, 6, 7, 8))):
        x = rand(rng, shape, dtype)
        for fn, kw in ((f"max_pool{nd}d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                       (f"max_pool{nd}d", dict(kernel_size=2, dilation=2)),
                       (f"avg_pool{nd}d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                               count_include_pad=False)),
                       (f"avg_pool{nd}d", dict(kernel_size=2, divisor_override=3))):
            f = getattr(fastconv, fn)
            want = f(x, **kw)
            got = f(cl(x), layout=NAMES[nd], **kw)
            np.testing.assert_allclose(np.moveaxis(got, -1, 1), want, rtol=1e-6, atol=1e-6)
            if fn.startswith("max"):
                wv, wi = f(x, return_indices=True, **kw)
                gv, gi = f(cl(x), return_indices=True, layout=NAMES[nd], **kw)
                np.testing.assert_array_equal(np.moveaxis(gi, -1, 1), wi)
        g = fastconv.global_avg_pool(cl(x), layout=NAMES[nd])
        np.testing.assert_allclose(np.moveaxis(g, -1, 1), fastconv.global_avg_pool(x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=("f32", "f64"))
def test_conv_transpose_channels_last(dtype, rng):
    x, w, b = rand(rng, (2, 8, 5, 6), dtype), rand(rng, (8, 4, 4, 4), dtype), rand(rng, (4,), dtype)
    want = ref.apply_activation(ref.conv_transpose2d(x, w, b, stride=2, padding=1), "tanh")
    got = fastconv.conv_transpose2d(cl(x), w, b, stride=2, padding=1, activation="tanh", layout="NHWC")
    assert_close(np.moveaxis(got, -1, 1), want, dtype)
    lay = fastconv.ConvTranspose2d(w, b, stride=2, padding=1, activation="tanh", layout="NHWC")
    assert_close(np.moveaxis(lay(cl(x)), -1, 1), want, dtype)


def test_bad_layout():
    with pytest.raises(ValueError, match="layout"):
        fastconv.conv2d(np.zeros((1, 2, 4, 4), np.float32), np.zeros((2, 2, 1, 1), np.float32),
                        layout="NWHC")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=("f32", "f64"))
def test_separable_dwsep_channels_last(dtype, isa, rng):
    """The ops computed between two transposes: the same numbers as channels
    first, with a bias, an activation and a residual."""
    x = rand(rng, (2, 8, 11, 9), dtype)
    row, col, b = rand(rng, (8, 5), dtype), rand(rng, (3,), dtype), rand(rng, (8,), dtype)
    for mode in ("zeros", "reflect"):
        want = fastconv.separable_conv2d(x, row, col, b, padding=(1, 2), padding_mode=mode,
                                         activation="silu")
        r = rand(rng, want.shape, dtype)
        want_r = fastconv.separable_conv2d(x, row, col, b, padding=(1, 2), padding_mode=mode,
                                           activation="silu", residual=r)
        got = fastconv.separable_conv2d(cl(x), row, col, b, padding=(1, 2), padding_mode=mode,
                                        activation="silu", layout="NHWC")
        assert_close(np.moveaxis(got, -1, 1), want, dtype)
        got = fastconv.separable_conv2d(cl(x), row, col, b, padding=(1, 2), padding_mode=mode,
                                        activation="silu", layout="NHWC", residual=cl(r))
        assert_close(np.moveaxis(got, -1, 1), want_r, dtype)
    dw, db = rand(rng, (16, 1, 3, 3), dtype), rand(rng, (16,), dtype)
    pw, pb = rand(rng, (12, 16, 1, 1), dtype), rand(rng, (12,), dtype)
    kw = dict(stride=2, padding=1, depthwise_activation="relu6", activation="hardswish")
    want = fastconv.depthwise_separable_conv2d(x, dw, pw, db, pb, **kw)
    r = rand(rng, want.shape, dtype)
    want_r = fastconv.depthwise_separable_conv2d(x, dw, pw, db, pb, residual=r, **kw)
    got = fastconv.depthwise_separable_conv2d(cl(x), dw, pw, db, pb, layout="NHWC", **kw)
    assert_close(np.moveaxis(got, -1, 1), want, dtype)
    got = fastconv.depthwise_separable_conv2d(cl(x), dw, pw, db, pb, layout="NHWC",
                                              residual=cl(r), **kw)
    assert_close(np.moveaxis(got, -1, 1), want_r, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=("f32", "f64"))
def test_involution_channels_last(dtype, isa, rng):
    N, C, G, K = 2, 8, 2, 3
    x = rand(rng, (N, C, 9, 10), dtype)
    k = rand(rng, (N, G, K * K, 5, 5), dtype)
    b = rand(rng, (C,), dtype)
    kw = dict(stride=2, bias=b, activation="relu")
    want = fastconv.involution2d(x, k, K, **kw)
    r = rand(rng, want.shape, dtype)
    want_r = fastconv.involution2d(x, k, K, residual=r, **kw)
    kl = np.ascontiguousarray(np.moveaxis(k.reshape(N, G * K * K, 5, 5), 1, -1)).reshape(N, 5, 5, G, K * K)
    got = fastconv.involution2d(cl(x), kl, K, layout="NHWC", **kw)
    assert_close(np.moveaxis(got, -1, 1), want, dtype)
    got = fastconv.involution2d(cl(x), kl, K, layout="NHWC", residual=cl(r), **kw)
    assert_close(np.moveaxis(got, -1, 1), want_r, dtype)
    with pytest.raises(ValueError, match="kernel must have shape"):
        fastconv.involution2d(cl(x), k, K, layout="NHWC", **kw)
    # the module: generated kernel, stride, on a sequence of shapes
    m = fastconv.Involution2d(C, K, stride=2, group_channels=4, seed=0)
    ml = fastconv.Involution2d(C, K, stride=2, group_channels=4, seed=0, layout="NHWC")
    for shape in [(2, C, 10, 12), (1, C, 6, 6), (2, C, 10, 12)]:
        xs = rand(rng, shape, dtype)
        assert_close(np.moveaxis(ml(cl(xs)), -1, 1), m(xs), dtype)
        kc, kcl = m.kernel(xs), ml.kernel(cl(xs))
        n, g, kk, h, w = kc.shape
        assert_close(kcl, np.moveaxis(kc.reshape(n, g * kk, h, w), 1, -1).reshape(n, h, w, g, kk),
                     dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=("f32", "f64"))
def test_max_unpool_channels_last(dtype, rng):
    x = rand(rng, (2, 70, 8, 9), dtype)    # 70 channels: two channel blocks
    v, i = fastconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    want = fastconv.max_unpool2d(v, i, 3, 2, 1, output_size=(8, 9))
    vl, il = fastconv.max_pool2d(cl(x), 3, 2, 1, return_indices=True, layout="NHWC")
    got = fastconv.max_unpool2d(vl, il, 3, 2, 1, output_size=(8, 9), layout="NHWC")
    np.testing.assert_array_equal(np.moveaxis(got, -1, 1), want)
    got1 = fastconv.max_unpool2d(vl[0], il[0], 3, 2, 1, output_size=(8, 9), layout="NHWC")
    np.testing.assert_array_equal(got1, got[0])
    with pytest.raises(ValueError, match="indices"):
        fastconv.max_unpool2d(vl, il + 100, 3, 2, 1, layout="NHWC")


@pytest.mark.parametrize("C", [3, 8, 16, 24, 40, 72, 100])
def test_depthwise_rows_channels_last(C, isa, rng):
    """The channels-last depthwise row kernel's paths: runs of interior pixels
    with 4, 2 and 1 vectors of channels and the channels left over, edge
    pixels, strides, dilation, no padding and more padding than the kernel."""
    x = rand(rng, (1, C, 7, 41), np.float32)
    for k, kw in ((3, dict(padding=1)), (3, dict(padding=1, stride=2)), (5, dict(padding=4, dilation=2)),
                  (3, dict(padding=0)), (7, dict(padding=(3, 9)))):
        w, b = rand(rng, (C, 1, k, k), np.float32), rand(rng, (C,), np.float32)
        want = ref.apply_activation(ref.conv2d(x, w, b, groups=C, **kw), "relu6")
        got = fastconv.conv2d(cl(x), w, b, groups=C, activation="relu6", layout="NHWC", **kw)
        assert fastconv.conv_plan(cl(x), w, b, groups=C, layout="NHWC", **kw).implementation == \
            "depthwise-rows"
        assert_close(np.moveaxis(got, -1, 1), want, np.float32, what=f"k{k} {kw}")
