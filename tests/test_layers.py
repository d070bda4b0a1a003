"""Layer objects: Conv1d/2d/3d, ConvTranspose1d/2d/3d (pack once, apply many times)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, assert_close, check_out_param, rand

# (nd, n, c, o, sizes, k, kwargs)
CONV_LAYER_CASES = {
    "1d": (1, 2, 3, 4, (9,), 3, dict(stride=2, padding=1)),
    "1d_same_circular": (1, 1, 4, 2, (7,), 4, dict(padding="same", padding_mode="circular", groups=2)),
    "2d": (2, 2, 3, 4, (7, 8), 3, dict(padding=1)),
    "2d_pairs_reflect": (2, 1, 4, 6, (6, 7), 3, dict(padding=((0, 2), (1, 1)), padding_mode="reflect",
                                                    groups=2, dilation=(1, 2))),
    "2d_winograd": (2, 2, 5, 7, (6, 9), 3, dict(padding="same", algorithm="winograd")),
    "2d_gemm_s2": (2, 1, 8, 16, (9, 9), 3, dict(stride=2, padding=1, algorithm="gemm")),
    "2d_direct_dw": (2, 2, 6, 6, (8, 7), 5, dict(padding=2, groups=6, algorithm="direct")),
    "2d_unbatched": (2, None, 3, 4, (5, 6), 3, dict(padding="valid")),
    "2d_replicate_same_s2": (2, 2, 3, 5, (7, 6), 3, dict(stride=2, padding="same", padding_mode="replicate")),
    "3d": (3, 2, 2, 3, (4, 5, 3), 3, dict(padding=1)),
    "3d_s2_gemm": (3, 1, 4, 4, (5, 4, 6), 2, dict(stride=2, groups=2, algorithm="gemm")),
}


def _conv_layer_args(rng, dtype, nd, n, c, o, sizes, k, kw, bias=True):
    g = kw.get("groups", 1)
    x = rand(rng, ((c,) if n is None else (n, c)) + sizes, dtype)
    w = rand(rng, (o, c // g) + (k,) * nd, dtype)
    b = rand(rng, (o,), dtype) if bias else None
    return x, w, b


def _ref_conv(x, w, b, nd, kw, activation=None):
    return R.conv_nd(x, w, b, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                     kw.get("groups", 1), kw.get("padding_mode", "zeros"), activation, nd=nd)


def _wino(nd, kw, k):
    return nd == 2 and k == 3 and kw.get("stride", 1) == 1 and kw.get("dilation", 1) == 1 \
        and kw.get("algorithm", "auto") in ("auto", "winograd")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(CONV_LAYER_CASES), ids=list(CONV_LAYER_CASES))
def test_conv_layer_matches_functional(isa, dtype, case, rng):
    nd, n, c, o, sizes, k, kw = CONV_LAYER_CASES[case]
    x, w, b = _conv_layer_args(rng, dtype, nd, n, c, o, sizes, k, kw)
    layer = getattr(fastconv, f"Conv{nd}d")(w, b, **kw)
    ref = _ref_conv(x, w, b, nd, kw)
    wino = _wino(nd, kw, k)
    y = layer(x)
    assert_close(y, ref, dtype, winograd=wino)
    fkw = dict(kw)
    f = getattr(fastconv, f"conv{nd}d")(x, w, b, **fkw)
    assert_close(y, f.astype(np.float64), dtype, winograd=wino, what="layer vs functional")
    if kw.get("algorithm", "auto") != "auto":
        # same algorithm: same numbers
        assert_close(y, f.astype(np.float64), dtype, what="layer vs functional, same algorithm")
    # applied many times, with new inputs
    for _ in range(2):
        x2 = rand(rng, x.shape, dtype)
        assert_close(layer(x2), _ref_conv(x2, w, b, nd, kw), dtype, winograd=wino)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", ["1d", "2d_pairs_reflect", "2d_winograd", "3d_s2_gemm"])
def test_conv_layer_copies_weights(dtype, case, rng):
    nd, n, c, o, sizes, k, kw = CONV_LAYER_CASES[case]
    x, w, b = _conv_layer_args(rng, dtype, nd, n, c, o, sizes, k, kw)
    ref = _ref_conv(x, w, b, nd, kw)
    layer = getattr(fastconv, f"Conv{nd}d")(w, b, **kw)
    w[...] = 0
    b[...] = 1e3
    assert_close(layer(x), ref, dtype, winograd=_wino(nd, kw, k))
    del w, b
    import gc
    gc.collect()
    assert_close(layer(x), ref, dtype, winograd=_wino(nd, kw, k))


@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("act", ("relu", "relu6"))
def test_conv_layer_activation(nd, act, rng):
    """docs/API.md: `activation` is accepted by every convolution op and layer object."""
    kw = dict(padding=1)
    x, w, b = _conv_layer_args(rng, np.float64, nd, 2, 3, 4, (6, 5, 4)[:nd], 3, kw)
    x *= 3
    layer = getattr(fastconv, f"Conv{nd}d")(w, b, padding=1, activation=act)
    assert_close(layer(x), _ref_conv(x, w, b, nd, kw, act), np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_conv_layer_no_bias(dtype, rng):
    x, w, _ = _conv_layer_args(rng, dtype, 2, 2, 3, 4, (5, 5), 3, {})
    assert_close(fastconv.Conv2d(w)(x), R.conv2d(x, w), dtype, winograd=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("nd", (1, 2, 3))
def test_conv_layer_out(dtype, nd, rng):
    kw = dict(stride=2, padding=1)
    x, w, b = _conv_layer_args(rng, dtype, nd, 2, 3, 4, (6, 5, 4)[:nd], 3, kw)
    layer = getattr(fastconv, f"Conv{nd}d")(w, b, **kw)
    ref = _ref_conv(x, w, b, nd, kw)
    check_out_param(lambda out: layer(x, out=out), ref.shape, dtype, ref)


@pytest.mark.parametrize("name,kw", [
    ("stride", dict(stride=0)), ("padding", dict(padding=-1)), ("padding", dict(padding="full")),
    ("dilation", dict(dilation=0)), ("groups", dict(groups=2)), ("padding_mode", dict(padding_mode="x")),
    ("algorithm", dict(algorithm="fft")), ("algorithm", dict(algorithm="winograd", stride=2)),
])
def test_conv_layer_bad_arguments(name, kw, rng):
    w = rand(rng, (4, 3, 3, 3))
    x = rand(rng, (1, 3, 8, 8))
    with pytest.raises(ValueError, match=f"(?i){name}"):
        fastconv.Conv2d(w, **kw)(x)


def test_conv_layer_bad_input(rng):
    w = rand(rng, (4, 3, 3, 3))
    layer = fastconv.Conv2d(w, padding=1)
    with pytest.raises(ValueError):
        layer(rand(rng, (1, 5, 8, 8)))                  # channel mismatch
    with pytest.raises(ValueError):
        layer(rand(rng, (8, 8)))                        # rank
    with pytest.raises(TypeError) as ei:
        layer(rand(rng, (1, 3, 8, 8), np.float32))      # dtype mismatch with the weights
    assert "float32" in str(ei.value) and "float64" in str(ei.value)
    with pytest.raises(TypeError) as ei:
        fastconv.Conv2d(w, rand(rng, (4,), np.float32))
    assert "float32" in str(ei.value) and "float64" in str(ei.value)


# ---------------------------------------------------------------- transposed
CT_LAYER_CASES = {
    "1d": (1, 2, 3, 4, (5,), 3, dict(stride=2, padding=1, output_padding=1)),
    "2d": (2, 2, 4, 6, (4, 5), 3, dict(stride=2, padding=1, output_padding=1, groups=2)),
    "2d_dil": (2, None, 3, 2, (3, 4), 3, dict(stride=(1, 2), dilation=(2, 1), output_padding=(1, 0))),
    "3d": (3, 1, 2, 3, (2, 3, 2), 2, dict(stride=2, padding=(0, 1, 0))),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(CT_LAYER_CASES), ids=list(CT_LAYER_CASES))
def test_conv_transpose_layer(isa, dtype, case, rng):
    nd, n, cin, cout, sizes, k, kw = CT_LAYER_CASES[case]
    g = kw.get("groups", 1)
    x = rand(rng, ((cin,) if n is None else (n, cin)) + sizes, dtype)
    w = rand(rng, (cin, cout // g) + (k,) * nd, dtype)
    b = rand(rng, (cout,), dtype)
    args = (kw.get("stride", 1), kw.get("padding", 0), kw.get("output_padding", 0), g, kw.get("dilation", 1))
    ref = R.conv_transpose_nd(x, w, b, *args, nd=nd)
    layer = getattr(fastconv, f"ConvTranspose{nd}d")(w, b, **kw)
    w_copy = w.copy()
    w[...] = 0
    assert_close(layer(x), ref, dtype)
    f = getattr(fastconv, f"conv_transpose{nd}d")(x, w_copy, b, *args)
    assert_close(layer(x), f.astype(np.float64), dtype, what="layer vs functional")
    check_out_param(lambda out: layer(x, out=out), ref.shape, dtype, ref)


@pytest.mark.parametrize("name,kw", [("stride", dict(stride=0)), ("output_padding", dict(output_padding=1)),
                                     ("output_padding", dict(stride=2, output_padding=2)),
                                     ("groups", dict(groups=3)), ("padding", dict(padding=-1))])
def test_conv_transpose_layer_bad_arguments(name, kw, rng):
    w = rand(rng, (4, 2, 3, 3))
    with pytest.raises(ValueError, match=name):
        fastconv.ConvTranspose2d(w, **kw)(rand(rng, (1, 4, 5, 5)))


# ---------------------------------------------------------------- threads
def _hammer(fn, inputs, refs, dtype, winograd=False, workers=4, rounds=3):
    errors = []
    barrier = threading.Barrier(workers)

    def work(tid):
        barrier.wait()
        for r in range(rounds):
            for i in range(tid, len(inputs), workers) if r == 0 else range(len(inputs)):
                y = fn(inputs[i])
                try:
                    assert_close(y, refs[i], dtype, winograd=winograd)
                except AssertionError as e:  # pragma: no cover
                    errors.append((tid, i, str(e)))
        return True

    with ThreadPoolExecutor(workers) as ex:
        assert all(ex.map(work, range(workers)))
    assert not errors, errors[:3]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", ["1d", "2d", "2d_winograd", "2d_gemm_s2", "2d_direct_dw", "3d"])
def test_conv_layer_concurrent_threads(dtype, case, rng):
    nd, n, c, o, sizes, k, kw = CONV_LAYER_CASES[case]
    _, w, b = _conv_layer_args(rng, dtype, nd, n, c, o, sizes, k, kw)
    layer = getattr(fastconv, f"Conv{nd}d")(w, b, **kw)
    xs = [rand(rng, ((c,) if n is None else (n, c)) + sizes, dtype) for _ in range(8)]
    refs = [_ref_conv(x, w, b, nd, kw) for x in xs]
    _hammer(layer, xs, refs, dtype, winograd=_wino(nd, kw, k))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_conv_transpose_layer_concurrent_threads(dtype, rng):
    w = rand(rng, (4, 3, 3, 3), dtype)
    b = rand(rng, (6,), dtype)
    layer = fastconv.ConvTranspose2d(w, b, stride=2, padding=1, output_padding=1, groups=2)
    xs = [rand(rng, (2, 4, 4, 5), dtype) for _ in range(8)]
    refs = [R.conv_transpose2d(x, w, b, 2, 1, 1, 2) for x in xs]
    _hammer(layer, xs, refs, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_functional_concurrent_threads(dtype, rng):
    w = rand(rng, (6, 4, 3, 3), dtype)
    xs = [rand(rng, (2, 4, 7 + i % 3, 6 + i % 2), dtype) for i in range(8)]
    for algo in ("direct", "gemm", "winograd"):
        refs = [R.conv2d(x, w, None, 1, 1) for x in xs]
        _hammer(lambda x: fastconv.conv2d(x, w, None, 1, 1, algorithm=algo), xs, refs, dtype,
                winograd=algo == "winograd", rounds=2)
    xs = [rand(rng, (1, 32, 6, 6), dtype) for _ in range(6)]
    sd = R.make_involution_state_dict(rng, 32, 7, 16, dtype=dtype)
    layer = fastconv.Involution2d.from_state_dict(sd)
    _hammer(layer, xs, [R.involution_module(x, sd) for x in xs], dtype, rounds=2)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_concurrent_threads_with_out(dtype, rng):
    w = rand(rng, (5, 3, 3, 3), dtype)
    layer = fastconv.Conv2d(w, padding=1, algorithm="direct")
    xs = [rand(rng, (2, 3, 8, 8), dtype) for _ in range(8)]
    outs = [np.empty((2, 5, 8, 8), dtype) for _ in xs]

    def run(i):
        for _ in range(3):
            assert layer(xs[i], out=outs[i]) is outs[i]
        return i

    with ThreadPoolExecutor(4) as ex:
        list(ex.map(run, range(len(xs))))
    for x, o in zip(xs, outs):
        assert_close(o, R.conv2d(x, w, None, 1, 1), dtype)


def test_reuse_output_keeps_one_array_per_shape(rng):
    import fastconv
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    lay = fastconv.Conv2d(w, padding=1, reuse_output=True)
    x1 = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    x2 = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    a = lay(x1)
    want1 = fastconv.conv2d(x1, w, padding=1)
    np.testing.assert_array_equal(a, want1)
    b = lay(x2)
    assert b is not a
    c = lay(x1)
    assert c is a                      # the kept array, written again
    np.testing.assert_array_equal(c, want1)
    # applied to its own last output (same shape): a new array, the input intact
    sq = fastconv.Conv2d(rng.standard_normal((8, 8, 1, 1)).astype(np.float32), reuse_output=True)
    y0 = sq(a)
    keep = y0.copy()
    y1 = sq(y0)
    assert y1 is not y0
    np.testing.assert_array_equal(y0, keep)
    np.testing.assert_allclose(y1, fastconv.conv2d(keep, sq.weight), rtol=1e-6, atol=1e-6)
    # out= still wins
    o = np.empty_like(want1)
    assert lay(x1, out=o) is o
    # transposed layers too
    ct = fastconv.ConvTranspose2d(rng.standard_normal((4, 3, 2, 2)).astype(np.float32), stride=2,
                                  reuse_output=True)
    assert ct(x1) is ct(x1)


def test_layers_pickle():
    """A layer travels by pickle (fastconv.dask ships it to workers): the weights and
    arguments, not the packings, plans or lock; the copy computes the same bits."""
    import pickle

    import fastconv as fc
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 4, 9, 9)).astype(np.float32)
    for layer in (fc.Conv2d(rng.standard_normal((6, 4, 3, 3)).astype(np.float32), padding=1,
                            padding_mode="reflect", activation="relu"),
                  fc.ConvTranspose2d(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), stride=2)):
        y = layer(x)                       # packed and planned before pickling
        copy = pickle.loads(pickle.dumps(layer))
        assert not copy._packs and not copy.weight.flags.writeable
        np.testing.assert_array_equal(copy(x), y)
    inv = fc.Involution2d(8, 3, group_channels=4, seed=0)
    x = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(inv))(x), inv(x))
