"""Winograd F(4x4, 3x3) and F(2x2, 3x3): every ISA level against the float64 oracle.

Shapes are small but chosen to reach every branch of the driver: tiles on the
border and inside, partial last tiles, GEMM panels that cross tile rows and
images, more tiles than one super-block (192), more input channels than one
K chunk (256), both tile sizes, groups, 3-D 1x3x3 slices, activations, and
the padding modes that go through a padded copy.
"""
import numpy as np
import pytest

import fastconv
from fastconv import _core
import reference as R
from helpers import DTYPES, DTYPE_IDS, assert_close, rand

F32_BOUND = 1e-3   # docs/TESTING.md, float32 Winograd


def _check(rng, isa, dtype, N, C, O, H, W, padding=1, groups=1, bias=True, **kw):
    x = rand(rng, (N, C, H, W), dtype)
    w = rand(rng, (O, C // groups, 3, 3), dtype)
    b = rand(rng, (O,), dtype) if bias else None
    y = fastconv.conv2d(x, w, b, padding=padding, groups=groups, algorithm="winograd", **kw)
    ref = R.conv2d(x, w, b, padding=padding, groups=groups)
    ref = R.apply_activation(ref, kw.get("activation"))
    assert_close(y, ref, dtype, winograd=True, what=f"{isa} N{N} C{C} O{O} {H}x{W} p{padding}")
    return y


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", [
    (1, 3, 5, 7, 9),       # few channels, odd sizes
    (2, 17, 33, 23, 29),   # channels not a multiple of any SIMD width, batch 2
    (1, 8, 4, 4, 4),       # one 4x4 tile
    (1, 5, 6, 3, 3),       # a 3x3 output: F(2x2)
    (1, 4, 4, 1, 1),       # a 1x1 output
    (3, 9, 7, 7, 7),       # 7x7 planes in several images
    (1, 16, 16, 2, 40),    # one row of tiles
], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_winograd_shapes(isa, rng, dtype, shape, padding):
    N, C, O, H, W = shape
    if H + 2 * padding < 3 or W + 2 * padding < 3:
        pytest.skip("kernel larger than the padded input")
    _check(rng, isa, dtype, N, C, O, H, W, padding)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_winograd_many_tiles_and_channels(isa, rng, dtype):
    # 2 x 100 tiles of 4x4: two super-blocks; 260 input channels: two K chunks
    _check(rng, isa, dtype, 2, 260, 20, 40, 38, padding=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_winograd_asymmetric_padding_and_groups(isa, rng, dtype):
    _check(rng, isa, dtype, 2, 12, 18, 11, 14, padding=((0, 2), (1, 0)), groups=3)


@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_winograd_activation(isa, rng, activation):
    _check(rng, isa, np.float32, 1, 10, 12, 13, 10, activation=activation, bias=True)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_winograd_padding_modes(isa, rng, mode):
    x = rand(rng, (2, 6, 9, 11), np.float32)
    w = rand(rng, (7, 6, 3, 3), np.float32)
    y = fastconv.conv2d(x, w, padding=1, padding_mode=mode, algorithm="winograd")
    ref = R.conv2d(R.pad_input(x, ((1, 1), (1, 1)), mode), w)
    assert_close(y, ref, np.float32, winograd=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("stride_d,pad_d", [(1, 0), (2, 1), (3, 2)])
def test_winograd_3d_1x3x3(isa, rng, dtype, stride_d, pad_d):
    x = rand(rng, (2, 5, 6, 9, 10), dtype)
    w = rand(rng, (6, 5, 1, 3, 3), dtype)
    b = rand(rng, (6,), dtype)
    kw = dict(stride=(stride_d, 1, 1), padding=(pad_d, 1, 1))
    y = fastconv.conv3d(x, w, b, algorithm="winograd", **kw)
    assert_close(y, R.conv3d(x, w, b, **kw), dtype, winograd=True)


@pytest.mark.parametrize("kernel,stride", [((3, 3, 3), 1), ((1, 3, 3), (1, 2, 1)),
                                           ((1, 3, 5), 1)])
def test_winograd_3d_rejects_other_kernels(kernel, stride):
    x = np.zeros((1, 2, 5, 6, 6), np.float32)
    w = np.zeros((2, 2) + kernel, np.float32)
    with pytest.raises(ValueError, match="winograd"):
        fastconv.conv3d(x, w, stride=stride, algorithm="winograd")


def test_layer_repacks_for_the_tile_size(isa, rng):
    # A layer first called on a 7x7 plane (F(2x2) on one panel) then on a big
    # batch (F(4x4)): each call is right, and each tile size has its packing.
    w = rand(rng, (24, 20, 3, 3), np.float32)
    layer = fastconv.Conv2d(w, padding=1, algorithm="winograd")
    for shape in [(1, 20, 7, 7), (9, 20, 7, 7), (1, 20, 7, 7), (2, 20, 17, 5)]:
        x = rand(rng, shape, np.float32)
        assert_close(layer(x), R.conv2d(x, w, padding=1), np.float32, winograd=True)
    desc_small = fastconv._args.conv_spec(2, np.zeros((1, 20, 7, 7), np.float32), w, None,
                                          1, 1, 1, 1, "zeros", "winograd", None)[0].c_desc()
    desc_big = fastconv._args.conv_spec(2, np.zeros((9, 20, 7, 7), np.float32), w, None,
                                        1, 1, 1, 1, "zeros", "winograd", None)[0].c_desc()
    wino = fastconv._args.ALGORITHMS["winograd"]
    if isa != "vec128":   # the vec128 panel (8 tiles) holds 7x7's four 4x4 tiles well
        assert _core.plan(desc_small, wino, 0).variant == 2
    assert _core.plan(desc_big, wino, 0).variant == 4


def _algo(N, C, H, dtype=np.float32):
    x = np.zeros((N, C, H, H), dtype)
    w = np.zeros((C, C, 3, 3), dtype)
    spec = fastconv._args.conv_spec(2, x, w, None, 1, 1, 1, 1, "zeros", "auto", None)[0]
    return _core.plan(spec.c_desc(), 0, int(dtype == np.float64)).algorithm


@pytest.mark.parametrize("N,C,H", [(1, 128, 28), (1, 256, 14), (1, 64, 56), (8, 512, 7),
                                   (1, 128, 112)])
def test_auto_picks_winograd_on_big_3x3_layers(isa, N, C, H):
    if isa == "vec128":
        pytest.skip("the rule is fitted for the AVX levels")
    assert _algo(N, C, H) == "winograd"


@pytest.mark.parametrize("N,C,H", [(1, 16, 56), (1, 32, 28), (1, 512, 4), (1, 128, 7)])
def test_auto_keeps_direct_where_winograd_does_not_pay(isa, N, C, H):
    assert _algo(N, C, H) != "winograd"


def test_auto_never_picks_winograd_outside_its_domain(isa):
    x = np.zeros((1, 256, 28, 28), np.float32)
    for kw in [dict(stride=2), dict(dilation=2)]:
        w = np.zeros((256, 256, 3, 3), np.float32)
        spec = fastconv._args.conv_spec(2, x, w, None, kw.get("stride", 1), 1,
                                        kw.get("dilation", 1), 1, "zeros", "auto", None)[0]
        assert _core.plan(spec.c_desc(), 0, 0).algorithm != "winograd"


def test_auto_on_a_big_layer_is_right(isa, rng):
    # Where auto does take Winograd, its answer is within Winograd's bound.
    x = rand(rng, (1, 64, 24, 24), np.float32)
    w = rand(rng, (64, 64, 3, 3), np.float32)
    y = fastconv.conv2d(x, w, padding=1)
    assert_close(y, R.conv2d(x, w, padding=1), np.float32, winograd=True)


# ---- grouped layers: the channel-vector layout (channels of a group side by
# side in the vector; weights transformed group by group inside a functional
# call, once by a layer) ----

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", [
    (1, 32, 32, 14, 14, 2, 1),       # 16 per group, ResNeXt's 512@14 in small
    (2, 48, 40, 13, 11, 2, 1),       # 24 in / 20 out per group, partial tiles, batch 2
    (1, 12, 15, 9, 10, 3, 2),        # 4 in / 5 out: channels short of one vector
    (1, 6, 6, 1, 1, 2, 1),           # a 1x1 plane, every tap in the padding but one
    (1, 64, 64, 30, 6, 4, 1),        # tall: bands of tile rows when threads > 1
    (3, 18, 9, 5, 5, 9, 0),          # 2 in / 1 out per group, no padding
    (1, 66, 66, 8, 8, 2, 1),         # 33 per group: past 32, the generic layout
], ids=lambda s: "x".join(map(str, s)))
def test_winograd_grouped_channel_vector(isa, rng, dtype, shape):
    N, C, O, H, W, G, p = shape
    _check(rng, isa, dtype, N, C, O, H, W, padding=p, groups=G)
    # the layer packs once and gives the same answer
    x = rand(rng, (N, C, H, W), dtype)
    w = rand(rng, (O, C // G, 3, 3), dtype)
    b = rand(rng, (O,), dtype)
    layer = fastconv.Conv2d(w, b, padding=p, groups=G, algorithm="winograd")
    ref = R.conv2d(x, w, b, padding=p, groups=G)
    assert_close(layer(x), ref, dtype, winograd=True)
    assert_close(layer(x), ref, dtype, winograd=True)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_winograd_grouped_bands_and_threads(isa, rng, threads):
    # one image and two groups: the plane is cut into bands of tile rows so
    # that every thread has work; the answer does not depend on the cut
    old = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(threads)
        _check(rng, isa, np.float32, 1, 32, 32, 41, 19, padding=((2, 0), (1, 3)), groups=2,
               activation="relu6")
    finally:
        fastconv.set_num_threads(old)


@pytest.mark.parametrize("mode", ["reflect", "circular"])
def test_winograd_grouped_padding_modes_and_no_bias(isa, rng, mode):
    x = rand(rng, (1, 32, 12, 9), np.float32)
    w = rand(rng, (32, 16, 3, 3), np.float32)
    y = fastconv.conv2d(x, w, padding=1, groups=2, padding_mode=mode, algorithm="winograd")
    ref = R.conv2d(R.pad_input(x, ((1, 1), (1, 1)), mode), w, groups=2)
    assert_close(y, ref, np.float32, winograd=True)


def test_layer_grouped_packing_variant(isa, rng):
    w = rand(rng, (32, 16, 3, 3), np.float32)
    spec = fastconv._args.conv_spec(2, np.zeros((1, 32, 14, 14), np.float32), w, None,
                                    1, 1, 1, 2, "zeros", "winograd", None)[0]
    assert _core.plan(spec.c_desc(), fastconv._args.ALGORITHMS["winograd"], 0).variant == 8


def _algo_grouped(C, H, G, dtype=np.float32):
    x = np.zeros((1, C, H, H), dtype)
    w = np.zeros((C, C // G, 3, 3), dtype)
    spec = fastconv._args.conv_spec(2, x, w, None, 1, 1, 1, G, "zeros", "auto", None)[0]
    return _core.plan(spec.c_desc(), 0, int(dtype == np.float64)).algorithm


@pytest.mark.parametrize("C,H,G", [(512, 14, 32), (256, 28, 32), (128, 28, 8)])
def test_auto_picks_winograd_on_grouped_layers(isa, C, H, G):
    if isa == "vec128":
        pytest.skip("the rule is fitted for the AVX levels")
    if isa == "avx512" and C // G < 16:
        pytest.skip("8 channels fill half an AVX-512 vector")
    assert _algo_grouped(C, H, G) == "winograd"


@pytest.mark.parametrize("C,H,G", [(128, 56, 32), (1024, 7, 32), (512, 7, 32)])
def test_auto_keeps_grouped_winograd_off_where_it_does_not_pay(isa, C, H, G):
    assert _algo_grouped(C, H, G) != "winograd"
