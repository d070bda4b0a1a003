"""fastconv.conv1d / conv2d / conv3d against the float64 oracle."""

import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, LAYOUTS, assert_close, check_out_param, conv_call, rand, relayout

MODES = ("zeros", "reflect", "replicate", "circular")
ALGOS = ("direct", "gemm", "winograd")


def conv_fn(nd):
    return getattr(fastconv, f"conv{nd}d")


def winograd_ok(nd, k, stride, dilation):
    return (nd == 2 and tuple(k) == (3, 3) and R.ntuple(stride, 2, "") == (1, 1)
            and R.ntuple(dilation, 2, "") == (1, 1))


def make_conv(rng, dtype, nd, n, c, o, sizes, k, groups=1, bias=True):
    kk = R.ntuple(k, nd, "k")
    xshape = ((c,) if n is None else (n, c)) + tuple(sizes)
    x = rand(rng, xshape, dtype)
    w = rand(rng, (o, c // groups) + kk, dtype)
    b = rand(rng, (o,), dtype) if bias else None
    return x, w, b


def check_conv(rng, dtype, nd, n, c, o, sizes, k, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros", bias=True, activation=None, algorithm="auto"):
    x, w, b = make_conv(rng, dtype, nd, n, c, o, sizes, k, groups, bias)
    ref = R.conv_nd(x, w, b, stride, padding, dilation, groups, padding_mode, activation, nd=nd)
    y = conv_fn(nd)(x, w, b, stride, padding, dilation, groups, padding_mode=padding_mode,
                    algorithm=algorithm, activation=activation)
    wino = algorithm == "winograd" or (algorithm == "auto" and winograd_ok(nd, w.shape[2:], stride, dilation))
    assert_close(y, ref, dtype, winograd=wino,
                 what=f"conv{nd}d algo={algorithm} s={stride} p={padding} d={dilation} g={groups} "
                      f"mode={padding_mode} act={activation}")
    return y


# (n, c, o, sizes, k, stride, padding, dilation, groups, mode, bias, activation)
CONV2D_CASES = {
    "basic": (2, 3, 4, (7, 8), 3, 1, 1, 1, 1, "zeros", True, None),
    "pad0_nobias": (1, 3, 5, (6, 6), 3, 1, 0, 1, 1, "zeros", False, None),
    "pad_tuple": (2, 2, 3, (7, 5), (3, 2), 1, (2, 1), 1, 1, "zeros", True, None),
    "pad_pairs": (1, 2, 3, (7, 7), 3, 1, ((0, 2), (1, 0)), 1, 1, "zeros", True, None),
    "pad_pairs_stride2": (2, 3, 2, (8, 9), 3, 2, ((2, 1), (0, 3)), 1, 1, "zeros", True, None),
    "same": (2, 3, 4, (7, 6), 3, 1, "same", 1, 1, "zeros", True, None),
    "same_even_k": (1, 3, 4, (7, 6), (2, 4), 1, "same", 1, 1, "zeros", True, None),
    "same_stride2": (2, 3, 4, (7, 8), 3, 2, "same", 1, 1, "zeros", True, None),
    "same_stride3_dil2": (1, 2, 3, (11, 10), 3, 3, "same", 2, 1, "zeros", False, None),
    "valid": (2, 3, 4, (7, 6), 3, 1, "valid", 1, 1, "zeros", True, None),
    "valid_stride": (1, 3, 4, (9, 8), (2, 3), (2, 3), "valid", 1, 1, "zeros", True, None),
    "stride_gt_kernel": (2, 3, 4, (11, 10), 2, 3, 0, 1, 1, "zeros", True, None),
    "stride_gt_kernel_1x1": (1, 3, 4, (9, 7), 1, 4, 0, 1, 1, "zeros", True, None),
    "stride_tuple": (1, 3, 4, (9, 8), 3, (2, 1), 1, 1, 1, "zeros", True, None),
    "dilation2": (2, 3, 4, (9, 9), 3, 1, 2, 2, 1, "zeros", True, None),
    "dilation_tuple": (1, 3, 4, (9, 10), 3, 2, (1, 3), (1, 3), 1, "zeros", True, None),
    "groups_some": (2, 6, 4, (6, 7), 3, 1, 1, 1, 2, "zeros", True, None),
    "groups_3": (1, 6, 9, (6, 5), 3, 1, 1, 1, 3, "zeros", True, None),
    "groups_all": (2, 4, 4, (6, 7), 3, 1, 1, 1, 4, "zeros", True, None),
    "groups_all_mult": (1, 3, 6, (6, 7), 3, 2, 1, 1, 3, "zeros", True, None),
    "unbatched": (None, 3, 4, (6, 7), 3, 1, 1, 1, 1, "zeros", True, None),
    "unbatched_groups": (None, 4, 6, (5, 5), 3, 2, "same", 1, 2, "reflect", True, "relu"),
    "batch3": (3, 2, 3, (5, 6), 3, 1, 1, 1, 1, "zeros", True, None),
    "spatial_1x1": (2, 3, 4, (1, 1), 1, 1, 0, 1, 1, "zeros", True, None),
    "spatial_1x1_k3_pad1": (2, 3, 4, (1, 1), 3, 1, 1, 1, 1, "zeros", True, None),
    "spatial_1x1_same": (1, 3, 4, (1, 1), 3, 1, "same", 1, 1, "zeros", True, None),
    "row_vector": (1, 2, 3, (1, 9), (1, 3), 1, (0, 1), 1, 1, "zeros", True, None),
    "prime_sizes": (1, 5, 7, (13, 11), 3, 1, 1, 1, 1, "zeros", True, None),
    "prime_k5": (2, 3, 2, (11, 7), 5, 1, 2, 1, 1, "zeros", True, None),
    "kernel_eq_input": (2, 3, 2, (5, 4), (5, 4), 1, 0, 1, 1, "zeros", True, None),
    "relu": (2, 3, 4, (6, 6), 3, 1, 1, 1, 1, "zeros", True, "relu"),
    "relu6": (2, 3, 4, (6, 6), 3, 1, 1, 1, 1, "zeros", True, "relu6"),
    "relu6_nobias": (1, 3, 4, (6, 6), 3, 2, 1, 1, 1, "zeros", False, "relu6"),
    "reflect": (2, 2, 3, (6, 7), 3, 1, 2, 1, 1, "reflect", True, None),
    "reflect_max": (1, 2, 3, (4, 5), 3, 1, (3, 4), 1, 1, "reflect", True, None),
    "replicate": (2, 2, 3, (6, 7), 3, 1, (1, 3), 1, 1, "replicate", True, None),
    "replicate_big": (1, 2, 3, (3, 2), 3, 1, 5, 1, 1, "replicate", True, None),
    "circular": (2, 2, 3, (6, 7), 3, 1, 2, 1, 1, "circular", True, None),
    "circular_eq_size": (1, 2, 3, (4, 5), 3, 1, (4, 5), 1, 1, "circular", True, None),
    "reflect_pairs_stride": (1, 2, 2, (6, 7), 3, 2, ((0, 3), (2, 1)), 1, 1, "reflect", False, None),
    "replicate_same_s2": (2, 3, 3, (7, 8), 3, 2, "same", 1, 3, "replicate", True, "relu"),
    "circular_pairs_dil": (1, 2, 4, (8, 7), 3, 1, ((2, 0), (1, 4)), 2, 2, "circular", True, None),
    "reflect_same_dil": (1, 3, 2, (9, 9), 3, 1, "same", 2, 1, "reflect", True, None),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(CONV2D_CASES), ids=list(CONV2D_CASES))
def test_conv2d_cases(isa, dtype, case, rng):
    n, c, o, sizes, k, s, p, d, g, mode, bias, act = CONV2D_CASES[case]
    check_conv(rng, dtype, 2, n, c, o, sizes, k, s, p, d, g, mode, bias, act)


ALGO_CASES = ["basic", "pad0_nobias", "pad_pairs", "same", "same_stride2", "valid", "groups_some",
              "groups_all", "unbatched", "spatial_1x1_k3_pad1", "prime_sizes", "relu6", "reflect",
              "circular", "dilation2", "stride_gt_kernel", "kernel_eq_input", "replicate_same_s2",
              "prime_k5", "unbatched_groups"]


def _algo_params():
    out = []
    for case in ALGO_CASES:
        n, c, o, sizes, k, s, p, d, g, mode, bias, act = CONV2D_CASES[case]
        for algo in ALGOS:
            if algo == "winograd" and not winograd_ok(2, R.ntuple(k, 2, ""), s, d):
                continue
            out.append(pytest.param(case, algo, id=f"{case}-{algo}"))
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case,algorithm", _algo_params())
def test_conv2d_algorithms(isa, dtype, case, algorithm, rng):
    n, c, o, sizes, k, s, p, d, g, mode, bias, act = CONV2D_CASES[case]
    check_conv(rng, dtype, 2, n, c, o, sizes, k, s, p, d, g, mode, bias, act, algorithm)


# (n, c, o, sizes, k, stride, padding, dilation, groups, mode, bias, activation)
CONV1D_CASES = {
    "basic": (2, 3, 4, (9,), 3, 1, 1, 1, 1, "zeros", True, None),
    "pad_tuple": (1, 3, 4, (8,), 4, 1, (2,), 1, 1, "zeros", True, None),
    "pad_pairs": (2, 3, 2, (8,), 3, 1, ((0, 3),), 1, 1, "zeros", True, None),
    "same": (2, 3, 4, (10,), 4, 1, "same", 1, 1, "zeros", True, None),
    "same_stride3": (1, 3, 4, (10,), 3, 3, "same", 2, 1, "zeros", True, None),
    "valid": (2, 3, 4, (7,), 5, 1, "valid", 1, 1, "zeros", False, None),
    "stride_gt_kernel": (2, 2, 3, (17,), 2, 5, 0, 1, 1, "zeros", True, None),
    "dilation3": (1, 2, 3, (13,), 3, 2, 3, 3, 1, "zeros", True, None),
    "groups_some": (2, 6, 4, (9,), 3, 1, 1, 1, 2, "zeros", True, None),
    "groups_all": (2, 5, 10, (9,), 3, 1, 1, 1, 5, "zeros", True, None),
    "unbatched": (None, 3, 4, (7,), 3, 1, 1, 1, 1, "zeros", True, None),
    "length1": (3, 3, 4, (1,), 1, 1, 0, 1, 1, "zeros", True, None),
    "length1_pad": (1, 3, 4, (1,), 3, 2, 1, 1, 1, "zeros", True, None),
    "prime": (1, 7, 5, (31,), 7, 1, 3, 1, 1, "zeros", True, "relu"),
    "relu6": (2, 3, 4, (9,), 3, 1, 1, 1, 1, "zeros", True, "relu6"),
    "reflect": (2, 2, 3, (6,), 3, 1, 5, 1, 1, "reflect", True, None),
    "replicate": (2, 2, 3, (6,), 3, 2, ((4, 1),), 1, 1, "replicate", True, None),
    "circular": (2, 2, 3, (6,), 3, 1, 6, 2, 1, "circular", True, None),
    "circular_same": (1, 4, 2, (7,), 4, 2, "same", 1, 2, "circular", True, "relu6"),
}

# (n, c, o, sizes, k, stride, padding, dilation, groups, mode, bias, activation)
CONV3D_CASES = {
    "basic": (2, 3, 4, (4, 5, 6), 3, 1, 1, 1, 1, "zeros", True, None),
    "pad_tuple": (1, 2, 3, (4, 5, 5), (2, 3, 1), 1, (1, 0, 2), 1, 1, "zeros", True, None),
    "pad_pairs": (1, 2, 3, (4, 4, 5), 2, 1, ((1, 0), (0, 1), (2, 1)), 1, 1, "zeros", True, None),
    "same": (2, 2, 3, (4, 5, 3), 3, 1, "same", 1, 1, "zeros", True, None),
    "same_stride2": (1, 2, 3, (5, 4, 7), 3, 2, "same", 1, 1, "zeros", True, None),
    "valid": (1, 3, 2, (4, 5, 6), (2, 3, 2), 1, "valid", 1, 1, "zeros", True, None),
    "stride_gt_kernel": (1, 2, 3, (7, 8, 7), 2, 3, 0, 1, 1, "zeros", True, None),
    "stride_tuple_dil": (1, 2, 3, (7, 6, 8), 3, (1, 2, 3), 2, (2, 1, 2), 1, "zeros", True, None),
    "groups_some": (2, 4, 6, (3, 4, 5), 3, 1, 1, 1, 2, "zeros", True, None),
    "groups_all": (1, 3, 3, (3, 4, 5), 3, 1, 1, 1, 3, "zeros", True, None),
    "unbatched": (None, 3, 2, (3, 4, 5), 3, 1, 1, 1, 1, "zeros", True, None),
    "spatial_1": (2, 3, 4, (1, 1, 1), 1, 1, 0, 1, 1, "zeros", True, None),
    "spatial_1_pad": (1, 3, 4, (1, 1, 1), 3, 1, 1, 1, 1, "zeros", True, "relu"),
    "relu6": (1, 3, 4, (4, 4, 4), 3, 1, 1, 1, 1, "zeros", True, "relu6"),
    "reflect": (1, 2, 3, (4, 5, 3), 3, 1, 2, 1, 1, "reflect", True, None),
    "replicate": (1, 2, 3, (4, 5, 3), 3, 2, (1, 2, 3), 1, 1, "replicate", True, None),
    "circular": (1, 2, 3, (4, 5, 3), 3, 1, (4, 1, 3), 1, 1, "circular", True, None),
    "circular_same_groups": (2, 4, 2, (3, 5, 4), 2, 1, "same", 1, 2, "circular", True, None),
}


@pytest.mark.parametrize("algorithm", ["auto", "direct", "gemm"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(CONV1D_CASES), ids=list(CONV1D_CASES))
def test_conv1d_cases(isa, dtype, case, algorithm, rng):
    check_conv(rng, dtype, 1, *CONV1D_CASES[case], algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ["auto", "direct", "gemm"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(CONV3D_CASES), ids=list(CONV3D_CASES))
def test_conv3d_cases(isa, dtype, case, algorithm, rng):
    check_conv(rng, dtype, 3, *CONV3D_CASES[case], algorithm=algorithm)


# ---------------------------------------------------------------- tile edges
TILE_CHANNELS = (1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33)


def _channel_pairs():
    pairs = []
    for ch in TILE_CHANNELS:
        pairs += [(ch, ch), (3, ch), (ch, 5)]
    return sorted(set(pairs))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cin,cout", _channel_pairs())
def test_conv2d_channel_tiles(isa, dtype, cin, cout, rng):
    for algo in ("auto",) + ALGOS:
        check_conv(rng, dtype, 2, 2, cin, cout, (5, 6), 3, 1, 1, 1, 1, "zeros", True, "relu6"
                   if algo == "gemm" else None, algo)
    check_conv(rng, dtype, 2, 1, cin, cout, (4, 5), 1, 1, 0, algorithm="gemm")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("width", (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33))
def test_conv2d_width_tiles(isa, dtype, width, rng):
    for algo in ("auto",) + ALGOS:
        check_conv(rng, dtype, 2, 1, 4, 6, (3, width), 3, 1, 1, 1, 1, "zeros", True, None, algo)
    check_conv(rng, dtype, 2, 1, 3, 4, (2, width), (1, 2), (1, 2), (0, 1), algorithm="direct")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ch", (7, 8, 9, 16, 17, 33))
def test_conv1d_3d_channel_tiles(isa, dtype, ch, rng):
    for algo in ("auto", "direct", "gemm"):
        check_conv(rng, dtype, 1, 2, ch, ch + 1, (ch,), 3, 1, 1, algorithm=algo)
        check_conv(rng, dtype, 3, 1, ch, 9, (2, 3, 4), 3, 1, 1, algorithm=algo)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ch", (8, 16, 24, 32))
def test_conv2d_grouped_tiles(isa, dtype, ch, rng):
    for g in (2, 4, ch // 2, ch):
        for algo in ALGOS:
            check_conv(rng, dtype, 2, 1, ch, ch, (5, 5), 3, 1, 1, 1, g, algorithm=algo)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cig,sizes", [(16, (9, 10)), (24, (15, 13)), (6, (3, 4, 5)), (20, (5, 9, 11)),
                                       (3, (40, 41)), (4, (6, 14, 15))],
                         ids=["l1-2d", "rows-2d", "l1-3d", "rows-3d", "few-2d", "few-3d"])
def test_direct_group_input_in_l1_or_as_rows(isa, dtype, cig, sizes, rng):
    """The direct kernel reads a group's input in place when it fits in L1
    (16 KiB) or has at most 4 channels (larger than L1 here), and as rows of
    channels otherwise: each, with strides, dilation and groups."""
    nd = len(sizes)
    for g, s, p, d in ((1, 1, 1, 1), (2, 2, 1, 1), (2, 1, 2, 2)):
        check_conv(rng, dtype, nd, 1, cig * g, 16 * g, sizes, 3, s, p, d, g, algorithm="direct")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", [1, 2])
def test_direct_stride2_input_in_place(isa, dtype, n, rng):
    """Stride 2 on planes of 2 KiB and more reads the input as it is (NCHW; AVX-512, or
    a batch): odd and even sizes, padding, 3x3 and 5x5, the layer object."""
    for c, o, sizes, k, p in ((8, 40, (24, 25), 3, 1), (6, 36, (23, 24), 5, 2), (12, 20, (32, 17), 3, 0)):
        check_conv(rng, dtype, 2, n, c, o, sizes, k, 2, p, algorithm="direct")
        x, w, b = make_conv(rng, dtype, 2, n, c, o, sizes, k)
        ref = R.conv_nd(x, w, b, 2, p, nd=2)
        assert_close(conv_call(x, w, b, 2, True, stride=2, padding=p, algorithm="direct"), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("layer", [False, True], ids=["functional", "layer"])
def test_direct_pointwise_pixels_cut_into_rows(isa, dtype, layer, rng):
    """The direct tiles cut a grouped pointwise layer's pixels (one group's
    take the pointwise tiles of test_pointwise.py) into rows of the largest
    divisor of their count up to 256 (one row below 64): 600 pixels as 3
    rows of 200, 3-D 4x9x10 as 2 rows of 180, 289 (17 x 17) as one row, one
    output block and several, batches."""
    for n, c, o, sizes in ((1, 40, 40, (20, 30)), (2, 24, 40, (4, 9, 10)), (1, 16, 36, (17, 17)),
                           (2, 130, 70, (16, 16, 2))):
        nd = len(sizes)
        x, w, b = make_conv(rng, dtype, nd, n, c, o, sizes, 1, 2)
        ref = R.conv_nd(x, w, b, 1, 0, 1, 2, "zeros", "relu", nd=nd)
        y = conv_call(x, w, b, nd, layer, groups=2, activation="relu", algorithm="direct")
        assert_close(y, ref, dtype, what=f"pointwise {c}->{o} {sizes} layer={layer}")


STRIDED_POINTWISE = [
    # (nd, n, c, o, sizes, stride, dilation, groups, padding_mode, activation)
    (2, 2, 40, 36, (13, 11), 2, 1, 1, "zeros", None),          # sizes not multiples of the stride
    (2, 1, 24, 20, (9, 14), (2, 3), 2, 1, "reflect", "relu"),  # dilation and a mode without padding
    (1, 2, 20, 34, (23,), 3, 1, 1, "zeros", None),
    (3, 1, 16, 18, (5, 7, 9), (2, 1, 2), 1, 1, "zeros", None),
    (2, 1, 32, 40, (10, 10), 2, 1, 2, "zeros", "relu6"),       # groups
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("algorithm", ("direct", "gemm"))
@pytest.mark.parametrize("layer", [False, True], ids=["functional", "layer"])
def test_strided_pointwise_subsampled(isa, dtype, algorithm, layer, rng):
    """A strided 1x1 layer without padding runs as the stride-1 pointwise
    layer on its subsampled input (where both pack the weights alike): 1-D,
    2-D and 3-D, strides per axis, dilation (no effect on 1x1 taps), groups,
    a padding mode with no padding, activations, batches."""
    for nd, n, c, o, sizes, s, dil, g, mode, act in STRIDED_POINTWISE:
        x, w, b = make_conv(rng, dtype, nd, n, c, o, sizes, 1, g)
        ref = R.conv_nd(x, w, b, s, 0, dil, g, mode, act, nd=nd)
        y = conv_call(x, w, b, nd, layer, stride=s, padding=0, dilation=dil, groups=g,
                      padding_mode=mode, activation=act, algorithm=algorithm)
        assert_close(y, ref, dtype, what=f"conv{nd}d 1x1 s={s} d={dil} g={g} {algorithm} layer={layer}")


# ---------------------------------------------------------------- layouts / containers
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("nd", (1, 2, 3))
def test_input_layouts(nd, dtype, layout, rng):
    sizes = (9, 7, 6)[:nd]
    x, w, b = make_conv(rng, dtype, nd, 2, 3, 4, sizes, 3)
    ref = R.conv_nd(x, w, b, 1, 1, nd=nd)
    y = conv_fn(nd)(relayout(x, layout), w, b, 1, 1)
    assert isinstance(y, np.ndarray)
    assert_close(y, ref, dtype, winograd=nd == 2)
    y = conv_fn(nd)(x, relayout(w, layout), relayout(b, layout), 1, 1)
    assert_close(y, ref, dtype, winograd=nd == 2)
    y = conv_fn(nd)(relayout(x, layout), relayout(w, layout), None, 2, 1, algorithm="direct")
    assert_close(y, R.conv_nd(x, w, None, 2, 1, nd=nd), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_torch_tensor_input(dtype, rng):
    torch = pytest.importorskip("torch")
    x, w, b = make_conv(rng, dtype, 2, 2, 3, 4, (6, 5), 3)
    y = fastconv.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1,
                        algorithm="direct")
    assert isinstance(y, np.ndarray)
    assert_close(y, R.conv2d(x, w, b, 1, 1), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_input_not_modified(dtype, rng):
    x, w, b = make_conv(rng, dtype, 2, 2, 3, 4, (6, 5), 3)
    x0, w0, b0 = x.copy(), w.copy(), b.copy()
    for mode in MODES:
        fastconv.conv2d(x, w, b, 1, 2, padding_mode=mode, activation="relu")
    assert np.array_equal(x, x0) and np.array_equal(w, w0) and np.array_equal(b, b0)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_result_is_fresh_c_contiguous(dtype, rng):
    x, w, b = make_conv(rng, dtype, 2, 2, 3, 4, (6, 5), 3)
    y1 = fastconv.conv2d(x, w, b, padding=1)
    y2 = fastconv.conv2d(x, w, b, padding=1)
    assert y1.flags.c_contiguous and y1.dtype == dtype
    assert not np.shares_memory(y1, y2) and not np.shares_memory(y1, x)


# ---------------------------------------------------------------- out=
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("batched", (True, False), ids=("batched", "unbatched"))
def test_out(nd, dtype, batched, rng):
    sizes = (8, 7, 5)[:nd]
    x, w, b = make_conv(rng, dtype, nd, 2 if batched else None, 3, 4, sizes, 3)
    ref = R.conv_nd(x, w, b, 2, "same", activation="relu", nd=nd)
    fn = conv_fn(nd)
    for algo in ("auto", "direct", "gemm"):
        check_out_param(lambda out: fn(x, w, b, 2, "same", activation="relu", algorithm=algo, out=out),
                        ref.shape, dtype, ref)
    if nd == 2:
        ref = R.conv2d(x, w, b, 1, 1)
        check_out_param(lambda out: fn(x, w, b, 1, 1, algorithm="winograd", out=out),
                        ref.shape, dtype, ref, winograd=True)


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("nd", (1, 2, 3))
def test_dtype_mismatch_type_error(nd, rng):
    sizes = (6, 5, 4)[:nd]
    x32, w32, b32 = make_conv(rng, np.float32, nd, 1, 2, 3, sizes, 3)
    x64, w64, b64 = (a.astype(np.float64) for a in (x32, w32, b32))
    fn = conv_fn(nd)
    for args in [(x32, w64, None), (x64, w32, None), (x32, w32, b64), (x64, w64, b32),
                 (x64, w32, b64)]:
        with pytest.raises(TypeError) as ei:
            fn(*args)
        msg = str(ei.value)
        assert "float32" in msg and "float64" in msg, msg
    for bad in (np.int64, np.int32, np.float16, np.complex128):
        with pytest.raises(TypeError) as ei:
            fn(x32.astype(bad), w32.astype(bad), None)
        assert np.dtype(bad).name in str(ei.value), str(ei.value)
    with pytest.raises(TypeError) as ei:
        fn(x64.astype(np.float16), w64, None)
    assert "float16" in str(ei.value) and "float64" in str(ei.value)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_no_silent_cast(dtype, rng):
    x, w, b = make_conv(rng, dtype, 2, 1, 2, 3, (5, 5), 3)
    for algo in ("auto",) + ALGOS:
        assert fastconv.conv2d(x, w, b, algorithm=algo).dtype == dtype


# ---------------------------------------------------------------- bad arguments
def _x_w():
    rng = np.random.default_rng(0)
    return rand(rng, (1, 3, 6, 6)), rand(rng, (4, 3, 3, 3)), rand(rng, (4,))


BAD_CONV2D = [
    ("stride", dict(stride=0)),
    ("stride", dict(stride=-1)),
    ("stride", dict(stride=(1, 0))),
    ("stride", dict(stride=(1,))),
    ("stride", dict(stride=(1, 1, 1))),
    ("dilation", dict(dilation=0)),
    ("dilation", dict(dilation=-2)),
    ("dilation", dict(dilation=(1, 0))),
    ("dilation", dict(dilation=(1, 1, 1))),
    ("padding", dict(padding=-1)),
    ("padding", dict(padding=(1, -1))),
    ("padding", dict(padding=((0, -1), (0, 0)))),
    ("padding", dict(padding="full")),
    ("padding", dict(padding="SAME_")),
    ("padding", dict(padding=(1, 2, 3))),
    ("padding", dict(padding=((1, 2, 3), (0, 0)))),
    ("groups", dict(groups=0)),
    ("groups", dict(groups=-1)),
    ("groups", dict(groups=2)),
    ("padding_mode", dict(padding_mode="zero")),
    ("padding_mode", dict(padding_mode="wrap")),
    ("padding_mode", dict(padding_mode="")),
    ("algorithm", dict(algorithm="fft")),
    ("algorithm", dict(algorithm="")),
    ("activation", dict(activation="swish")),
    ("activation", dict(activation="Sigmoid")),
    ("padding", dict(padding=6, padding_mode="reflect")),
    ("padding", dict(padding=((0, 6), (0, 0)), padding_mode="reflect")),
    ("padding", dict(padding=7, padding_mode="circular")),
]


@pytest.mark.parametrize("name,kw", BAD_CONV2D,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CONV2D)])
def test_conv2d_bad_argument(name, kw):
    x, w, b = _x_w()
    with pytest.raises(ValueError, match=name):
        fastconv.conv2d(x, w, b, **kw)


@pytest.mark.parametrize("nd", (1, 3))
@pytest.mark.parametrize("name,kw", [
    ("stride", dict(stride=0)), ("stride", dict(stride=(1, 1, 1, 1))), ("dilation", dict(dilation=0)),
    ("padding", dict(padding=-1)), ("padding", dict(padding="full")), ("groups", dict(groups=2)),
    ("padding_mode", dict(padding_mode="symmetric")), ("algorithm", dict(algorithm="fft")),
    ("activation", dict(activation="GELU")), ("padding", dict(padding=4, padding_mode="reflect")),
])
def test_conv1d_3d_bad_argument(nd, name, kw):
    rng = np.random.default_rng(0)
    x, w, b = make_conv(rng, np.float64, nd, 1, 3, 4, (4, 4, 4)[:nd], 3)
    with pytest.raises(ValueError, match=name):
        conv_fn(nd)(x, w, b, **kw)


@pytest.mark.parametrize("nd,kw", [
    (1, {}), (3, {}), (2, dict(kernel=(5, 5))), (2, dict(kernel=(3, 1))), (2, dict(kernel=(1, 3))),
    (2, dict(kernel=(1, 1))), (2, dict(stride=2)), (2, dict(stride=(1, 2))), (2, dict(dilation=2)),
    (2, dict(dilation=(2, 1))),
])
def test_winograd_only_2d_3x3_s1_d1(nd, kw):
    rng = np.random.default_rng(0)
    k = kw.get("kernel", 3)
    x, w, b = make_conv(rng, np.float32, nd, 1, 3, 4, (8, 8, 8)[:nd], k)
    with pytest.raises(ValueError, match="(?i)algorithm|winograd"):
        conv_fn(nd)(x, w, b, stride=kw.get("stride", 1), padding=1, dilation=kw.get("dilation", 1),
                    algorithm="winograd")


@pytest.mark.parametrize("what,xs,ws,bs,kw,pattern", [
    ("kernel_too_big", (1, 3, 6, 6), (4, 3, 7, 7), None, {}, None),
    ("dilated_kernel_too_big", (1, 3, 6, 6), (4, 3, 3, 3), None, dict(dilation=3), None),
    ("kernel_too_big_one_dim", (1, 3, 6, 2), (4, 3, 3, 3), None, {}, None),
    ("weight_channels", (1, 3, 6, 6), (4, 2, 3, 3), None, {}, "(?i)weight|channel|groups"),
    ("weight_channels_groups", (1, 4, 6, 6), (4, 1, 3, 3), None, dict(groups=2), "(?i)weight|channel|groups"),
    ("out_channels_groups", (1, 4, 6, 6), (3, 2, 3, 3), None, dict(groups=2), "(?i)weight|channel|groups"),
    ("x_ndim_low", (6, 6), (4, 3, 3, 3), None, {}, None),
    ("x_ndim_high", (1, 1, 3, 6, 6), (4, 3, 3, 3), None, {}, None),
    ("w_ndim", (1, 3, 6, 6), (4, 3, 3), None, {}, "(?i)weight"),
    ("w_ndim_high", (1, 3, 6, 6), (4, 3, 3, 3, 1), None, {}, "(?i)weight"),
    ("bias_len", (1, 3, 6, 6), (4, 3, 3, 3), (5,), {}, "(?i)bias"),
    ("bias_ndim", (1, 3, 6, 6), (4, 3, 3, 3), (4, 1), {}, "(?i)bias"),
    ("zero_spatial", (1, 3, 0, 6), (4, 3, 1, 1), None, {}, None),
])
def test_conv2d_bad_shapes(what, xs, ws, bs, kw, pattern):
    rng = np.random.default_rng(0)
    x, w = rand(rng, xs), rand(rng, ws)
    b = None if bs is None else rand(rng, bs)
    with pytest.raises(ValueError, match=pattern):
        fastconv.conv2d(x, w, b, **kw)


@pytest.mark.parametrize("xs,ws,shape", [((0, 3, 5, 5), (4, 3, 3, 3), (0, 4, 5, 5)),
                                         ((1, 3, 5, 5), (0, 3, 3, 3), (1, 0, 5, 5)),
                                         ((1, 3, 5, 5), (4, 3, 0, 3), None)])
def test_degenerate_shapes_do_not_crash(xs, ws, shape):
    # not pinned by docs/API.md: either a ValueError or the (empty) PyTorch result
    try:
        y = fastconv.conv2d(np.zeros(xs), np.ones(ws), padding=1)
    except ValueError:
        return
    assert shape is not None and y.shape == shape


@pytest.mark.parametrize("kw", [dict(stride=1.5), dict(padding=1.5), dict(groups=1.5),
                                dict(dilation="2")])
def test_non_integer_arguments_rejected(kw):
    x, w, b = _x_w()
    with pytest.raises((ValueError, TypeError)):
        fastconv.conv2d(x, w, b, **kw)


# ---------------------------------------------------------------- NaN / Inf
def _nonfinite_inputs(rng, dtype, shape, kinds=(np.nan, np.inf, -np.inf)):
    x = rand(rng, shape, dtype)
    flat = x.reshape(-1)
    pos = rng.choice(flat.size, size=min(3, flat.size), replace=False)
    for p, v in zip(pos, kinds):
        flat[p] = v
    return x


@pytest.mark.parametrize("algorithm", ("direct", "gemm"))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("nd,sizes,k,s,p,d,g,mode,act", [
    (2, (9, 10), 3, 1, 1, 1, 1, "zeros", None),
    (2, (9, 10), 3, 2, 1, 1, 1, "zeros", None),
    (2, (9, 10), 3, 1, 2, 2, 2, "reflect", None),
    (2, (9, 10), 2, 3, 0, 1, 1, "zeros", None),
    (2, (9, 10), 3, 1, "same", 1, 4, "circular", None),
    (2, (9, 10), 3, 1, 1, 1, 1, "zeros", "relu"),
    (2, (9, 10), 3, 1, 1, 1, 1, "replicate", "relu6"),
    (1, (17,), 3, 2, 1, 1, 1, "zeros", None),
    (3, (4, 5, 6), 3, 1, 1, 1, 2, "zeros", "relu"),
])
def test_nonfinite_propagation(isa, dtype, algorithm, nd, sizes, k, s, p, d, g, mode, act, rng):
    for trial in range(3):
        x = _nonfinite_inputs(rng, dtype, (2, 4) + sizes)
        w = rand(rng, (4, 4 // g) + (k,) * nd, dtype)
        b = rand(rng, (4,), dtype)
        ref = R.conv_nd(x, w, b, s, p, d, g, mode, act, nd=nd)
        y = conv_fn(nd)(x, w, b, s, p, d, g, padding_mode=mode, algorithm=algorithm, activation=act)
        assert np.array_equal(np.isfinite(y), np.isfinite(ref)), \
            f"non-finite mask differs at {np.argwhere(np.isfinite(y) != np.isfinite(ref))[:5].tolist()}"
        fin = np.isfinite(ref)
        assert_close(np.where(fin, y, 0).astype(dtype), np.where(fin, ref, 0), dtype)


@pytest.mark.parametrize("algorithm", ("direct", "gemm"))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_nonfinite_weight_and_bias(isa, dtype, algorithm, rng):
    x = rand(rng, (2, 4, 7, 6), dtype)
    w = rand(rng, (6, 2, 3, 3), dtype)
    b = rand(rng, (6,), dtype)
    w[1, 0, 2, 1] = np.nan
    w[4, 1, 0, 0] = np.inf
    b[3] = -np.inf
    ref = R.conv2d(x, w, b, 1, 0, 1, 2)
    y = fastconv.conv2d(x, w, b, 1, 0, 1, 2, algorithm=algorithm)
    assert np.array_equal(np.isfinite(y), np.isfinite(ref))
    assert np.all(~np.isfinite(y[:, [1, 3, 4]])) and np.all(np.isfinite(y[:, [0, 2, 5]]))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_winograd_nonfinite_stays_local_to_finite_regions(isa, dtype, rng):
    # Winograd may spread a non-finite input over its tile, but an input with no
    # non-finite value must give a finite output, and NaN must not appear where
    # the exact result is finite *far* from any non-finite input.
    x = rand(rng, (1, 3, 12, 12), dtype)
    w = rand(rng, (4, 3, 3, 3), dtype)
    assert np.all(np.isfinite(fastconv.conv2d(x, w, padding=1, algorithm="winograd")))
    x[0, 1, 0, 0] = np.nan
    y = fastconv.conv2d(x, w, padding=1, algorithm="winograd")
    assert not np.all(np.isfinite(y[:, :, :2, :2]))
    assert np.all(np.isfinite(y[:, :, 8:, 8:]))


# ---------------------------------------------------------------- GEMM blocking edges
# reduction depth K = C_in/groups * prod(kernel) around the KC block (256), output
# pixels P around the NC block (384) and register tiles, output channels M around
# the register rows (4 / 6 / 8 per ISA).
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cin,k", [(255, 1), (256, 1), (257, 1), (85, 3), (86, 3), (171, 3), (513, 1),
                                   (64, 4), (65, 4)])
def test_gemm_reduction_depth_blocks(isa, dtype, cin, k, rng):
    for algo in ("direct", "gemm"):
        check_conv(rng, dtype, 1, 2, cin, 7, (9,), k, 1, k // 2, algorithm=algo)
    check_conv(rng, dtype, 2, 1, cin, 5, (3, 4), (1, k), 1, (0, k // 2), algorithm="gemm")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cin,cout,k,size,kw", [
    (480, 21, 3, (3, 12), dict(padding=0)),              # one output row, every tap row real
    (250, 40, 3, (1, 9), dict(padding=2, dilation=2)),   # one row, taps in the padding
    (200, 17, 1, (7, 7), dict(padding=0)),               # pointwise: the plane is one row
                                                         # (C_in < 256: not the inner products)
    (480, 24, 3, (3, 9), dict(padding=0, groups=2)),     # per group
    (1100, 20, 1, (11, 10), dict(padding=0)),            # rows of 4 KiB and more: packed 16 at a time
])
def test_direct_raw_weights_packed_per_channel_block(isa, dtype, cin, cout, k, size, kw, rng):
    # a one-shot call with one block of rows packs each block of input
    # channels of an output block just before it uses it (taps one block apart;
    # blocks of 128 KiB of weights, 8 KiB for pointwise layers on AVX2); rows
    # of 4 KiB and more are packed in passes of 16 rows (the last ragged)
    x = rand(rng, (1, cin) + size, dtype)
    w = rand(rng, (cout, cin // kw.get("groups", 1), k, k), dtype)
    b = rand(rng, (cout,), dtype)
    y = fastconv.conv2d(x, w, b, algorithm="direct", **kw)
    assert_close(y, R.conv2d(x, w, b, **kw), dtype)
    layer = fastconv.Conv2d(w, b, algorithm="direct", **kw)
    assert_close(layer(x), y, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("length", (15, 16, 17, 31, 32, 33, 383, 384, 385, 767, 769))
def test_gemm_pixel_blocks(isa, dtype, length, rng):
    for algo in ("direct", "gemm"):
        check_conv(rng, dtype, 1, 1, 3, 9, (length,), 3, 1, 1, activation="relu", algorithm=algo)
    check_conv(rng, dtype, 1, 2, 4, 6, (length,), 1, algorithm="gemm")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cout", (2, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 18, 24, 25, 48, 49))
def test_gemm_output_channel_tiles(isa, dtype, cout, rng):
    for algo in ALGOS:
        check_conv(rng, dtype, 2, 2, 3, cout, (6, 5), 3, 1, 1, algorithm=algo)
    check_conv(rng, dtype, 2, 1, 2 * cout, 2 * cout, (4, 5), 3, 1, 1, 1, 2, algorithm="gemm")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_medium_problem_all_algorithms(isa, dtype, rng):
    # big enough that threads split it and several blocks are used in each dimension
    for algo in ("auto",) + ALGOS:
        check_conv(rng, dtype, 2, 2, 40, 30, (22, 21), 3, 1, 1, 1, 1, "zeros", True, "relu", algo)
    check_conv(rng, dtype, 2, 1, 24, 20, (25, 23), 3, 2, "same", 1, 2, "reflect", True, None, "gemm")


def test_numpy_integer_arguments_accepted(rng):
    x, w, b = make_conv(rng, np.float64, 2, 1, 4, 4, (7, 6), 3, groups=2)
    ref = R.conv2d(x, w, b, 2, 1, (1, 2), 2)
    y = fastconv.conv2d(x, w, b, np.int64(2), np.int32(1), (np.int64(1), np.int8(2)), np.int64(2))
    assert_close(y, ref, np.float64)
    ref = R.conv2d(x, w, b, 1, ((0, 1), (2, 0)), 1, 2)
    y = fastconv.conv2d(x, w, b, padding=((np.int64(0), 1), (2, np.int16(0))), groups=np.int64(2))
    assert_close(y, ref, np.float64)



def test_validated_specs_are_reused_without_skipping_checks(rng):
    """Repeated calls reuse their validated spec; anything unusual in the
    arguments still goes through (and fails) the full checks."""
    x = rand(rng, (1, 4, 6, 7), np.float32)
    w = rand(rng, (6, 4, 3, 3), np.float32)
    ref = R.conv2d(x, w, None, 1, 1, 1, 1)
    for _ in range(3):
        assert_close(fastconv.conv2d(x, w, None, 1, 1), ref, np.float32)
    assert_close(fastconv.conv2d(x, w, None, np.int64(1), [1, 1]), ref, np.float32)
    with pytest.raises(TypeError, match="stride"):     # bool is not an int here
        fastconv.conv2d(x, w, None, True, 1)
    with pytest.raises(TypeError, match="dtype"):
        fastconv.conv2d(x.astype(np.float64), w, None, 1, 1)
    with pytest.raises(ValueError, match="weight has"):
        fastconv.conv2d(x[:, :3].copy(), w, None, 1, 1)
    xs = x[..., ::-1]                       # a view: converted, same result
    assert_close(fastconv.conv2d(xs, w, None, 1, 1),
                 R.conv2d(np.ascontiguousarray(xs), w, None, 1, 1, 1, 1), np.float32)
