"""fastconv.conv_transpose1d / 2d / 3d against the float64 oracle (and torch)."""

import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, LAYOUTS, assert_close, check_out_param, rand, relayout


def ct_fn(nd):
    return getattr(fastconv, f"conv_transpose{nd}d")


def make_ct(rng, dtype, nd, n, cin, cout, sizes, k, groups=1, bias=True):
    kk = R.ntuple(k, nd, "k")
    xshape = ((cin,) if n is None else (n, cin)) + tuple(sizes)
    x = rand(rng, xshape, dtype)
    w = rand(rng, (cin, cout // groups) + kk, dtype)
    b = rand(rng, (cout,), dtype) if bias else None
    return x, w, b


def check_ct(rng, dtype, nd, n, cin, cout, sizes, k, stride=1, padding=0, output_padding=0,
             groups=1, dilation=1, bias=True):
    x, w, b = make_ct(rng, dtype, nd, n, cin, cout, sizes, k, groups, bias)
    ref = R.conv_transpose_nd(x, w, b, stride, padding, output_padding, groups, dilation, nd=nd)
    y = ct_fn(nd)(x, w, b, stride, padding, output_padding, groups, dilation)
    assert_close(y, ref, dtype, what=f"conv_transpose{nd}d s={stride} p={padding} "
                                     f"op={output_padding} g={groups} d={dilation}")
    return y


# (n, cin, cout, sizes, k, stride, padding, output_padding, groups, dilation, bias)
CT_CASES = {
    "1d_basic": (2, 3, 4, (7,), 3, 1, 0, 0, 1, 1, True),
    "1d_stride2_op1": (1, 4, 6, (6,), 3, 2, 1, 1, 2, 1, True),
    "1d_stride3_dil2_op2": (2, 4, 4, (5,), 2, 3, 2, 2, 4, 2, True),
    "1d_op_lt_dilation": (1, 2, 3, (5,), 3, 1, 1, 1, 1, 2, False),
    "1d_unbatched": (None, 3, 2, (5,), 4, 2, 1, 0, 1, 1, True),
    "1d_len1": (3, 3, 5, (1,), 3, 2, 0, 1, 1, 1, True),
    "1d_k1_stride4": (1, 3, 5, (5,), 1, 4, 0, 3, 1, 1, True),
    "2d_basic": (2, 3, 4, (4, 5), 3, 1, 0, 0, 1, 1, True),
    "2d_stride2": (2, 3, 4, (4, 5), 3, 2, 1, 1, 1, 1, True),
    "2d_tuples": (2, 4, 2, (3, 4), (2, 3), (1, 2), (0, 1), (0, 1), 2, (2, 1), True),
    "2d_stride_gt_kernel": (1, 3, 4, (4, 3), 2, 3, 0, (2, 1), 1, 1, True),
    "2d_pad": (1, 3, 4, (5, 5), 5, 1, 2, 0, 1, 1, False),
    "2d_pad_big": (1, 3, 4, (5, 6), 3, 2, (2, 3), 0, 1, 1, True),
    "2d_groups_all": (2, 4, 4, (4, 4), 3, 2, 1, 1, 4, 1, True),
    "2d_groups_all_mult": (1, 3, 6, (4, 5), 3, 1, 1, 0, 3, 1, True),
    "2d_groups_some": (1, 6, 9, (3, 4), 3, 2, 0, 1, 3, 1, True),
    "2d_dilation": (1, 3, 2, (4, 5), 3, 1, 2, 1, 1, 2, True),
    "2d_unbatched": (None, 2, 3, (4, 3), 3, 2, 0, 1, 1, 2, True),
    "2d_1x1_spatial": (2, 3, 3, (1, 1), 3, 1, 1, 0, 3, 1, True),
    "2d_1x1_kernel_s2": (2, 3, 5, (3, 4), 1, 2, 0, 1, 1, 1, True),
    "2d_prime": (1, 5, 7, (7, 11), 3, 2, 1, 1, 1, 1, True),
    "2d_batch3": (3, 2, 2, (3, 3), 2, 2, 0, 0, 1, 1, False),
    "3d_basic": (1, 2, 2, (3, 3, 2), 2, 2, 0, 1, 1, 1, True),
    "3d_mixed": (2, 4, 4, (2, 3, 3), 3, (1, 2, 2), 1, (0, 1, 0), 2, 1, True),
    "3d_dil": (1, 3, 2, (2, 3, 2), 2, (2, 1, 3), (0, 1, 1), (1, 0, 2), 1, (1, 2, 1), True),
    "3d_unbatched": (None, 2, 3, (2, 2, 3), 3, 2, 1, 1, 1, 1, True),
    "3d_1x1x1": (2, 3, 4, (1, 1, 1), 3, 1, 0, 0, 1, 1, True),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(CT_CASES), ids=list(CT_CASES))
def test_conv_transpose_cases(isa, dtype, case, rng):
    n, cin, cout, sizes, *rest = CT_CASES[case]
    check_ct(rng, dtype, len(sizes), n, cin, cout, sizes, *rest)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ch", (1, 7, 8, 9, 15, 16, 17, 31, 32, 33))
def test_conv_transpose_channel_tiles(isa, dtype, ch, rng):
    check_ct(rng, dtype, 2, 2, ch, 3, (3, 4), 3, 2, 1, 1)
    check_ct(rng, dtype, 2, 1, 3, ch, (3, 4), 3, 2, 1, 1)
    check_ct(rng, dtype, 2, 1, ch, ch, (2, ch), 2, 2, 0, 0)
    check_ct(rng, dtype, 1, 1, ch, ch + 2, (5,), 3, 1, 1, 0)


@pytest.mark.parametrize("nd", (1, 2, 3))
def test_conv_transpose_vs_torch(nd, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    sizes = (5, 4, 3)[:nd]
    x, w, b = make_ct(rng, np.float64, nd, 2, 4, 6, sizes, 3, groups=2)
    y = ct_fn(nd)(x, w, b, 2, 1, 1, 2, 1)
    ref = fn(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), 2, 1, 1, 2, 1).numpy()
    assert_close(y, ref, np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_conv_transpose_is_adjoint_of_conv2d(dtype, rng):
    x = rand(rng, (2, 4, 7, 6), np.float64)
    w = rand(rng, (6, 2, 3, 2), np.float64)
    y = fastconv.conv2d(x.astype(dtype), w.astype(dtype), None, 2, 1, (1, 2), 2).astype(np.float64)
    u = rand(rng, y.shape, np.float64)
    xt = fastconv.conv_transpose2d(u.astype(dtype), w.astype(dtype), None, 2, 1, (0, 1), 2, (1, 2))
    assert xt.shape == x.shape
    lhs, rhs = np.sum(y * u), np.sum(x * xt.astype(np.float64))
    assert abs(lhs - rhs) <= (1e-3 if dtype == np.float32 else 1e-9) * (abs(lhs) + 1)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_conv_transpose_layouts(dtype, layout, rng):
    x, w, b = make_ct(rng, dtype, 2, 2, 3, 4, (4, 5), 3)
    ref = R.conv_transpose2d(x, w, b, 2, 1, 1)
    assert_close(fastconv.conv_transpose2d(relayout(x, layout), w, b, 2, 1, 1), ref, dtype)
    assert_close(fastconv.conv_transpose2d(x, relayout(w, layout), relayout(b, layout), 2, 1, 1), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("batched", (True, False), ids=("batched", "unbatched"))
def test_conv_transpose_out(nd, dtype, batched, rng):
    x, w, b = make_ct(rng, dtype, nd, 2 if batched else None, 3, 4, (3, 4, 2)[:nd], 3)
    ref = R.conv_transpose_nd(x, w, b, 2, 1, 1, nd=nd)
    check_out_param(lambda out: ct_fn(nd)(x, w, b, 2, 1, 1, out=out), ref.shape, dtype, ref)


@pytest.mark.parametrize("nd", (1, 2, 3))
def test_conv_transpose_dtype_mismatch(nd, rng):
    x, w, b = make_ct(rng, np.float32, nd, 1, 2, 3, (3, 3, 3)[:nd], 2)
    for args in [(x, w.astype(np.float64), None), (x.astype(np.float64), w, None),
                 (x, w, b.astype(np.float64))]:
        with pytest.raises(TypeError) as ei:
            ct_fn(nd)(*args)
        assert "float32" in str(ei.value) and "float64" in str(ei.value)
    with pytest.raises(TypeError, match="int64"):
        ct_fn(nd)(x.astype(np.int64), w.astype(np.int64))


BAD_CT = [
    ("stride", dict(stride=0)),
    ("stride", dict(stride=(2, -1))),
    ("stride", dict(stride=(1, 1, 1))),
    ("padding", dict(padding=-1)),
    ("padding", dict(padding=(0, -2))),
    ("padding", dict(padding=(1, 1, 1))),
    ("dilation", dict(dilation=0)),
    ("dilation", dict(dilation=(1, -1))),
    ("groups", dict(groups=0)),
    ("groups", dict(groups=3)),
    ("output_padding", dict(output_padding=1)),                    # stride 1, dilation 1
    ("output_padding", dict(stride=2, output_padding=2)),
    ("output_padding", dict(stride=2, dilation=3, output_padding=3)),
    ("output_padding", dict(stride=(2, 1), output_padding=(1, 1))),
    ("output_padding", dict(stride=2, output_padding=-1)),
    ("output_padding", dict(stride=2, output_padding=(1, 1, 1))),
]


@pytest.mark.parametrize("name,kw", BAD_CT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CT)])
def test_conv_transpose2d_bad_argument(name, kw):
    rng = np.random.default_rng(0)
    x, w, b = make_ct(rng, np.float64, 2, 1, 4, 4, (4, 4), 3)
    with pytest.raises(ValueError, match=name):
        fastconv.conv_transpose2d(x, w, b, **kw)


@pytest.mark.parametrize("nd", (1, 3))
@pytest.mark.parametrize("name,kw", [("stride", dict(stride=0)), ("padding", dict(padding=-1)),
                                     ("output_padding", dict(output_padding=1)),
                                     ("output_padding", dict(stride=2, output_padding=2)),
                                     ("dilation", dict(dilation=0)), ("groups", dict(groups=3))])
def test_conv_transpose_1d_3d_bad_argument(nd, name, kw):
    rng = np.random.default_rng(0)
    x, w, b = make_ct(rng, np.float64, nd, 1, 4, 4, (4, 4, 4)[:nd], 3)
    with pytest.raises(ValueError, match=name):
        ct_fn(nd)(x, w, b, **kw)


@pytest.mark.parametrize("what,xs,ws,bs,kw", [
    ("output_size_lt_1", (1, 3, 2, 2), (3, 2, 3, 3), None, dict(padding=3)),
    ("weight_cin", (1, 3, 4, 4), (2, 2, 3, 3), None, {}),
    ("weight_groups", (1, 3, 4, 4), (3, 2, 3, 3), None, dict(groups=2)),
    ("bias_len", (1, 4, 4, 4), (4, 2, 3, 3), (7,), dict(groups=2)),
    ("x_rank", (1, 3, 4), (3, 2, 3, 3), None, {}),
    ("w_rank", (1, 3, 4, 4), (3, 2, 3), None, {}),
])
def test_conv_transpose2d_bad_shapes(what, xs, ws, bs, kw):
    rng = np.random.default_rng(0)
    x, w = rand(rng, xs), rand(rng, ws)
    b = None if bs is None else rand(rng, bs)
    with pytest.raises(ValueError):
        fastconv.conv_transpose2d(x, w, b, **kw)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_conv_transpose_nonfinite(isa, dtype, rng):
    x, w, b = make_ct(rng, dtype, 2, 2, 4, 4, (5, 6), 3, groups=2)
    x[0, 1, 2, 3] = np.nan
    x[1, 2, 0, 0] = np.inf
    x[1, 3, 4, 5] = -np.inf
    for s, p, op in [(1, 0, 0), (2, 1, 1), (3, 0, 2)]:
        ref = R.conv_transpose2d(x, w, b, s, p, op, 2)
        y = fastconv.conv_transpose2d(x, w, b, s, p, op, 2)
        assert np.array_equal(np.isfinite(y), np.isfinite(ref))


# ---------------------------------------------------------------- sub-pixel decomposition
# Transposed convolutions with >= 4 output channels per group run as stride^d
# dense stride-1 convolutions of the input on the direct convolution's tiles
# (one per output phase), written to their interleaved pixels.  These cases
# cover the phase classes (taps t with t*dilation - padding + phase aligned to
# the stride), phases without taps (stride > kernel: bias only), the tile cuts
# along W where a tap starts or stops reading the input, rows near the borders
# (their own call lists), channel counts off the tile width, input-channel
# blocks, several accumulator chunks of rows, groups and output_padding.
# (nd, n, cin, cout, sizes, k, stride, padding, output_padding, groups, dilation)
SUB_CASES = {
    "dcgan_4x4s2": (2, 1, 6, 8, (5, 7), 4, 2, 1, 0, 1, 1),
    "unet_2x2s2": (2, 2, 5, 17, (4, 9), 2, 2, 0, 0, 1, 1),
    "k3s2_op1": (2, 1, 3, 5, (6, 13), 3, 2, 1, 1, 1, 1),
    "k3s3_op2": (2, 1, 4, 4, (3, 5), 3, 3, 0, 2, 1, 1),
    "stride_gt_kernel": (2, 1, 3, 6, (4, 5), 2, 3, 0, (2, 1), 1, 1),
    "stride4_k1": (2, 1, 2, 9, (3, 4), 1, 4, 0, 3, 1, 1),
    "dil2_s2": (2, 1, 3, 7, (5, 6), 3, 2, 2, 1, 1, 2),
    "dil3_s2": (2, 1, 3, 4, (5, 6), 3, 2, (1, 3), 1, 1, 3),
    "dil2_s3": (2, 1, 3, 4, (5, 4), (2, 3), 3, (0, 2), (1, 2), 1, 2),
    "pad_big": (2, 1, 3, 5, (7, 8), 5, 2, (4, 3), 1, 1, 1),
    "stride_1": (2, 2, 4, 20, (5, 11), 3, 1, 1, 0, 1, 1),
    "input_1x1": (2, 1, 9, 16, (1, 1), 4, 1, 0, 0, 1, 1),
    "input_smaller_than_kernel": (2, 1, 3, 6, (2, 3), 5, 2, 1, 1, 1, 1),
    "groups": (2, 2, 6, 15, (4, 5), 3, 2, 1, 1, 3, 1),
    "groups_cig1": (2, 1, 4, 16, (3, 6), 4, 2, 1, 0, 4, 1),
    "wide_row": (2, 1, 3, 4, (3, 45), 4, 2, 1, 1, 1, 1),
    "many_rows": (2, 1, 2, 4, (40, 8), 3, 2, 1, 1, 1, 1),
    "cin_blocks": (2, 1, 150, 8, (2, 3), 4, 2, 1, 0, 1, 1),
    "cout_33": (2, 1, 3, 33, (3, 4), 4, 2, 1, 0, 1, 1),
    "1d_s2": (1, 2, 3, 6, (9,), 4, 2, 1, 0, 1, 1),
    "1d_s3_dil2": (1, 1, 4, 8, (7,), 3, 3, 1, 2, 2, 2),
    "1d_s5_k2": (1, 1, 2, 5, (6,), 2, 5, 0, 4, 1, 1),
    "3d_s2": (3, 1, 3, 6, (3, 4, 5), 4, 2, 1, 0, 1, 1),
    "3d_mixed": (3, 2, 4, 8, (2, 3, 4), (3, 1, 2), (1, 2, 3), (1, 0, 1), (0, 1, 2), 2, (2, 1, 1)),
    "3d_stride_gt_kernel": (3, 1, 2, 4, (2, 3, 2), (1, 2, 2), 3, 0, (1, 2, 0), 1, 1),
    "3d_2x2x2": (3, 1, 5, 9, (3, 3, 4), 2, 2, 0, 0, 1, 1),
}


def _sub_args(case):
    nd, n, cin, cout, sizes, k, s, p, op, g, dil = SUB_CASES[case]
    return nd, n, cin, cout, sizes, k, g, (s, p, op, g, dil)


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(SUB_CASES), ids=list(SUB_CASES))
def test_conv_transpose_subpixel(isa, dtype, case, threads, rng, restore_threads):
    nd, n, cin, cout, sizes, k, g, args = _sub_args(case)
    fastconv.set_num_threads(threads)
    for bias in (True, False):
        x, w, b = make_ct(rng, dtype, nd, n, cin, cout, sizes, k, g, bias)
        ref = R.conv_transpose_nd(x, w, b, *args, nd=nd)
        y = ct_fn(nd)(x, w, b, *args)
        assert_close(y, ref, dtype, what=f"{case} functional bias={bias}")
        s, p, op, _, dil = args
        layer = getattr(fastconv, f"ConvTranspose{nd}d")(w, b, stride=s, padding=p,
                                                         output_padding=op, groups=g,
                                                         dilation=dil)
        assert_close(layer(x), ref, dtype, what=f"{case} layer bias={bias}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("act", ("relu", "relu6"))
def test_conv_transpose_subpixel_activation(isa, dtype, act, rng):
    x, w, b = make_ct(rng, dtype, 2, 2, 5, 12, (5, 6), 4)
    x *= 8
    ref = R.conv_transpose_nd(x, w, b, 2, 1, 0, nd=2)
    ref = np.maximum(ref, 0) if act == "relu" else np.clip(ref, 0, 6)
    assert_close(fastconv.conv_transpose2d(x, w, b, 2, 1, activation=act), ref, dtype)
    layer = fastconv.ConvTranspose2d(w, b, stride=2, padding=1, activation=act)
    assert_close(layer(x), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_conv_transpose_subpixel_nonfinite(isa, dtype, rng):
    x, w, b = make_ct(rng, dtype, 2, 2, 4, 8, (5, 6), 3)
    x[0, 1, 2, 3] = np.nan
    x[1, 2, 0, 0] = np.inf
    x[1, 3, 4, 5] = -np.inf
    for s, p, op in [(1, 0, 0), (2, 1, 1), (3, 0, 2), (4, 0, 1)]:
        ref = R.conv_transpose2d(x, w, b, s, p, op)
        y = fastconv.conv_transpose2d(x, w, b, s, p, op)
        assert np.array_equal(np.isfinite(y), np.isfinite(ref)), (s, p, op)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_conv_transpose_subpixel_layer_input_sizes(isa, dtype, rng):
    """One packing serves every input size (the plan is per call)."""
    w = rand(rng, (6, 8, 4, 4), dtype)
    b = rand(rng, (8,), dtype)
    layer = fastconv.ConvTranspose2d(w, b, stride=2, padding=1)
    for hw in ((1, 1), (3, 8), (9, 5), (16, 16)):
        x = rand(rng, (1, 6) + hw, dtype)
        assert_close(layer(x), R.conv_transpose2d(x, w, b, 2, 1), dtype, what=str(hw))
