"""involution2d and the Involution2d operator (Li et al., CVPR 2021)."""

import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, LAYOUTS, assert_close, check_out_param, rand, relayout


def inv_out_size(size, K, s, p, d):
    return (size + 2 * p - d * (K - 1) - 1) // s + 1


def make_inv(rng, dtype, n, c, g, h, w, K, s=1, p=None, d=1):
    pp = d * (K - 1) // 2 if p is None else p
    ho, wo = inv_out_size(h, K, s, pp, d), inv_out_size(w, K, s, pp, d)
    x = rand(rng, (n, c, h, w), dtype)
    ker = rand(rng, (n, g, K * K, ho, wo), dtype)
    return x, ker


# (n, c, g, h, w, K, stride, padding, dilation)
INV_CASES = {
    "k3": (2, 4, 2, 7, 8, 3, 1, None, 1),
    "k7_g1": (1, 4, 1, 9, 8, 7, 1, None, 1),
    "k7_g_all": (2, 6, 6, 8, 7, 7, 1, None, 1),
    "k5_stride2": (2, 4, 2, 9, 8, 5, 2, None, 1),
    "k3_stride3_gt": (1, 4, 4, 10, 11, 3, 3, None, 1),
    "k3_dil2": (1, 4, 2, 9, 9, 3, 1, None, 2),
    "k3_pad0": (2, 4, 1, 7, 8, 3, 1, 0, 1),
    "k3_pad2": (1, 4, 2, 6, 5, 3, 1, 2, 1),
    "k3_pad_tuple": (1, 4, 2, 6, 5, 3, (1, 2), (0, 1), 1),
    "k1": (2, 3, 3, 5, 6, 1, 1, None, 1),
    "spatial_1x1": (2, 4, 2, 1, 1, 3, 1, None, 1),
    "prime": (1, 7, 7, 13, 11, 5, 1, None, 1),
    "ch16_g1": (1, 16, 1, 6, 17, 3, 1, None, 1),
    "ch32_g2": (2, 32, 2, 5, 9, 7, 1, None, 1),
    "ch33_g3": (1, 33, 3, 5, 8, 3, 2, None, 1),
    "ch17_g17": (1, 17, 17, 4, 16, 3, 1, None, 1),
    "ch8_w33": (1, 8, 4, 3, 33, 3, 1, None, 1),
    "batch3": (3, 4, 2, 5, 5, 3, 1, None, 1),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(INV_CASES), ids=list(INV_CASES))
def test_involution2d_cases(isa, dtype, case, rng):
    n, c, g, h, w, K, s, p, d = INV_CASES[case]
    pp = p if p is None or isinstance(p, int) else p[0]
    if isinstance(p, tuple):
        # tuple padding: compute shapes per dim
        ho = inv_out_size(h, K, R.ntuple(s, 2, "")[0], p[0], d)
        wo = inv_out_size(w, K, R.ntuple(s, 2, "")[1], p[1], d)
        x, ker = rand(rng, (n, c, h, w), dtype), rand(rng, (n, g, K * K, ho, wo), dtype)
    else:
        x, ker = make_inv(rng, dtype, n, c, g, h, w, K, s, pp, d)
    ref = R.involution2d(x, ker, K, s, p, d)
    y = fastconv.involution2d(x, ker, K, s, p, d)
    assert_close(y, ref, dtype, what=f"involution2d {case}")


@pytest.mark.parametrize("case", ["k3", "k5_stride2", "k3_dil2", "k3_pad2", "ch33_g3"])
def test_involution2d_vs_official_unfold(case, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    n, c, g, h, w, K, s, p, d = INV_CASES[case]
    x, ker = make_inv(rng, np.float64, n, c, g, h, w, K, s, p, d)
    pad = d * (K - 1) // 2 if p is None else p
    cols = F.unfold(torch.from_numpy(x), K, d, pad, s)
    ho, wo = ker.shape[-2:]
    cols = cols.view(n, g, c // g, K * K, ho, wo)
    ref = (torch.from_numpy(ker).unsqueeze(2) * cols).sum(dim=3).view(n, c, ho, wo).numpy()
    assert_close(fastconv.involution2d(x, ker, K, s, p, d), ref, np.float64)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_involution2d_layouts(layout, rng):
    x, ker = make_inv(rng, np.float32, 2, 4, 2, 6, 7, 3)
    ref = R.involution2d(x, ker, 3)
    assert_close(fastconv.involution2d(relayout(x, layout), ker, 3), ref, np.float32)
    assert_close(fastconv.involution2d(x, relayout(ker, layout), 3), ref, np.float32)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_involution2d_out(dtype, rng):
    x, ker = make_inv(rng, dtype, 2, 4, 2, 7, 6, 3, 2)
    ref = R.involution2d(x, ker, 3, 2)
    check_out_param(lambda out: fastconv.involution2d(x, ker, 3, 2, out=out), ref.shape, dtype, ref)


def test_involution2d_dtype_mismatch(rng):
    x, ker = make_inv(rng, np.float32, 1, 4, 2, 5, 5, 3)
    with pytest.raises(TypeError) as ei:
        fastconv.involution2d(x, ker.astype(np.float64), 3)
    assert "float32" in str(ei.value) and "float64" in str(ei.value)
    with pytest.raises(TypeError, match="int64"):
        fastconv.involution2d(x.astype(np.int64), ker.astype(np.int64), 3)


@pytest.mark.parametrize("name,kshape,kw", [
    ("kernel", (1, 3, 9, 5, 5), {}),            # G=3 does not divide C=4
    ("kernel", (1, 2, 8, 5, 5), {}),            # K*K mismatch
    ("kernel", (1, 2, 9, 4, 5), {}),            # Ho mismatch
    ("kernel", (2, 2, 9, 5, 5), {}),            # N mismatch
    ("kernel", (1, 2, 9, 5), {}),               # rank
    ("stride", (1, 2, 9, 5, 5), dict(stride=0)),
    ("dilation", (1, 2, 9, 5, 5), dict(dilation=0)),
    ("padding", (1, 2, 9, 5, 5), dict(padding=-1)),
    ("kernel_size", (1, 2, 0, 5, 5), dict(kernel_size=0)),
])
def test_involution2d_bad_argument(name, kshape, kw):
    rng = np.random.default_rng(0)
    x = rand(rng, (1, 4, 5, 5))
    K = kw.pop("kernel_size", 3)
    with pytest.raises(ValueError, match=f"(?i){name}|group"):
        fastconv.involution2d(x, rand(rng, kshape), K, **kw)


def test_involution2d_kept_checks_do_not_leak(rng):
    """involution2d keeps problems it checked (plain int arguments): arguments
    that compare equal to those ints (True, 1.0) or other shapes and dtypes
    are still checked."""
    x, ker = make_inv(rng, np.float32, 1, 4, 2, 5, 5, 3)
    ref = R.involution2d(x, ker, 3)
    for _ in range(2):
        assert_close(fastconv.involution2d(x, ker, 3, 1, 1, 1), ref, np.float32)
    for kw in (dict(stride=True), dict(dilation=1.0), dict(padding=True)):
        with pytest.raises(TypeError):        # bool and float are not ints
            fastconv.involution2d(x, ker, 3, **{**dict(stride=1, padding=1, dilation=1), **kw})
    with pytest.raises(TypeError):
        fastconv.involution2d(x, ker, True)
    with pytest.raises(TypeError):
        fastconv.involution2d(x, ker.astype(np.float64), 3, 1, 1, 1)
    with pytest.raises(ValueError):
        fastconv.involution2d(x, ker[:, :, :, :4], 3, 1, 1, 1)
    with pytest.raises(ValueError):
        fastconv.involution2d(x, ker, 3, 1, 1, 1, out=np.empty((1, 4, 5, 4), np.float32))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_involution2d_nonfinite(isa, dtype, rng):
    x, ker = make_inv(rng, dtype, 2, 4, 2, 8, 9, 3)
    x[0, 1, 3, 3], x[1, 3, 0, 8] = np.nan, np.inf
    ker[1, 0, 4, 2, 2] = -np.inf
    ref = R.involution2d(x, ker, 3)
    assert np.array_equal(np.isfinite(fastconv.involution2d(x, ker, 3)), np.isfinite(ref))


# ---------------------------------------------------------------- the SIMD kernel
# Shapes aimed at the SIMD kernel's edges (impl/involution.inc): channels per group
# below, at and above one channel block (12 on AVX2, 16 on AVX-512) and not a
# multiple of anything; output widths around the vector widths (2, 4, 8, 16
# lanes); strides 1, 2 (the even/odd split) and 3, per axis; dilation; row
# blocks with their halos; the last row of the last group, whose kernel reads
# are copied when the vector runs past the kernel array.
# (n, c, g, h, w, K, stride, padding, dilation)
SIMD_CASES = {
    "cg16_k7_w7": (1, 32, 2, 7, 7, 7, 1, None, 1),
    "cg16_k7_w8": (2, 16, 1, 5, 8, 7, 1, None, 1),
    "cg16_k7_w9": (1, 16, 1, 6, 9, 7, 1, None, 1),
    "cg13_k5_w15": (1, 26, 2, 5, 15, 5, 1, None, 1),
    "cg24_k3_w16": (1, 24, 1, 4, 16, 3, 1, None, 1),
    "cg17_k3_w17": (2, 34, 2, 3, 17, 3, 1, None, 1),
    "cg5_k7_w33": (1, 10, 2, 4, 33, 7, 1, None, 1),
    "cg16_k7_s2_w14": (2, 32, 2, 14, 14, 7, 2, None, 1),
    "cg16_k7_s2_odd": (1, 16, 1, 13, 11, 7, 2, None, 1),
    "cg12_k5_s2_pad1": (1, 12, 1, 9, 12, 5, 2, 1, 1),
    "cg3_k3_s2_pad0": (1, 6, 2, 8, 9, 3, 2, 0, 1),
    "cg8_k3_s21": (1, 8, 1, 7, 10, 3, (2, 1), None, 1),
    "cg8_k3_s12": (1, 8, 1, 7, 10, 3, (1, 2), None, 1),
    "cg4_k5_s3": (1, 8, 2, 11, 13, 5, 3, None, 1),
    "cg16_k3_d2": (1, 16, 1, 9, 10, 3, 1, None, 2),
    "cg16_k5_d3_s2": (1, 16, 1, 15, 13, 5, 2, None, 3),
    "cg16_k3_d21": (1, 16, 1, 8, 9, 3, 1, None, (2, 1)),
    "cg2_k7_big_pad": (1, 4, 2, 3, 4, 7, 1, 5, 1),
    "cg1_k1": (1, 3, 3, 5, 9, 1, 1, None, 1),
    "cg16_k7_tall": (1, 16, 1, 40, 9, 7, 1, None, 1),
    # 7x7 planes, many groups and images: a thread's strip keeps its zero rows
    # from item to item; 7-pixel rows copied 8 at a time (not past the input's end)
    "cg16_k7_7x7_many": (2, 128, 8, 7, 7, 7, 1, None, 1),
    # row blocks of several groups: a thread's items alternate blocks, whose
    # zero rows differ
    "cg4_k7_tall_g4": (1, 16, 4, 40, 7, 7, 1, None, 1),
}


def _simd_case(rng, dtype, case):
    n, c, g, h, w, K, s, p, d = SIMD_CASES[case]
    st, dl = R.ntuple(s, 2, ""), R.ntuple(d, 2, "")
    pp = R.ntuple(p, 2, "") if p is not None else tuple(di * (K - 1) // 2 for di in dl)
    ho, wo = (inv_out_size(sz, K, si, pi, di) for sz, si, pi, di in zip((h, w), st, pp, dl))
    x, ker = rand(rng, (n, c, h, w), dtype), rand(rng, (n, g, K * K, ho, wo), dtype)
    return x, ker, (K, s, p, d)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(SIMD_CASES), ids=list(SIMD_CASES))
def test_involution2d_simd_edges(isa, dtype, case, rng):
    x, ker, args = _simd_case(rng, dtype, case)
    ref = R.involution2d(x, ker, *args)
    assert_close(fastconv.involution2d(x, ker, *args), ref, dtype, what=f"{isa} {case}")


@pytest.mark.parametrize("threads", (1, 2, 3))
@pytest.mark.parametrize("case", ["cg16_k7_tall", "cg16_k7_s2_w14", "cg17_k3_w17",
                                  "cg16_k7_7x7_many", "cg4_k7_tall_g4"])
def test_involution2d_threads(isa, restore_threads, threads, case, rng):
    """Row blocks are work items: any thread count gives the same result."""
    x, ker, args = _simd_case(rng, np.float32, case)
    fastconv.set_num_threads(threads)
    y = fastconv.involution2d(x, ker, *args)
    assert_close(y, R.involution2d(x, ker, *args), np.float32, what=f"{threads} threads")
    fastconv.set_num_threads(1)
    assert np.array_equal(y, fastconv.involution2d(x, ker, *args)), "thread count changed bits"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_involution2d_wide_rows(isa, dtype, rng):
    """A strip of a whole group's rows would pass its per-thread budget: one
    row of output at a time (and stride 2's split on long rows)."""
    x, ker = make_inv(rng, dtype, 1, 32, 1, 6, 700, 7, 2)
    assert_close(fastconv.involution2d(x, ker, 7, 2), R.involution2d(x, ker, 7, 2), dtype)


def test_involution2d_rednet_shape(isa, rng):
    """A RedNet-50 layer at its real width (C 64 @ 56: four groups of 16)."""
    x, ker = make_inv(rng, np.float32, 1, 64, 4, 56, 56, 7)
    assert_close(fastconv.involution2d(x, ker, 7), R.involution2d(x, ker, 7), np.float32)


# ---------------------------------------------------------------- the kernel generation's pooling
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape,k", [((2, 3, 8, 8), 2), ((1, 5, 9, 7), 2), ((1, 2, 12, 9), 3),
                                     ((1, 4, 3, 17), 2), ((1, 2, 5, 5), 1)])
def test_avg_pool2d_non_overlapping(dtype, shape, k, rng):
    x = rand(rng, shape, dtype)
    assert_close(fastconv.avg_pool2d(x, k), R.avg_pool2d(x, k), dtype)


@pytest.mark.parametrize("k,s,p", [(3, 2, 1), ((2, 3), (2, 3), 0), (2, 1, 0), (3, 3, 1)])
def test_avg_pool2d_other_windows_vs_torch(k, s, p, rng):
    torch = pytest.importorskip("torch")
    x = rand(rng, (2, 3, 9, 11))
    ref = torch.nn.functional.avg_pool2d(torch.from_numpy(x), k, s, p).numpy()
    assert_close(fastconv.avg_pool2d(x, k, s, p), ref, np.float64)


# ---------------------------------------------------------------- the whole operator
def torch_official(sd, x, channels, K, stride, group_channels, reduction_ratio=4):
    """The official module's output for x, float64."""
    torch = pytest.importorskip("torch")
    from torch_official import official_involution

    m = official_involution(sd, channels, K, stride, group_channels, reduction_ratio)
    with torch.no_grad():
        return m(torch.from_numpy(np.asarray(x, np.float64))).numpy()


# (channels, K, stride, group_channels, reduction_ratio, H, W)
MODULE_CASES = {
    "c32_k7_s1": (32, 7, 1, 16, 4, 8, 6),
    "c32_k7_s2": (32, 7, 2, 16, 4, 8, 6),
    "c16_k3_s1": (16, 3, 1, 16, 4, 5, 7),
    "c32_k5_s2_gc8": (32, 5, 2, 8, 4, 6, 10),
    "c64_k7_s1_r8": (64, 7, 1, 16, 8, 5, 5),
    "c48_k3_s3": (48, 3, 3, 16, 4, 9, 6),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(MODULE_CASES), ids=list(MODULE_CASES))
def test_involution_module_from_state_dict(isa, dtype, case, rng):
    c, K, s, gc, r, h, w = MODULE_CASES[case]
    sd = R.make_involution_state_dict(rng, c, K, gc, r, dtype=dtype)
    x = rand(rng, (2, c, h, w), dtype)
    layer = fastconv.Involution2d.from_state_dict(sd, stride=s, group_channels=gc)
    ref = R.involution_module(x, sd, s, gc)
    y = layer(x)
    assert_close(y, ref, dtype, what=f"Involution2d {case}")
    assert y.shape == (2, c, -(-h // s), -(-w // s))


@pytest.mark.parametrize("case", list(MODULE_CASES), ids=list(MODULE_CASES))
def test_involution_module_vs_torch_official(case, rng):
    pytest.importorskip("torch")
    c, K, s, gc, r, h, w = MODULE_CASES[case]
    sd = R.make_involution_state_dict(rng, c, K, gc, r)
    x = rand(rng, (2, c, h, w))
    y = fastconv.Involution2d.from_state_dict(sd, stride=s, group_channels=gc)(x)
    assert_close(y, torch_official(sd, x, c, K, s, gc, r), np.float64)


def test_from_state_dict_accepts_array_likes_and_copies(rng):
    sd = R.make_involution_state_dict(rng, 32, 7, 16)
    x = rand(rng, (1, 32, 6, 6))
    ref = R.involution_module(x, sd, 1, 16)
    as_lists = {k: v.tolist() for k, v in sd.items()}
    assert_close(fastconv.Involution2d.from_state_dict(as_lists)(x), ref, np.float64)
    try:
        import torch
        as_tensors = {k: torch.from_numpy(v.copy()) for k, v in sd.items()}
        assert_close(fastconv.Involution2d.from_state_dict(as_tensors)(x), ref, np.float64)
    except ImportError:
        pass
    mutable = {k: v.copy() for k, v in sd.items()}
    layer = fastconv.Involution2d.from_state_dict(mutable)
    for v in mutable.values():
        v[...] = 0
    assert_close(layer(x), ref, np.float64)
    # extra keys of the official checkpoint (num_batches_tracked) are tolerated
    sd2 = dict(sd)
    sd2["conv1.bn.num_batches_tracked"] = np.array(10)
    assert_close(fastconv.Involution2d.from_state_dict(sd2)(x), ref, np.float64)


def test_from_state_dict_missing_or_inconsistent(rng):
    sd = R.make_involution_state_dict(rng, 32, 7, 16)
    missing = {k: v for k, v in sd.items() if k != "conv2.conv.bias"}
    with pytest.raises((KeyError, ValueError)):
        fastconv.Involution2d.from_state_dict(missing)
    bad = dict(sd)
    bad["conv1.bn.weight"] = np.ones(5)
    with pytest.raises(ValueError):
        fastconv.Involution2d.from_state_dict(bad)
    bad = dict(sd)
    bad["conv2.conv.weight"] = np.ones((50, 8, 1, 1))       # 50 = K*K*G for no integer K
    with pytest.raises(ValueError):
        fastconv.Involution2d.from_state_dict(bad)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_involution_layer_out(dtype, rng):
    sd = R.make_involution_state_dict(rng, 32, 7, 16, dtype=dtype)
    x = rand(rng, (2, 32, 6, 8), dtype)
    layer = fastconv.Involution2d.from_state_dict(sd, stride=2)
    ref = R.involution_module(x, sd, 2, 16)
    check_out_param(lambda out: layer(x, out=out), ref.shape, dtype, ref)


@pytest.mark.parametrize("stride", (1, 2))
def test_involution_seeded_layer(stride, rng):
    layer = fastconv.Involution2d(32, kernel_size=7, stride=stride, group_channels=16,
                                  reduction_ratio=4, seed=0)
    x = rand(rng, (2, 32, 8, 6), np.float32)
    y = layer(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert y.shape == (2, 32, 8 // stride, 6 // stride)
    assert np.all(np.isfinite(y)) and np.any(y != 0)
    again = fastconv.Involution2d(32, kernel_size=7, stride=stride, group_channels=16,
                                  reduction_ratio=4, seed=0)(x)
    assert np.array_equal(y, again), "same seed must give the same layer"
    other = fastconv.Involution2d(32, kernel_size=7, stride=stride, group_channels=16,
                                  reduction_ratio=4, seed=1)(x)
    assert not np.array_equal(y, other)


def test_involution_default_arguments(rng):
    layer = fastconv.Involution2d(16, seed=3)       # K=7, stride 1, group_channels 16, r=4
    x = rand(rng, (1, 16, 9, 9), np.float32)
    y = layer(x)
    assert y.shape == x.shape and np.all(np.isfinite(y))


@pytest.mark.parametrize("kw", [dict(channels=30), dict(channels=0), dict(kernel_size=0),
                                dict(stride=0), dict(group_channels=0), dict(reduction_ratio=0),
                                dict(channels=16, reduction_ratio=32)])
def test_involution_layer_bad_arguments(kw):
    args = dict(channels=32, kernel_size=7, stride=1, group_channels=16, reduction_ratio=4)
    args.update(kw)
    with pytest.raises(ValueError):
        fastconv.Involution2d(args.pop("channels"), **args, seed=0)


def test_involution_layer_bad_input(rng):
    layer = fastconv.Involution2d(32, seed=0)
    with pytest.raises(ValueError):
        layer(rand(rng, (1, 16, 6, 6), np.float32))     # wrong channel count
    with pytest.raises(ValueError):
        layer(rand(rng, (32, 6), np.float32))           # wrong rank
