"""One plan per call (issue 23): layer objects used as users use them, one
object called on a sequence of input shapes, against the functional call and
the float64 oracle, on every ISA level; packed weights that belong to another
plan are refused; non-finite weights propagate as in torch on every path."""

import numpy as np
import pytest

import fastconv
import reference as R
from fastconv import _core
from helpers import DTYPES, DTYPE_IDS, assert_close, forced_isa, rand
from reference import rel_err, tolerance

MODES = ("zeros", "reflect", "replicate", "circular")


def _conv_ok(nd, shape, w, kw):
    """The functional call accepts this input (the padding modes need room)."""
    try:
        fastconv.conv_plan(np.zeros(shape, w.dtype), w, **kw)
        return True
    except ValueError:
        return False


def _ref(nd, x, w, b, kw):
    return R.conv_nd(x, w, b, nd=nd, **{a: v for a, v in kw.items() if a != "algorithm"})


def _check_layer_sequence(nd, layer, w, b, kw, shapes, rng, dtype, what):
    """layer(x) for x of each shape: equal to the oracle, and to the functional call."""
    ran = 0
    for shape in shapes:
        if not _conv_ok(nd, shape, w, kw):
            continue
        x = rand(rng, shape, dtype)
        y = layer(x)
        ref = _ref(nd, x, w, b, kw)
        wino = layer.plan(x) is not None and layer.plan(x).algorithm == "winograd"
        assert_close(y, ref, dtype, winograd=wino, what=f"{what} layer {shape}")
        f = getattr(fastconv, f"conv{nd}d")(x, w, b, **kw)
        fwino = wino or fastconv.conv_plan(x, w, b, **kw).algorithm == "winograd"
        assert rel_err(y, f) <= 2 * tolerance(dtype, fwino), f"{what}: layer != functional {shape}"
        ran += 1
    assert ran >= 2, f"{what}: too few valid shapes"


# (nd, C_in, C_out, kernel, kwargs, shapes of x): each a layer called on shapes
# whose plans differ (a gathered, a padded, a plain input; cut strides; the
# direct tiles, the pointwise kernel, the GEMM, Winograd, depthwise, grouped).
_SEQ = {
    "1x1_pad1_reflect": (2, 16, 32, (1, 1), dict(padding=1, padding_mode="reflect"),
                         [(2, 16, 9, 10), (1, 16, 4, 4), (2, 16, 9, 10), (3, 16, 2, 3)]),
    "1x1_pad1_modes": (2, 8, 12, (1, 1), dict(padding=(1, 2)),
                       [(1, 8, 5, 6), (2, 8, 3, 3), (1, 8, 5, 6)]),
    "2x2_s2_shape_change": (2, 16, 32, (2, 2), dict(stride=2),
                            [(1, 16, 8, 8), (1, 16, 2, 2), (2, 16, 3, 5), (1, 16, 8, 8)]),
    "3x3_same": (2, 16, 32, (3, 3), dict(padding="same"),
                 [(1, 16, 7, 7), (2, 16, 14, 14), (1, 16, 1, 1), (1, 16, 7, 7)]),
    "3x3_winograd_sizes": (2, 24, 20, (3, 3), dict(padding=1, algorithm="winograd"),
                           [(1, 24, 7, 7), (4, 24, 7, 7), (1, 24, 17, 5), (1, 24, 7, 7)]),
    "3x3_gemm_s2": (2, 8, 16, (3, 3), dict(stride=2, padding=1, algorithm="gemm"),
                    [(1, 8, 9, 9), (2, 8, 2, 2), (1, 8, 9, 9)]),
    "4x4_s4_patchify": (2, 3, 32, (4, 4), dict(stride=4),
                        [(1, 3, 16, 16), (2, 3, 4, 4), (1, 3, 7, 9), (1, 3, 16, 16)]),
    "3x3_rgb_im2col": (2, 3, 32, (3, 3), dict(padding=1),
                       [(1, 3, 20, 20), (1, 3, 2, 2), (2, 3, 9, 5), (1, 3, 20, 20)]),
    "3x3_rgb_circular": (2, 3, 16, (3, 3), dict(padding=1, padding_mode="circular"),
                         [(1, 3, 12, 12), (1, 3, 3, 3), (1, 3, 12, 12)]),
    "depthwise_3x3": (2, 16, 16, (3, 3), dict(padding=1, groups=16),
                      [(1, 16, 56, 56), (2, 16, 5, 5), (1, 16, 1, 1), (1, 16, 56, 56)]),
    "depthwise_s2_replicate": (2, 8, 16, (5, 5), dict(stride=2, padding=2, groups=8,
                                                      padding_mode="replicate"),
                               [(1, 8, 12, 12), (1, 8, 3, 3), (1, 8, 12, 12)]),
    "grouped_4": (2, 32, 32, (3, 3), dict(padding=1, groups=8),
                  [(1, 32, 14, 14), (1, 32, 1, 2), (2, 32, 7, 7)]),
    "pointwise_s2": (2, 16, 24, (1, 1), dict(stride=2),
                     [(1, 16, 9, 9), (1, 16, 1, 1), (2, 16, 4, 6)]),
    "1d_k3_reflect": (1, 8, 16, (3,), dict(padding=2, padding_mode="reflect", dilation=2),
                      [(2, 8, 20), (1, 8, 3), (1, 8, 20)]),
    "1d_2_s2": (1, 8, 16, (2,), dict(stride=2), [(1, 8, 16), (1, 8, 2), (2, 8, 7)]),
    "3d_depth_pad": (3, 1, 1, (1, 3, 3), dict(stride=(2, 1, 1), padding=((1, 0), (1, 1), (1, 1))),
                     [(1, 1, 1, 4, 4), (1, 1, 3, 4, 4), (1, 1, 1, 4, 4)]),
    "3d_1x1_circular": (3, 8, 16, (1, 1, 1), dict(padding=1, padding_mode="circular"),
                        [(1, 8, 3, 4, 5), (1, 8, 1, 2, 2), (1, 8, 3, 4, 5)]),
    "3d_s2_gemm": (3, 4, 8, (2, 2, 2), dict(stride=2, groups=2),
                   [(1, 4, 4, 4, 4), (1, 4, 2, 2, 2), (2, 4, 5, 3, 6)]),
}


@pytest.mark.parametrize("name", sorted(_SEQ))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_layer_on_a_sequence_of_shapes(isa, dtype, name, rng):
    nd, cin, cout, k, kw, shapes = _SEQ[name]
    g = kw.get("groups", 1)
    w = rand(rng, (cout, cin // g) + k, dtype)
    b = rand(rng, (cout,), dtype)
    layer = getattr(fastconv, f"Conv{nd}d")(w, b, **kw)
    _check_layer_sequence(nd, layer, w, b, kw, shapes, rng, dtype, name)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("algorithm", ["auto", "direct", "gemm"])
def test_layer_every_padding_mode_and_form(isa, nd, mode, algorithm, rng):
    """The issue's first example on every mode, form and algorithm, 1-D to 3-D,
    one layer object reused across input shapes."""
    for k in (1, 2, 3):
        for padding in (1, (1,) * nd, ((1, 0),) * nd, "same"):
            if padding == "same" and mode != "zeros" and k == 1:
                continue
            w = rand(rng, (6, 4) + (k,) * nd, np.float32)
            kw = dict(padding=padding, padding_mode=mode, algorithm=algorithm)
            layer = getattr(fastconv, f"Conv{nd}d")(w, **kw)
            shapes = [(2, 4) + (5,) * nd, (1, 4) + (2,) * nd, (1, 4) + (3,) * (nd - 1) + (7,)]
            _check_layer_sequence(nd, layer, w, None, kw, shapes, rng, np.float32,
                                  f"{nd}d k{k} {padding} {mode} {algorithm}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_transposed_layer_on_a_sequence_of_shapes(isa, dtype, nd, rng):
    for cin, cout, k, kw in [(8, 8, 4, dict(stride=2, padding=1)), (6, 3, 3, dict(padding=1)),
                             (8, 16, 2, dict(stride=2, groups=2)), (4, 2, 3, dict(stride=3, dilation=2))]:
        g = kw.get("groups", 1)
        w = rand(rng, (cin, cout // g) + (k,) * nd, dtype)
        b = rand(rng, (cout,), dtype)
        layer = getattr(fastconv, f"ConvTranspose{nd}d")(w, b, **kw)
        for size in (5, 1, 8, 3, 5):
            x = rand(rng, (2 if size == 3 else 1, cin) + (size,) * nd, dtype)
            ref = R.conv_transpose_nd(x, w, b, nd=nd, **kw)
            assert_close(layer(x), ref, dtype, what=f"convT{nd}d {kw} @{size}")
            f = getattr(fastconv, f"conv_transpose{nd}d")(x, w, b, **kw)
            assert rel_err(layer(x), f) <= 2 * tolerance(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_involution_layer_on_a_sequence_of_shapes(isa, dtype, rng):
    for stride in (1, 2):
        sd = R.make_involution_state_dict(rng, 32, kernel_size=3, dtype=dtype)
        layer = fastconv.Involution2d.from_state_dict(sd, stride=stride)
        for size in (10, 4, 16, 10):
            x = rand(rng, (1, 32, size, size), dtype)
            ref = R.involution_module(x, sd, stride=stride)
            assert_close(layer(x), ref, dtype, what=f"involution s{stride} @{size}")


def test_separable_on_a_sequence_of_shapes(isa, rng):
    row, col = rand(rng, (5,), np.float32), rand(rng, (3,), np.float32)
    for mode in MODES:
        for size in ((12, 9), (3, 4), (12, 9)):
            x = rand(rng, (1, 3) + size, np.float32)
            y = fastconv.separable_conv2d(x, row, col, padding=(1, 2), padding_mode=mode)
            assert_close(y, R.separable_conv2d(x, row, col, padding=(1, 2), padding_mode=mode),
                         np.float32, what=f"separable {mode} {size}")


# ---------------------------------------------------------------- the plan

def test_plan_reports_what_runs_and_why():
    w = np.ones((32, 16, 1, 1), np.float32)
    layer = fastconv.Conv2d(w, padding=1, padding_mode="reflect")
    p = layer.plan((2, 16, 9, 10))
    assert p.algorithm in ("direct", "gemm") and p.input_prep in ("pad", "pad+gather")
    assert p.isa == _core.get_isa() and p.reason
    text = str(p)
    assert p.implementation in text and "why:" in text
    assert set(p.as_dict()) >= {"algorithm", "implementation", "isa", "input_prep", "key", "reason"}
    q = fastconv.conv_plan(np.ones((2, 16, 9, 10), np.float32), w, padding=1,
                           padding_mode="reflect")
    assert q.implementation == p.implementation
    assert fastconv.Conv2d(w, algorithm="gemm").plan((1, 16, 4, 4)).reason == "requested by the caller"


def test_plans_of_one_layer_share_packs_by_key(rng):
    w = rand(rng, (32, 16, 3, 3), np.float32)
    layer = fastconv.Conv2d(w, padding=1, algorithm="direct")
    for s in (8, 9, 10, 11):
        layer(rand(rng, (1, 16, s, s), np.float32))
    keys = {layer.plan((1, 16, s, s)).key for s in (8, 9, 10, 11)}
    assert len(keys) == 1 and len(layer._packs) == 1   # one layout serves every size


def test_run_with_another_plans_pack_is_refused(rng):
    w = rand(rng, (32, 16, 2, 2), np.float32)
    spec = lambda s: fastconv._args.conv_spec(2, np.zeros((1, 16, s, s), np.float32), w, None,  # noqa: E731
                                              2, 0, 1, 1, "zeros", "direct", None)[0].c_desc()
    big, small = _core.plan(spec(8), 1, 0), _core.plan(spec(2), 1, 0)
    if big.key == small.key:
        pytest.skip("one layout for both here")
    packed = _core.plan_pack(big if big.packs else small, w)
    other = small if big.packs else big
    x = rand(rng, (1, 16, 2, 2) if other is small else (1, 16, 8, 8), np.float32)
    y = np.full((1, 32) + ((1, 1) if other is small else (4, 4)), 7.0, np.float32)
    with pytest.raises(RuntimeError, match="another plan"):
        _core.plan_run(other, x, packed, None, y, packed=True)
    assert np.all(y == 7.0)   # nothing computed


def test_c_api_pack_under_one_isa_run_under_another(rng):
    """fc_conv_pack at one level, fc_conv_packed with another in force: the
    pack's own level runs (its header), and the answer is right."""
    levels = _core.supported_isas()
    prev = _core.get_isa()
    try:
        for shape, k, kw in [((1, 16, 9, 9), 1, dict(stride=1)), ((1, 3, 20, 20), 3, dict(padding=1)),
                             ((1, 16, 8, 8), 2, dict(stride=2)), ((1, 32, 14, 14), 3, dict(padding=1))]:
            x = rand(rng, shape, np.float32)
            w = rand(rng, (32, shape[1], k, k), np.float32)
            spec = fastconv._args.conv_spec(2, x, w, None, kw.get("stride", 1), kw.get("padding", 0),
                                            1, 1, "zeros", "auto", None)[0]
            ref = R.conv2d(x, w, **kw)
            for a in levels:
                _core.set_isa(a)
                packed = _core.conv_pack(spec.c_desc(), 0, w)
                for b in levels:
                    _core.set_isa(b)
                    y = np.empty(spec.out_shape, np.float32)
                    _core.conv_packed(spec.c_desc(), 0, x, packed, None, y)
                    assert_close(y, ref, np.float32, winograd=True, what=f"pack {a} run {b}")
    finally:
        _core.set_isa(prev)


def test_layer_follows_the_isa_level_in_force(rng):
    w = rand(rng, (32, 3, 3, 3), np.float32)
    layer = fastconv.Conv2d(w, padding=1)
    x = rand(rng, (1, 3, 20, 20), np.float32)
    ref = R.conv2d(x, w, padding=1)
    prev = _core.get_isa()
    try:
        for lv in _core.supported_isas() * 2:
            _core.set_isa(lv)
            assert layer.plan(x).isa == lv
            assert_close(layer(x), ref, np.float32, winograd=True, what=lv)
    finally:
        _core.set_isa(prev)


# ---------------------------------------------------------------- the fixes

@pytest.mark.parametrize("algorithm", ["auto", "direct", "gemm", "winograd"])
def test_output_slice_wholly_in_the_depth_padding_is_bias(isa, algorithm):
    x, w = np.ones((1, 1, 1, 4, 4)), np.ones((1, 1, 1, 3, 3))
    kw = dict(stride=(2, 1, 1), padding=((1, 0), (1, 1), (1, 1)))
    assert np.array_equal(fastconv.conv3d(x, w, np.full(1, 0.5), algorithm=algorithm, **kw),
                          np.full((1, 1, 1, 4, 4), 0.5))
    for groups, c in [(1, 1), (4, 4), (2, 8)]:
        xg = np.ones((1, c, 1, 5, 5))
        wg = np.ones((c, c // groups, 1, 3, 3))
        y = fastconv.conv3d(xg, wg, groups=groups, algorithm=algorithm, **kw)
        assert_close(y, R.conv3d(xg, wg, groups=groups, **kw), np.float64, what=f"g{groups}")
        L = fastconv.Conv3d(wg, groups=groups, algorithm=algorithm, **kw)
        assert_close(L(xg), R.conv3d(xg, wg, groups=groups, **kw), np.float64, what=f"layer g{groups}")


def _nonfinite_cases():
    # (nd, C_in, C_out, groups, kernel, stride, padding, size): dense, depthwise,
    # grouped, pointwise with padding, 1-D to 3-D: every direct implementation
    return [(2, 8, 16, 1, 3, 1, 1, 6), (2, 16, 16, 16, 3, 1, 1, 56), (2, 16, 16, 16, 3, 2, 1, 9),
            (2, 16, 16, 16, 5, 1, 2, 7), (2, 32, 32, 8, 3, 1, 1, 14), (2, 16, 32, 1, 1, 1, 1, 5),
            (2, 3, 32, 1, 3, 1, 1, 20), (2, 2, 2, 1, 3, 1, 2, 5), (1, 8, 16, 1, 3, 2, 2, 9),
            (3, 4, 8, 1, 3, 1, 1, 4), (3, 4, 4, 4, 3, 2, 1, 5), (3, 1, 1, 1, 3, 1, 1, 3),
            # the direct tiles' packings, each checked as it packs: a block per item
            # (one image), blocks of input channels, the whole weights first (weights
            # smaller than the input)
            (2, 256, 512, 1, 3, 1, 1, 5), (2, 64, 96, 1, 3, 1, 1, 7), (2, 16, 32, 1, 3, 1, 1, 40),
            (2, 32, 64, 2, 3, 2, 2, 9)]


@pytest.mark.parametrize("case", range(16))
@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("algorithm", ["auto", "direct", "gemm"])
def test_nonfinite_weights_propagate_as_in_torch(isa, case, bad, algorithm, rng):
    nd, cin, cout, g, k, s, p, size = _nonfinite_cases()[case]
    w = rand(rng, (cout, cin // g) + (k,) * nd, np.float32)
    for idx in [(0,) * (nd + 2), (cout - 1, cin // g - 1) + (k - 1,) * nd]:
        w2 = w.copy()
        w2[idx] = float(bad)
        x = rand(rng, (2 if size == 40 else 1, cin) + (size,) * nd, np.float32)
        # the oracle multiplies the zero padding too: 0 x NaN = NaN, 0 x Inf = NaN
        ref = R.conv_nd(x, w2, stride=s, padding=p, groups=g, nd=nd)
        for what, y in (("functional", getattr(fastconv, f"conv{nd}d")(x, w2, stride=s, padding=p,
                                                                       groups=g, algorithm=algorithm)),
                        ("layer", getattr(fastconv, f"Conv{nd}d")(w2, stride=s, padding=p, groups=g,
                                                                  algorithm=algorithm)(x))):
            assert np.array_equal(np.isnan(y), np.isnan(ref)), f"{what} {idx}: NaN mask"
            assert np.array_equal(np.isinf(y), np.isinf(ref)), f"{what} {idx}: Inf mask"
            fin = np.isfinite(ref)
            # docs/TESTING.md's float32 tolerance, relative to the output's scale
            # (a sum of 2,304 products of scale ~50 rounds by ~2e-4 in float32)
            assert_close(y[fin], ref[fin], np.float32, what=what)


def test_nonfinite_weights_match_torch(rng):
    torch = pytest.importorskip("torch")
    w = np.ones((8, 8, 3, 3), np.float32)
    w[2, 1, 0, 2] = np.nan
    w[5, 0, 2, 0] = -np.inf
    x = rand(rng, (1, 8, 6, 6), np.float32)
    t = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                   padding=1).numpy()
    for algorithm in ("auto", "direct", "gemm"):
        y = fastconv.conv2d(x, w, padding=1, algorithm=algorithm)
        assert np.array_equal(np.isnan(y), np.isnan(t)) and np.array_equal(np.isinf(y), np.isinf(t))


def test_nonfinite_weights_plan_computes_the_padding():
    w = np.ones((16, 16, 3, 3), np.float32)
    assert not fastconv.conv_plan(np.ones((1, 16, 8, 8), np.float32), w, padding=1).nonfinite_weights
    w[0, 0, 0, 0] = np.nan
    layer = fastconv.Conv2d(w, padding=1, algorithm="direct")
    p = layer.plan((1, 16, 8, 8))
    assert p.nonfinite_weights and p.input_prep in ("pad", "pad+gather")
    assert not fastconv.Conv2d(w, algorithm="direct").plan((1, 16, 8, 8)).nonfinite_weights


def test_all_finite(rng):
    for dtype in DTYPES:
        a = rand(rng, (3 << 18) + 5, dtype)
        assert _core.all_finite(a)
        for v, at in ((np.nan, 0), (np.inf, -1), (-np.inf, 5000), (np.nan, (1 << 18) + 3)):
            b = a.copy()
            b[at] = v
            assert not _core.all_finite(b)
        assert _core.all_finite(np.array([np.finfo(dtype).max, -np.finfo(dtype).max,
                                          np.finfo(dtype).tiny / 4], dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_max_pool_nan_index_is_the_last_nan_as_torch(isa, dtype):
    x = np.array([[[[np.nan, 1, np.nan, 2], [3, np.nan, 0, 4]]]], dtype)
    y, i = fastconv.max_pool2d(x, (2, 4), return_indices=True)
    assert np.isnan(y).all() and i.ravel().tolist() == [5]
    y, i = fastconv.max_pool2d(x, (1, 4), return_indices=True)
    assert i.ravel().tolist() == [2, 5]
    torch = pytest.importorskip("torch")
    ty, ti = torch.nn.functional.max_pool2d(torch.from_numpy(x), (1, 4), return_indices=True)
    assert ti.numpy().ravel().tolist() == [2, 5]


# ---------------------------------------------------------------- fuzz

def test_fuzz_layer_objects_over_shape_sequences():
    """Random layers (1-D to 3-D, every padding form and mode, stride,
    dilation, groups, algorithm, dtype, ISA level), each called on a random
    sequence of input shapes.  HYPOTHESIS_PROFILE=nightly: 5,000 layers."""
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @hyp.given(st.data())
    def run(data):
        nd = data.draw(st.integers(1, 3), label="nd")
        dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
        isa = data.draw(st.sampled_from(sorted(_core.supported_isas())), label="isa")
        g = data.draw(st.sampled_from([1, 1, 2, 4]), label="groups")
        cig = data.draw(st.sampled_from([1, 2, 3, 4, 8, 16]), label="cig")
        cog = data.draw(st.sampled_from([1, 2, 4, 8, 16, 32]), label="cog")
        k = tuple(data.draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd), label="k"))
        stride = tuple(data.draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd), label="s"))
        dil = tuple(data.draw(st.lists(st.integers(1, 2), min_size=nd, max_size=nd), label="d"))
        pform = data.draw(st.sampled_from(["int", "tuple", "pairs", "same", "valid"]), label="pf")
        if pform == "int":
            padding = data.draw(st.integers(0, 2))
        elif pform == "tuple":
            padding = tuple(data.draw(st.lists(st.integers(0, 2), min_size=nd, max_size=nd)))
        elif pform == "pairs":
            padding = tuple(tuple(data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2)))
                            for _ in range(nd))
        else:
            padding = pform
        if padding == "same":
            stride = (1,) * nd
        mode = data.draw(st.sampled_from(MODES), label="mode")
        algorithm = data.draw(st.sampled_from(["auto", "auto", "direct", "gemm"]), label="algo")
        kw = dict(stride=stride, padding=padding, dilation=dil, groups=g, padding_mode=mode,
                  algorithm=algorithm)
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
        w = rand(rng, (g * cog, cig) + k, dtype)
        b = rand(rng, (g * cog,), dtype) if data.draw(st.booleans(), label="bias") else None
        with forced_isa(isa):
            try:
                layer = getattr(fastconv, f"Conv{nd}d")(w, b, **kw)
            except ValueError:
                hyp.assume(False)
            sizes = data.draw(st.lists(st.lists(st.integers(1, 12), min_size=nd, max_size=nd),
                                       min_size=2, max_size=5), label="sizes")
            for sz in sizes:
                n = data.draw(st.integers(1, 2), label="N")
                shape = (n, g * cig) + tuple(sz)
                if not _conv_ok(nd, shape, w, kw):
                    continue
                x = rand(rng, shape, dtype)
                y = layer(x)
                pl = layer.plan(x)
                ref = _ref(nd, x, w, b, kw)
                assert_close(y, ref, dtype, winograd=pl.algorithm == "winograd",
                             what=f"{nd}d {kw} {shape} {pl}")

    run()
