"""Named special cases: depthwise, pointwise, separable, depthwise-separable."""

import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, LAYOUTS, assert_close, check_out_param, rand, relayout

TILE_CHANNELS = (1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33)

# ---------------------------------------------------------------- depthwise
# (n, c, mult, sizes, k, stride, padding, dilation, bias)
DW_CASES = {
    "basic": (2, 3, 1, (7, 8), 3, 1, 1, 1, True),
    "mult2": (2, 3, 2, (7, 8), 3, 1, 1, 1, True),
    "mult3_nobias": (1, 2, 3, (6, 5), (3, 2), 1, (1, 0), 1, False),
    "stride2": (2, 4, 1, (9, 8), 3, 2, 1, 1, True),
    "stride_gt_k": (1, 4, 1, (11, 9), 2, 3, 0, 1, True),
    "stride_tuple": (1, 4, 1, (9, 8), 3, (1, 2), (1, 0), 1, True),
    "dilation": (2, 3, 1, (9, 9), 3, 1, 2, 2, True),
    "dilation_tuple": (1, 3, 2, (9, 9), 3, 2, (2, 1), (2, 1), True),
    "pad_pairs": (1, 3, 1, (7, 6), 3, 1, ((0, 2), (2, 0)), 1, True),
    "same": (2, 3, 1, (7, 6), 5, 1, "same", 1, True),
    "same_stride2": (1, 5, 1, (7, 6), 3, 2, "same", 1, True),
    "valid": (2, 3, 1, (7, 6), 3, 1, "valid", 1, True),
    "unbatched": (None, 3, 1, (6, 7), 3, 1, 1, 1, True),
    "unbatched_mult": (None, 3, 2, (6, 7), 3, 2, "same", 1, True),
    "spatial_1x1": (2, 4, 1, (1, 1), 3, 1, 1, 1, True),
    "k1": (2, 4, 2, (5, 5), 1, 1, 0, 1, True),
    "prime": (1, 13, 1, (13, 11), 7, 1, 3, 1, True),
    "batch3": (3, 2, 1, (5, 4), 3, 1, 1, 1, False),
}


def check_dw(rng, dtype, n, c, mult, sizes, k, s, p, d, bias=True, layout="c"):
    kk = R.ntuple(k, 2, "k")
    x = rand(rng, ((c,) if n is None else (n, c)) + sizes, dtype)
    w = rand(rng, (c * mult, 1) + kk, dtype)
    b = rand(rng, (c * mult,), dtype) if bias else None
    ref = R.depthwise_conv2d(x, w, b, s, p, d)
    y = fastconv.depthwise_conv2d(relayout(x, layout), w, b, s, p, d)
    assert_close(y, ref, dtype, what=f"depthwise s={s} p={p} d={d}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(DW_CASES), ids=list(DW_CASES))
def test_depthwise_cases(isa, dtype, case, rng):
    check_dw(rng, dtype, *DW_CASES[case])


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("c", TILE_CHANNELS)
def test_depthwise_channel_and_width_tiles(isa, dtype, c, rng):
    check_dw(rng, dtype, 2, c, 1, (4, 5), 3, 1, 1, 1)
    check_dw(rng, dtype, 1, c, 2, (3, 4), 3, 2, 1, 1)
    check_dw(rng, dtype, 1, 2, 1, (3, c), 3, 1, 1, 1)
    check_dw(rng, dtype, 1, 3, 1, (2, c), 5, 1, 2, 1)


# The channel-blocked kernel (16 floats on AVX-512, else 8; 4 doubles of
# channels per vector):
# blocks cut by the channel multiplier, strips of rows over tall and wide
# planes (the tile's row budget), flat pixel blocks across row ends, runs of
# 7 pixels with the inputs slid through registers (stride 1 along W, 3/5/7
# taps per row) and their row tails.
DWC_CASES = {
    "c5_mult3": (1, 5, 3, (9, 11), 3, 1, 1, 1, True),
    "c12_wide_7x7": (1, 12, 1, (40, 300), 7, 1, 3, 1, True),
    "c9_tall_s2": (2, 9, 1, (120, 17), 3, 2, 1, 1, False),
    "c16_s3_d2": (1, 16, 1, (31, 29), 3, 3, 2, 2, True),
    "c8_7x7_small": (2, 8, 1, (7, 7), 7, 1, 3, 1, True),
    "c17_14_s2": (1, 17, 1, (14, 14), 3, 2, 1, 1, True),
    "c24_k5_valid": (1, 24, 1, (6, 9), 5, 1, 0, 1, True),
    "c10_pad_gt_k": (1, 10, 1, (5, 6), 3, 1, 4, 1, True),
    "c4_1x1_plane": (3, 4, 2, (1, 1), 3, 1, 1, 1, True),
    "c11_k1x7": (1, 11, 1, (13, 23), (1, 7), 1, (0, 3), 1, True),
    "c9_s2x1": (1, 9, 1, (15, 16), 3, (2, 1), 1, 1, True),
    "c8_k5_w21": (1, 8, 1, (9, 21), 5, 1, 2, 1, True),
    "c16_k7_w14": (1, 16, 2, (14, 14), 7, 1, 3, 1, False),
    "c40_k7_blocks": (2, 40, 1, (10, 12), 7, 1, 3, 1, True),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(DWC_CASES), ids=list(DWC_CASES))
def test_depthwise_channel_blocks(isa, dtype, case, rng):
    check_dw(rng, dtype, *DWC_CASES[case])


# Stride 1 keeping the width, 3x3 or smaller, rows of 48 or more: the pixel
# loop over the input in place (its border columns and top/bottom rows apart).
DW_INPLACE_CASES = {
    "same3": (2, 3, 1, (9, 48), 3, 1, 1, 1, True),
    "mult2": (1, 2, 2, (6, 50), 3, 1, 1, 1, True),
    "dil2": (1, 3, 1, (8, 52), 3, 1, 2, 2, False),
    "k1x3": (1, 2, 1, (5, 49), (1, 3), 1, (0, 1), 1, True),
    "k3x1": (1, 2, 1, (5, 49), (3, 1), 1, (1, 0), 1, True),
    "pad_pairs": (1, 2, 1, (6, 48), 3, 1, ((1, 1), (2, 0)), 1, True),
    "pad_gt_k": (1, 2, 1, (3, 48), 3, 1, ((4, 4), (1, 1)), 1, True),
    "one_row": (1, 2, 1, (1, 64), 3, 1, 1, 1, False),
    "unbatched": (None, 2, 1, (4, 48), 3, 1, 1, 1, True),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(DW_INPLACE_CASES), ids=list(DW_INPLACE_CASES))
def test_depthwise_in_place_rows(isa, dtype, case, rng):
    check_dw(rng, dtype, *DW_INPLACE_CASES[case])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_depthwise_channel_blocks_threads(threads, rng):
    x = rand(rng, (1, 13, 33, 70), np.float32)
    w = rand(rng, (13, 1, 5, 5), np.float32)
    ref = R.depthwise_conv2d(x, w, None, 1, 2, 1)
    old = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(threads)
        assert_close(fastconv.depthwise_conv2d(x, w, None, 1, 2, 1), ref, np.float32)
    finally:
        fastconv.set_num_threads(old)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_depthwise_layouts(dtype, layout, rng):
    check_dw(rng, dtype, 2, 3, 2, (5, 6), 3, 1, 1, 1, layout=layout)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_depthwise_equals_grouped_conv2d(dtype, rng):
    x = rand(rng, (2, 4, 7, 7), dtype)
    w = rand(rng, (8, 1, 3, 3), dtype)
    b = rand(rng, (8,), dtype)
    y1 = fastconv.depthwise_conv2d(x, w, b, 2, 1, 1)
    y2 = fastconv.conv2d(x, w, b, 2, 1, 1, 4, algorithm="direct")
    assert_close(y1, R.conv2d(x, w, b, 2, 1, 1, 4), dtype)
    assert_close(y2, y1.astype(np.float64), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("batched", (True, False), ids=("batched", "unbatched"))
def test_depthwise_out(dtype, batched, rng):
    x = rand(rng, ((2,) if batched else ()) + (3, 6, 5), dtype)
    w = rand(rng, (6, 1, 3, 3), dtype)
    ref = R.depthwise_conv2d(x, w, None, 2, "same")
    check_out_param(lambda out: fastconv.depthwise_conv2d(x, w, None, 2, "same", out=out),
                    ref.shape, dtype, ref)


@pytest.mark.parametrize("name,kw", [("stride", dict(stride=0)), ("padding", dict(padding=-1)),
                                     ("padding", dict(padding="full")), ("dilation", dict(dilation=0)),
                                     ("stride", dict(stride=(1, 1, 1)))])
def test_depthwise_bad_argument(name, kw):
    rng = np.random.default_rng(0)
    x, w = rand(rng, (1, 3, 6, 6)), rand(rng, (3, 1, 3, 3))
    with pytest.raises(ValueError, match=name):
        fastconv.depthwise_conv2d(x, w, **kw)


@pytest.mark.parametrize("ws,bs", [((3, 2, 3, 3), None), ((4, 1, 3, 3), None), ((3, 3, 3), None),
                                   ((3, 1, 7, 7), None), ((3, 1, 3, 3), (4,))])
def test_depthwise_bad_shapes(ws, bs):
    rng = np.random.default_rng(0)
    x = rand(rng, (1, 3, 6, 6))
    with pytest.raises(ValueError):
        fastconv.depthwise_conv2d(x, rand(rng, ws), None if bs is None else rand(rng, bs))


def test_depthwise_dtype_mismatch():
    x = np.ones((1, 3, 5, 5), np.float32)
    with pytest.raises(TypeError) as ei:
        fastconv.depthwise_conv2d(x, np.ones((3, 1, 3, 3)))
    assert "float32" in str(ei.value) and "float64" in str(ei.value)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_depthwise_nonfinite(isa, dtype, rng):
    x = rand(rng, (2, 3, 7, 8), dtype)
    x[0, 0, 3, 3], x[1, 2, 0, 7], x[1, 1, 6, 0] = np.nan, np.inf, -np.inf
    w = rand(rng, (6, 1, 3, 3), dtype)
    for s, p, d in [(1, 1, 1), (2, 0, 1), (1, 2, 2)]:
        ref = R.depthwise_conv2d(x, w, None, s, p, d)
        y = fastconv.depthwise_conv2d(x, w, None, s, p, d)
        assert np.array_equal(np.isfinite(y), np.isfinite(ref))


# ---------------------------------------------------------------- pointwise
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cin,cout", [(1, 1), (3, 4), (7, 9), (8, 8), (9, 16), (16, 17), (17, 15),
                                      (31, 32), (32, 33), (33, 3)])
def test_pointwise(isa, dtype, cin, cout, rng):
    for xshape in [(2, cin, 5, 7), (cin, 3, 4), (1, cin, 1, 1), (3, cin, 1, 17)]:
        x = rand(rng, xshape, dtype)
        w = rand(rng, (cout, cin), dtype)
        b = rand(rng, (cout,), dtype)
        ref = R.pointwise_conv2d(x, w, b)
        assert_close(fastconv.pointwise_conv2d(x, w, b), ref, dtype)
        assert_close(fastconv.pointwise_conv2d(x, w.reshape(cout, cin, 1, 1), b), ref, dtype)
        assert_close(fastconv.pointwise_conv2d(x, w), R.pointwise_conv2d(x, w), dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_pointwise_layouts(dtype, layout, rng):
    x = rand(rng, (2, 5, 4, 6), dtype)
    w = rand(rng, (3, 5), dtype)
    ref = R.pointwise_conv2d(x, w)
    assert_close(fastconv.pointwise_conv2d(relayout(x, layout), w), ref, dtype)
    assert_close(fastconv.pointwise_conv2d(x, relayout(w, layout)), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("batched", (True, False), ids=("batched", "unbatched"))
def test_pointwise_out(dtype, batched, rng):
    x = rand(rng, ((2,) if batched else ()) + (3, 6, 5), dtype)
    w = rand(rng, (4, 3), dtype)
    b = rand(rng, (4,), dtype)
    ref = R.pointwise_conv2d(x, w, b)
    check_out_param(lambda out: fastconv.pointwise_conv2d(x, w, b, out=out), ref.shape, dtype, ref)


@pytest.mark.parametrize("ws,bs", [((4, 2), None), ((4, 3, 3, 3), None), ((4, 3, 1), None),
                                   ((4,), None), ((4, 3), (3,))])
def test_pointwise_bad_shapes(ws, bs):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        fastconv.pointwise_conv2d(rand(rng, (1, 3, 4, 4)), rand(rng, ws),
                                  None if bs is None else rand(rng, bs))


def test_pointwise_dtype_mismatch():
    with pytest.raises(TypeError) as ei:
        fastconv.pointwise_conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 3), np.float32))
    assert "float32" in str(ei.value) and "float64" in str(ei.value)


# ---------------------------------------------------------------- activation on the named cases
@pytest.mark.parametrize("act", ("relu", "relu6"))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_depthwise_pointwise_activation(dtype, act, rng):
    """docs/API.md: `activation` is accepted by every convolution op."""
    x = rand(rng, (2, 3, 6, 5), dtype, scale=3)
    w = rand(rng, (3, 1, 3, 3), dtype)
    pw = rand(rng, (4, 3), dtype)
    assert_close(fastconv.depthwise_conv2d(x, w, None, 1, 1, activation=act),
                 R.depthwise_conv2d(x, w, None, 1, 1, activation=act), dtype)
    assert_close(fastconv.pointwise_conv2d(x, pw, activation=act),
                 R.pointwise_conv2d(x, pw, activation=act), dtype)


# ---------------------------------------------------------------- separable
# (n, c, kh, kw, row_per_channel, col_per_channel, stride, padding, mode, bias)
SEP_CASES = {
    "shared": (2, 3, 3, 5, False, False, 1, (1, 2), "zeros", False),
    "per_channel": (2, 3, 3, 3, True, True, 1, 1, "zeros", True),
    "row_pc_col_shared": (1, 4, 5, 3, True, False, 1, (2, 1), "zeros", True),
    "row_shared_col_pc": (1, 4, 3, 5, False, True, 1, "same", "zeros", False),
    "valid": (2, 3, 3, 3, True, True, 1, "valid", "zeros", True),
    "stride2": (1, 3, 3, 3, True, True, 2, 1, "zeros", True),
    "stride_tuple_gt_k": (1, 3, 2, 3, False, True, (3, 4), 0, "zeros", True),
    "pad_pairs": (1, 3, 3, 3, True, False, 1, ((0, 2), (1, 1)), "zeros", True),
    "same_stride2": (2, 2, 4, 3, True, True, 2, "same", "zeros", False),
    "reflect": (2, 3, 3, 5, True, True, 1, (1, 2), "reflect", True),
    "replicate": (1, 3, 5, 3, False, False, 1, (3, 4), "replicate", True),
    "circular": (1, 3, 3, 3, True, True, 1, (2, 3), "circular", True),
    "reflect_same_s2": (2, 3, 3, 3, False, True, 2, "same", "reflect", True),
    "k1x1": (1, 3, 1, 1, True, True, 1, 0, "zeros", True),
    "k1xk": (1, 3, 1, 7, True, False, 1, (0, 3), "zeros", True),
    "unbatched": (None, 3, 3, 3, True, True, 1, 1, "zeros", True),
    "spatial_1x1": (2, 5, 3, 3, True, True, 1, 1, "zeros", True),
    "ch9_prime": (1, 9, 7, 5, True, True, 1, (3, 2), "zeros", True),
    "ch17": (2, 17, 3, 3, False, False, 1, 1, "replicate", True),
}


def check_sep(rng, dtype, n, c, kh, kw, rpc, cpc, s, p, mode, bias, sizes=None, layout="c"):
    if sizes is None:
        sizes = (1, 1) if n == 2 and c == 5 else (7, 8)
    x = rand(rng, ((c,) if n is None else (n, c)) + sizes, dtype)
    row = rand(rng, (c, kw) if rpc else (kw,), dtype)
    col = rand(rng, (c, kh) if cpc else (kh,), dtype)
    b = rand(rng, (c,), dtype) if bias else None
    ref = R.separable_conv2d(x, row, col, b, s, p, mode)
    y = fastconv.separable_conv2d(relayout(x, layout), relayout(row, layout), relayout(col, layout),
                                  b, s, p, padding_mode=mode)
    assert_close(y, ref, dtype, what=f"separable s={s} p={p} mode={mode}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(SEP_CASES), ids=list(SEP_CASES))
def test_separable_cases(isa, dtype, case, rng):
    check_sep(rng, dtype, *SEP_CASES[case])


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("w", (1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33))
def test_separable_width_tiles(isa, dtype, w, rng):
    check_sep(rng, dtype, 1, 3, 3, 3, True, True, 1, 1, "zeros", True, sizes=(4, w))
    check_sep(rng, dtype, 1, w, 3, 5, False, True, 1, (1, 2), "zeros", True, sizes=(3, 5))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_separable_layouts(dtype, layout, rng):
    check_sep(rng, dtype, 2, 3, 3, 5, True, False, 1, (1, 2), "zeros", True, layout=layout)


@pytest.mark.parametrize("mode,smode", [("zeros", "constant"), ("reflect", "mirror"),
                                        ("replicate", "nearest"), ("circular", "wrap")])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_separable_vs_scipy(dtype, mode, smode, rng):
    ndimage = pytest.importorskip("scipy.ndimage")
    x = rand(rng, (2, 3, 9, 11), dtype)
    row, col = rand(rng, 5, dtype), rand(rng, (3, 3), dtype)
    y = fastconv.separable_conv2d(x, row, col, None, 1, (1, 2), padding_mode=mode)
    x64 = x.astype(np.float64)
    ref = np.empty_like(x64)
    for n in range(2):
        for c in range(3):
            t = ndimage.correlate1d(x64[n, c], col[c].astype(np.float64), axis=0, mode=smode)
            ref[n, c] = ndimage.correlate1d(t, row.astype(np.float64), axis=1, mode=smode)
    assert_close(y, ref, dtype)


@pytest.mark.parametrize("mode,border", [("zeros", "BORDER_CONSTANT"), ("reflect", "BORDER_REFLECT_101"),
                                         ("replicate", "BORDER_REPLICATE")])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_separable_vs_opencv(dtype, mode, border, rng):
    cv2 = pytest.importorskip("cv2")
    x = rand(rng, (1, 2, 10, 9), dtype)
    row, col = rand(rng, 3, dtype), rand(rng, 5, dtype)
    y = fastconv.separable_conv2d(x, row, col, None, 1, (2, 1), padding_mode=mode)
    x64 = x.astype(np.float64)
    ref = np.stack([cv2.sepFilter2D(x64[0, c], cv2.CV_64F, row.astype(np.float64), col.astype(np.float64),
                                    borderType=getattr(cv2, border)) for c in range(2)])[None]
    assert_close(y, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("batched", (True, False), ids=("batched", "unbatched"))
def test_separable_out(dtype, batched, rng):
    x = rand(rng, ((2,) if batched else ()) + (3, 7, 6), dtype)
    row, col = rand(rng, (3, 3), dtype), rand(rng, 5, dtype)
    ref = R.separable_conv2d(x, row, col, None, 2, "same", "reflect")
    check_out_param(lambda out: fastconv.separable_conv2d(x, row, col, None, 2, "same",
                                                          padding_mode="reflect", out=out),
                    ref.shape, dtype, ref)


@pytest.mark.parametrize("name,rs,cs,kw", [
    ("row", (4, 3), (3,), {}),            # 4 channels of row for 3 channels of x
    ("col", (3,), (2, 3), {}),
    ("row", (3, 3, 1), (3,), {}),
    ("col", (3,), (3, 3, 1), {}),
    ("stride", (3,), (3,), dict(stride=0)),
    ("padding", (3,), (3,), dict(padding=-1)),
    ("padding", (3,), (3,), dict(padding="full")),
    ("padding_mode", (3,), (3,), dict(padding_mode="mirror")),
    ("padding", (3,), (3,), dict(padding=6, padding_mode="reflect")),
])
def test_separable_bad_argument(name, rs, cs, kw):
    rng = np.random.default_rng(0)
    x = rand(rng, (1, 3, 6, 6))
    with pytest.raises(ValueError, match=name):
        fastconv.separable_conv2d(x, rand(rng, rs), rand(rng, cs), **kw)


def test_separable_dtype_mismatch():
    x = np.ones((1, 3, 5, 5), np.float32)
    with pytest.raises(TypeError) as ei:
        fastconv.separable_conv2d(x, np.ones(3, np.float32), np.ones(3))
    assert "float32" in str(ei.value) and "float64" in str(ei.value)


# ---------------------------------------------------------------- depthwise separable
# (n, c, mult, o, sizes, k, stride, padding, dilation, dbias, pbias, dact, act, pw4d)
DWS_CASES = {
    "basic": (2, 3, 1, 4, (7, 8), 3, 1, 1, 1, True, True, None, None, False),
    "acts": (2, 3, 1, 5, (7, 8), 3, 1, 1, 1, True, True, "relu6", "relu", False),
    "relu6_out": (1, 4, 1, 4, (6, 6), 3, 1, "same", 1, True, False, "relu", "relu6", True),
    "mult2_stride2": (2, 3, 2, 4, (9, 8), 3, 2, 1, 1, True, True, "relu", None, False),
    "dilation_pairs": (1, 3, 1, 2, (9, 9), 3, 1, ((2, 0), (1, 1)), 2, False, True, None, "relu", True),
    "valid_nobias": (1, 5, 1, 3, (7, 6), (3, 2), (1, 2), "valid", 1, False, False, None, None, False),
    "unbatched": (None, 3, 1, 4, (6, 7), 3, 1, 1, 1, True, True, "relu6", "relu6", False),
    "spatial_1x1": (2, 8, 1, 8, (1, 1), 3, 1, 1, 1, True, True, "relu", None, False),
    "tiles_17_33": (1, 17, 1, 33, (5, 9), 3, 1, 1, 1, True, True, "relu", None, False),
    "tiles_16_16": (1, 16, 1, 16, (4, 17), 3, 2, 1, 1, True, True, None, "relu", True),
    "tiles_32_9": (1, 32, 1, 9, (3, 8), 5, 1, 2, 1, True, True, "relu6", None, False),
    "same_stride2": (2, 3, 1, 4, (7, 7), 3, 2, "same", 1, True, True, None, None, False),
}


def _dws_args(rng, dtype, n, c, mult, o, sizes, k, s, p, d, dbias, pbias, dact, act, pw4d):
    kk = R.ntuple(k, 2, "k")
    x = rand(rng, ((c,) if n is None else (n, c)) + sizes, dtype, scale=2)
    dw = rand(rng, (c * mult, 1) + kk, dtype)
    pw = rand(rng, (o, c * mult), dtype)
    db = rand(rng, (c * mult,), dtype) if dbias else None
    pb = rand(rng, (o,), dtype) if pbias else None
    ref = R.depthwise_separable_conv2d(x, dw, pw, db, pb, s, p, d, dact, act)
    if pw4d:
        pw = pw.reshape(o, c * mult, 1, 1)
    return x, dw, pw, db, pb, ref


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(DWS_CASES), ids=list(DWS_CASES))
def test_depthwise_separable_cases(isa, dtype, case, rng):
    n, c, mult, o, sizes, k, s, p, d, dbias, pbias, dact, act, pw4d = DWS_CASES[case]
    x, dw, pw, db, pb, ref = _dws_args(rng, dtype, *DWS_CASES[case])
    y = fastconv.depthwise_separable_conv2d(x, dw, pw, db, pb, s, p, d,
                                            depthwise_activation=dact, activation=act)
    assert_close(y, ref, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_depthwise_separable_layouts(layout, rng):
    x, dw, pw, db, pb, ref = _dws_args(rng, np.float64, *DWS_CASES["acts"])
    y = fastconv.depthwise_separable_conv2d(relayout(x, layout), relayout(dw, layout), relayout(pw, layout),
                                            db, pb, 1, 1, 1, depthwise_activation="relu6", activation="relu")
    assert_close(y, ref, np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", ("acts", "unbatched"))
def test_depthwise_separable_out(dtype, case, rng):
    n, c, mult, o, sizes, k, s, p, d, dbias, pbias, dact, act, pw4d = DWS_CASES[case]
    x, dw, pw, db, pb, ref = _dws_args(rng, dtype, *DWS_CASES[case])
    check_out_param(lambda out: fastconv.depthwise_separable_conv2d(
        x, dw, pw, db, pb, s, p, d, depthwise_activation=dact, activation=act, out=out),
        ref.shape, dtype, ref)


@pytest.mark.parametrize("name,kw", [
    ("stride", dict(stride=0)), ("padding", dict(padding=-1)), ("dilation", dict(dilation=0)),
    ("activation", dict(activation="swish")), ("activation", dict(depthwise_activation="tanh")),
])
def test_depthwise_separable_bad_argument(name, kw):
    rng = np.random.default_rng(0)
    x, dw, pw = rand(rng, (1, 3, 6, 6)), rand(rng, (3, 1, 3, 3)), rand(rng, (4, 3))
    with pytest.raises(ValueError, match=name):
        fastconv.depthwise_separable_conv2d(x, dw, pw, **kw)


@pytest.mark.parametrize("dws,pws", [((3, 2, 3, 3), (4, 3)), ((3, 1, 3, 3), (4, 5)),
                                     ((3, 1, 3, 3), (4, 3, 3, 3)), ((4, 1, 3, 3), (4, 4))])
def test_depthwise_separable_bad_shapes(dws, pws):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        fastconv.depthwise_separable_conv2d(rand(rng, (1, 3, 6, 6)), rand(rng, dws), rand(rng, pws))


def test_depthwise_separable_dtype_mismatch():
    x = np.ones((1, 3, 5, 5), np.float32)
    with pytest.raises(TypeError) as ei:
        fastconv.depthwise_separable_conv2d(x, np.ones((3, 1, 3, 3), np.float32), np.ones((2, 3)))
    assert "float32" in str(ei.value) and "float64" in str(ei.value)
