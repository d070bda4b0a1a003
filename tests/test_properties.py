"""Property-based tests (hypothesis): random shapes and arguments vs the oracle.

Profiles (conftest.py), chosen with HYPOTHESIS_PROFILE: "ci" (default: 300
examples per op, a fixed derandomized set, a few seconds per op), "nightly"
(5,000 fresh random examples per op), "dev" (10).

Every test also draws the memory layout of its arrays (C order, non-contiguous,
negatively strided, Fortran order, big-endian, read-only): the values are the
same, so the oracle sees the plain arrays.
"""


import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastconv  # noqa: E402
import reference as R  # noqa: E402
from helpers import assert_close, forced_isa, relayout  # noqa: E402

MODES = ("zeros", "reflect", "replicate", "circular")


def draw_isa(data):
    from fastconv import _core

    return data.draw(st.sampled_from(sorted(_core.supported_isas())), label="isa")


LAYOUTS = ("c", "c", "noncontig", "negstride", "fortran", "bigendian", "readonly")


def lay(data, a, label):
    """a in a drawn memory layout (same values); None stays None."""
    if a is None:
        return None
    kind = data.draw(st.sampled_from(LAYOUTS), label=f"{label} layout")
    if kind == "bigendian":
        return a.astype(a.dtype.newbyteorder(">"))
    return relayout(a, kind)


def draw_dtype(data):
    return data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")


def draw_padding(data, nd, allow_strings=True, maxpad=3):
    forms = ["int", "tuple", "pairs"] + (["same", "valid"] if allow_strings else [])
    form = data.draw(st.sampled_from(forms), label="padding form")
    p = st.integers(0, maxpad)
    if form == "int":
        return data.draw(p, label="padding")
    if form == "tuple":
        return tuple(data.draw(st.tuples(*[p] * nd), label="padding"))
    if form == "pairs":
        return tuple(data.draw(st.tuples(*[st.tuples(p, p)] * nd), label="padding"))
    return form


def draw_int_or_tuple(data, nd, lo, hi, label):
    if data.draw(st.booleans(), label=f"{label} as tuple"):
        return tuple(data.draw(st.tuples(*[st.integers(lo, hi)] * nd), label=label))
    return data.draw(st.integers(lo, hi), label=label)


def rnd(seed, shape, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def out_sizes(sizes, pads, kernel, stride, dilation):
    return [R.conv_output_size(i, k, s, b, a, d)
            for i, (b, a), k, s, d in zip(sizes, pads, kernel, stride, dilation)]


def mode_ok(mode, pads, sizes):
    if mode == "reflect":
        return all(max(p) < i for p, i in zip(pads, sizes))
    if mode == "circular":
        return all(max(p) <= i for p, i in zip(pads, sizes))
    return True


# ---------------------------------------------------------------- convolution
@pytest.mark.parametrize("nd", (1, 2, 3))
@given(data=st.data())
def test_conv_property(nd, data):
    dtype = draw_dtype(data)
    maxsize = {1: 12, 2: 9, 3: 5}[nd]
    n = data.draw(st.sampled_from([None, 1, 2]), label="batch")
    g = data.draw(st.integers(1, 3), label="groups")
    cg = data.draw(st.integers(1, 3), label="C/groups")
    og = data.draw(st.integers(1, 3), label="O/groups")
    kernel = tuple(data.draw(st.tuples(*[st.integers(1, 4)] * nd), label="kernel"))
    sizes = tuple(data.draw(st.tuples(*[st.integers(1, maxsize)] * nd), label="sizes"))
    stride = draw_int_or_tuple(data, nd, 1, 4, "stride")
    dilation = draw_int_or_tuple(data, nd, 1, 2, "dilation")
    padding = draw_padding(data, nd)
    mode = data.draw(st.sampled_from(MODES), label="padding_mode")
    act = data.draw(st.sampled_from([None, "relu", "relu6"]), label="activation")
    bias = data.draw(st.booleans(), label="bias")
    s, d = R.ntuple(stride, nd, ""), R.ntuple(dilation, nd, "")
    wino_ok = nd == 2 and kernel == (3, 3) and s == (1, 1) and d == (1, 1)
    algo = data.draw(st.sampled_from(["auto", "direct", "gemm"] + (["winograd"] if wino_ok else [])),
                     label="algorithm")
    isa = draw_isa(data)
    c, o = g * cg, g * og
    x = rnd(1, ((c,) if n is None else (n, c)) + sizes, dtype)
    w = rnd(2, (o, cg) + kernel, dtype)
    b = rnd(3, (o,), dtype) if bias else None
    via_layer = data.draw(st.booleans(), label="through the layer object")
    pads = R.normalize_padding(padding, nd, sizes, kernel, s, d)
    xl, wl, bl = lay(data, x, "x"), lay(data, w, "weight"), lay(data, b, "bias")
    if via_layer:
        cls = getattr(fastconv, f"Conv{nd}d")
        call = lambda: cls(wl, bl, stride, padding, dilation, g, padding_mode=mode,  # noqa: E731
                           algorithm=algo, activation=act)(xl)
    else:
        fn = getattr(fastconv, f"conv{nd}d")
        call = lambda: fn(xl, wl, bl, stride, padding, dilation, g, padding_mode=mode,  # noqa: E731
                          algorithm=algo, activation=act)
    with forced_isa(isa):
        if not mode_ok(mode, pads, sizes) or min(out_sizes(sizes, pads, kernel, s, d)) < 1:
            with pytest.raises(ValueError):
                call()
            return
        y = call()
    ref = R.conv_nd(x, w, b, stride, padding, dilation, g, mode, act, nd=nd)
    assert_close(y, ref, dtype, winograd=wino_ok and algo in ("auto", "winograd"))


# ---------------------------------------------------------------- transposed
@pytest.mark.parametrize("nd", (1, 2, 3))
@given(data=st.data())
def test_conv_transpose_property(nd, data):
    dtype = draw_dtype(data)
    maxsize = {1: 8, 2: 6, 3: 4}[nd]
    n = data.draw(st.sampled_from([None, 1, 2]), label="batch")
    g = data.draw(st.integers(1, 3), label="groups")
    cg = data.draw(st.integers(1, 3), label="C_in/groups")
    og = data.draw(st.integers(1, 3), label="C_out/groups")
    kernel = tuple(data.draw(st.tuples(*[st.integers(1, 3)] * nd), label="kernel"))
    sizes = tuple(data.draw(st.tuples(*[st.integers(1, maxsize)] * nd), label="sizes"))
    s = tuple(data.draw(st.tuples(*[st.integers(1, 3)] * nd), label="stride"))
    d = tuple(data.draw(st.tuples(*[st.integers(1, 2)] * nd), label="dilation"))
    p = tuple(data.draw(st.tuples(*[st.integers(0, 2)] * nd), label="padding"))
    op = tuple(data.draw(st.integers(0, max(si, di) - 1), label="output_padding") for si, di in zip(s, d))
    bias = data.draw(st.booleans(), label="bias")
    isa = draw_isa(data)
    cin, cout = g * cg, g * og
    x = rnd(1, ((cin,) if n is None else (n, cin)) + sizes, dtype)
    w = rnd(2, (cin, og) + kernel, dtype)
    b = rnd(3, (cout,), dtype) if bias else None
    if data.draw(st.booleans(), label="through the layer object"):
        cls = getattr(fastconv, f"ConvTranspose{nd}d")
        fn = lambda x, w, b, s, p, op, g, d: cls(w, b, s, p, op, g, d)(x)  # noqa: E731
    else:
        fn = getattr(fastconv, f"conv_transpose{nd}d")
    outs = [(i - 1) * si - 2 * pi + di * (ki - 1) + opi + 1
            for i, si, pi, di, ki, opi in zip(sizes, s, p, d, kernel, op)]
    xl, wl = lay(data, x, "x"), lay(data, w, "weight")
    with forced_isa(isa):
        if min(outs) < 1:
            with pytest.raises(ValueError):
                fn(xl, wl, b, s, p, op, g, d)
            return
        y = fn(xl, wl, b, s, p, op, g, d)
    assert_close(y, R.conv_transpose_nd(x, w, b, s, p, op, g, d, nd=nd), dtype)


# ---------------------------------------------------------------- named special cases
@given(data=st.data())
def test_depthwise_property(data):
    dtype = draw_dtype(data)
    n = data.draw(st.sampled_from([None, 1, 2]), label="batch")
    c = data.draw(st.integers(1, 9), label="C")
    m = data.draw(st.integers(1, 2), label="multiplier")
    kernel = tuple(data.draw(st.tuples(st.integers(1, 5), st.integers(1, 5)), label="kernel"))
    sizes = tuple(data.draw(st.tuples(st.integers(1, 10), st.integers(1, 10)), label="sizes"))
    stride = draw_int_or_tuple(data, 2, 1, 3, "stride")
    dilation = draw_int_or_tuple(data, 2, 1, 2, "dilation")
    padding = draw_padding(data, 2)
    bias = data.draw(st.booleans(), label="bias")
    isa = draw_isa(data)
    x = rnd(1, ((c,) if n is None else (n, c)) + sizes, dtype)
    w = rnd(2, (c * m, 1) + kernel, dtype)
    b = rnd(3, (c * m,), dtype) if bias else None
    s, d = R.ntuple(stride, 2, ""), R.ntuple(dilation, 2, "")
    pads = R.normalize_padding(padding, 2, sizes, kernel, s, d)
    with forced_isa(isa):
        if min(out_sizes(sizes, pads, kernel, s, d)) < 1:
            with pytest.raises(ValueError):
                fastconv.depthwise_conv2d(x, w, b, stride, padding, dilation)
            return
        y = fastconv.depthwise_conv2d(lay(data, x, "x"), lay(data, w, "weight"), b, stride,
                                      padding, dilation)
    assert_close(y, R.depthwise_conv2d(x, w, b, stride, padding, dilation), dtype)


@given(data=st.data())
def test_pointwise_property(data):
    dtype = draw_dtype(data)
    n = data.draw(st.sampled_from([None, 1, 3]), label="batch")
    c = data.draw(st.integers(1, 40), label="C_in")
    o = data.draw(st.integers(1, 40), label="C_out")
    sizes = tuple(data.draw(st.tuples(st.integers(1, 9), st.integers(1, 9)), label="sizes"))
    w4 = data.draw(st.booleans(), label="4-D weight")
    bias = data.draw(st.booleans(), label="bias")
    isa = draw_isa(data)
    x = rnd(1, ((c,) if n is None else (n, c)) + sizes, dtype)
    w = rnd(2, (o, c), dtype)
    b = rnd(3, (o,), dtype) if bias else None
    with forced_isa(isa):
        y = fastconv.pointwise_conv2d(lay(data, x, "x"), lay(data, w.reshape(o, c, 1, 1) if w4 else w,
                                                             "weight"), b)
    assert_close(y, R.pointwise_conv2d(x, w, b), dtype)


@given(data=st.data())
def test_separable_property(data):
    dtype = draw_dtype(data)
    n = data.draw(st.sampled_from([None, 1, 2]), label="batch")
    c = data.draw(st.integers(1, 6), label="C")
    kh, kw = data.draw(st.tuples(st.integers(1, 5), st.integers(1, 5)), label="kernel")
    sizes = tuple(data.draw(st.tuples(st.integers(1, 10), st.integers(1, 10)), label="sizes"))
    row_pc = data.draw(st.booleans(), label="row per channel")
    col_pc = data.draw(st.booleans(), label="col per channel")
    stride = draw_int_or_tuple(data, 2, 1, 3, "stride")
    padding = draw_padding(data, 2)
    mode = data.draw(st.sampled_from(MODES), label="padding_mode")
    bias = data.draw(st.booleans(), label="bias")
    isa = draw_isa(data)
    x = rnd(1, ((c,) if n is None else (n, c)) + sizes, dtype)
    row = rnd(2, (c, kw) if row_pc else (kw,), dtype)
    col = rnd(3, (c, kh) if col_pc else (kh,), dtype)
    b = rnd(4, (c,), dtype) if bias else None
    s = R.ntuple(stride, 2, "")
    pads = R.normalize_padding(padding, 2, sizes, (kh, kw), s, (1, 1))
    xl, rl, cl = lay(data, x, "x"), lay(data, row, "row"), lay(data, col, "col")
    call = lambda: fastconv.separable_conv2d(xl, rl, cl, b, stride, padding, padding_mode=mode)  # noqa: E731
    with forced_isa(isa):
        if not mode_ok(mode, pads, sizes) or min(out_sizes(sizes, pads, (kh, kw), s, (1, 1))) < 1:
            with pytest.raises(ValueError):
                call()
            return
        y = call()
    assert_close(y, R.separable_conv2d(x, row, col, b, stride, padding, mode), dtype)


@given(data=st.data())
def test_depthwise_separable_property(data):
    dtype = draw_dtype(data)
    n = data.draw(st.sampled_from([None, 1, 2]), label="batch")
    c = data.draw(st.integers(1, 9), label="C")
    m = data.draw(st.integers(1, 2), label="multiplier")
    o = data.draw(st.integers(1, 20), label="C_out")
    kernel = tuple(data.draw(st.tuples(st.integers(1, 4), st.integers(1, 4)), label="kernel"))
    sizes = tuple(data.draw(st.tuples(st.integers(1, 9), st.integers(1, 9)), label="sizes"))
    stride = draw_int_or_tuple(data, 2, 1, 3, "stride")
    dilation = draw_int_or_tuple(data, 2, 1, 2, "dilation")
    padding = draw_padding(data, 2)
    dact = data.draw(st.sampled_from([None, "relu", "relu6"]), label="depthwise_activation")
    act = data.draw(st.sampled_from([None, "relu", "relu6"]), label="activation")
    dbias, pbias = data.draw(st.tuples(st.booleans(), st.booleans()), label="biases")
    isa = draw_isa(data)
    x = rnd(1, ((c,) if n is None else (n, c)) + sizes, dtype) * 3
    dw = rnd(2, (c * m, 1) + kernel, dtype)
    pw = rnd(3, (o, c * m), dtype)
    db = rnd(4, (c * m,), dtype) if dbias else None
    pb = rnd(5, (o,), dtype) if pbias else None
    s, d = R.ntuple(stride, 2, ""), R.ntuple(dilation, 2, "")
    pads = R.normalize_padding(padding, 2, sizes, kernel, s, d)
    xl, dwl, pwl = lay(data, x, "x"), lay(data, dw, "depthwise_weight"), lay(data, pw, "pointwise_weight")
    call = lambda: fastconv.depthwise_separable_conv2d(  # noqa: E731
        xl, dwl, pwl, db, pb, stride, padding, dilation, depthwise_activation=dact, activation=act)
    with forced_isa(isa):
        if min(out_sizes(sizes, pads, kernel, s, d)) < 1:
            with pytest.raises(ValueError):
                call()
            return
        y = call()
    ref = R.depthwise_separable_conv2d(x, dw, pw, db, pb, stride, padding, dilation, dact, act)
    assert_close(y, ref, dtype)


# ---------------------------------------------------------------- pooling
def draw_pool(data):
    """A pooling problem: dtype, batch (None: unbatched), channels, input, kernel_size,
    stride (as drawn, and as a pair), padding, ISA level, spatial sizes, output sizes."""
    dtype = draw_dtype(data)
    n = data.draw(st.sampled_from([None, 1, 2]), label="batch")
    c = data.draw(st.integers(1, 5), label="C")
    k = tuple(data.draw(st.tuples(st.integers(1, 4), st.integers(1, 4)), label="kernel_size"))
    sizes = tuple(data.draw(st.tuples(st.integers(1, 10), st.integers(1, 10)), label="sizes"))
    stride = data.draw(st.one_of(st.none(), st.integers(1, 4),
                                 st.tuples(st.integers(1, 4), st.integers(1, 4))), label="stride")
    p = tuple(data.draw(st.integers(0, ki // 2), label="padding") for ki in k)
    isa = draw_isa(data)
    x = rnd(1, ((c,) if n is None else (n, c)) + sizes, dtype)
    s = k if stride is None else R.ntuple(stride, 2, "")
    outs = [(i + 2 * pi - ki) // si + 1 for i, pi, ki, si in zip(sizes, p, k, s)]
    return dtype, n, c, x, k, stride, s, p, isa, sizes, outs


@given(data=st.data())
def test_max_pool_unpool_property(data):
    dtype, n, c, x, k, stride, s, p, isa, sizes, outs = draw_pool(data)
    with forced_isa(isa):
        if min(outs) < 1:
            with pytest.raises(ValueError):
                fastconv.max_pool2d(x, k, stride, p)
            return
        v, i = fastconv.max_pool2d(lay(data, x, "x"), k, stride, p, return_indices=True)
        rv, ri = R.max_pool2d(x, k, stride, p, return_indices=True)
        assert v.dtype == dtype and np.array_equal(v, rv.astype(dtype))
        assert i.dtype == np.int64 and np.array_equal(i, ri)
        # unpool to the input's own size: every recorded maximum goes back where it came from
        u = fastconv.max_unpool2d(lay(data, v, "unpool x"), lay(data, i, "indices"), k, stride, p,
                                  output_size=sizes)
    ref_u = R.max_unpool2d(v, i, k, stride, p, output_size=sizes)
    assert np.array_equal(u, ref_u.astype(dtype))


# ---------------------------------------------------------------- involution
@given(data=st.data())
def test_involution_property(data):
    dtype = draw_dtype(data)
    n = data.draw(st.integers(1, 2), label="batch")
    g = data.draw(st.integers(1, 4), label="G")
    cg = data.draw(st.integers(1, 4), label="C/G")
    K = data.draw(st.integers(1, 5), label="K")
    sizes = tuple(data.draw(st.tuples(st.integers(1, 10), st.integers(1, 10)), label="sizes"))
    s = data.draw(st.integers(1, 3), label="stride")
    d = data.draw(st.integers(1, 2), label="dilation")
    padding = data.draw(st.one_of(st.none(), st.integers(0, 3)), label="padding")
    isa = draw_isa(data)
    c = g * cg
    p = d * (K - 1) // 2 if padding is None else padding
    ho, wo = [(i + 2 * p - d * (K - 1) - 1) // s + 1 for i in sizes]
    x = rnd(1, (n, c) + sizes, dtype)
    with forced_isa(isa):
        if min(ho, wo) < 1:
            with pytest.raises(ValueError):
                fastconv.involution2d(x, rnd(2, (n, g, K * K, 1, 1), dtype), K, s, padding, d)
            return
        ker = rnd(2, (n, g, K * K, ho, wo), dtype)
        y = fastconv.involution2d(lay(data, x, "x"), lay(data, ker, "kernel"), K, s, padding, d)
    assert_close(y, R.involution2d(x, ker, K, s, padding, d), dtype)


@given(data=st.data())
def test_avg_pool_property(data):
    dtype, n, c, x, k, stride, s, p, isa, sizes, outs = draw_pool(data)
    with forced_isa(isa):
        if min(outs) < 1:
            with pytest.raises(ValueError):
                fastconv.avg_pool2d(x, k, stride, p)
            return
        y = fastconv.avg_pool2d(lay(data, x, "x"), k, stride, p)
    # count_include_pad: a depthwise convolution with 1/(kh*kw) weights and zero padding
    xb = x if n is not None else x[None]
    ref = R.conv2d(xb, np.full((c, 1) + k, 1.0 / (k[0] * k[1])), None, s, p, 1, c)
    assert_close(y, ref if n is not None else ref[0], dtype)


@given(data=st.data())
def test_involution_module_property(data):
    dtype = draw_dtype(data)
    gc = data.draw(st.sampled_from([1, 2, 4]), label="group_channels")
    g = data.draw(st.integers(1, 3), label="G")
    r = data.draw(st.sampled_from([1, 2]), label="reduction_ratio")
    c = g * gc * r
    K = data.draw(st.sampled_from([1, 3, 5]), label="K")
    s = data.draw(st.integers(1, 2), label="stride")
    n = data.draw(st.integers(1, 2), label="batch")
    sizes = tuple(data.draw(st.tuples(st.integers(s, 9), st.integers(s, 9)), label="sizes"))
    sizes = tuple(i - i % s for i in sizes)     # the official avg-pool / conv sizes agree
    isa = draw_isa(data)
    sd = R.make_involution_state_dict(np.random.default_rng(5), c, K, gc, r, dtype)
    x = rnd(6, (n, c) + sizes, dtype)
    with forced_isa(isa):
        layer = fastconv.Involution2d.from_state_dict(sd, stride=s, group_channels=gc)
        y = layer(lay(data, x, "x"))
    assert_close(y, R.involution_module(x, sd, s, gc), dtype)
