"""Pointwise layers (1x1 taps, no padding, one group) with the pixels in the vector on the
weights as given (impl/pointwise.inc): every ISA level against the float64 oracle.

FC_ALGO_DIRECT (and auto) takes that kernel for every such layer, 1-D, 2-D and 3-D, the
functional call and the layer object alike (a strided one on its subsampled pixels). A
work item runs groups of mr output channels (8 on AVX-512, else 4) over tiles of 1-3
vectors of pixels in chunks of 512 input channels, the pixels in blocks where a chunk of
the image passes 256 KiB; the pixels past the last whole vector (VL = 16/8/4 floats,
8/4/2 doubles) are inner products over the input channels (ukernels/pointwise_dot.inc: tiles of 1-4
output channels x 1-5 pixels, lanes summed, channels past the last whole vector one by
one). The shapes reach every tile width and remainder for each VL, partial row groups,
several chunks with a partial last one, several pixel blocks, planes narrower than one
vector (inner products alone), batches and work items on 1 and 2 threads, bias or none,
the activations (NaN passes through).
"""
import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, assert_close, conv_call, rand


def _check(rng, dtype, N, cin, cout, sizes, bias=True, activation=None, algorithm="direct",
           layer=False, stride=1, kernel=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    nd = len(sizes)
    kk = (kernel,) * nd if isinstance(kernel, int) else tuple(kernel)
    x = rand(rng, (N, cin) + tuple(sizes), dtype)
    w = rand(rng, (cout, cin // groups) + kk, dtype)
    b = rand(rng, (cout,), dtype) if bias else None
    ref = R.conv_nd(x, w, b, stride, padding, dilation, groups, padding_mode, activation, nd=nd)
    y = conv_call(x, w, b, nd, layer, algorithm=algorithm, activation=activation, stride=stride,
                  padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode)
    assert_close(y, ref, dtype, what=f"N{N} cin{cin} cout{cout} {sizes} k={kernel} s={stride} "
                                     f"p={padding} d={dilation} g={groups} {padding_mode} "
                                     f"{algorithm} layer={layer}")


# pixel counts: below one vector, whole vectors 1..7 (tiles of 3, then 1 or 2) with
# remainders 0, 1 and VL - 1 for VL 2, 4, 8 and 16
PIXELS = [1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 79, 80, 95, 96, 97, 113]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("layer", [False, True], ids=["functional", "layer"])
def test_pointwise_pixel_tiles(isa, dtype, layer, rng):
    for P in PIXELS:
        _check(rng, dtype, 1, 19, 9, (P,), layer=layer)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cout", [1, 3, 4, 5, 8, 9, 13, 17, 24, 70])
def test_pointwise_row_groups(isa, dtype, cout, rng):
    """Partial groups of output channels (mr 8 or 4) and of the inner products' 4."""
    _check(rng, dtype, 1, 21, cout, (7, 7))
    _check(rng, dtype, 2, 5, cout, (5, 13), bias=False, layer=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cin", [1, 2, 16, 511, 512, 513, 1100])
def test_pointwise_channel_chunks(isa, dtype, cin, rng):
    """One chunk of input channels, exactly one, a partial second, three."""
    _check(rng, dtype, 1, cin, 11, (7, 7))
    _check(rng, dtype, 1, cin, 6, (3, 3), activation="relu")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_pointwise_pixel_blocks(isa, dtype, rng):
    """Chunks of the image past 256 KiB: the pixels in blocks of whole tiles, the
    last block with the inner products' pixels; on 1 and 2 threads."""
    for threads in (1, 2):
        fastconv.set_num_threads(threads)
        _check(rng, dtype, 1, 600, 10, (201,))
        _check(rng, dtype, 2, 300, 17, (15, 23), layer=True)
        _check(rng, dtype, 1, 130, 9, (4, 16, 17), activation="relu6")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("sizes", [(1, 1), (1, 2), (2, 2), (1, 7), (3, 3), (9, 11), (99,),
                                   (2, 3, 4), (4, 4, 6)])
def test_pointwise_planes(isa, dtype, sizes, rng):
    _check(rng, dtype, 3, 256, 9, sizes)
    _check(rng, dtype, 1, 264, 33, sizes, bias=False, layer=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_pointwise_activation(isa, dtype, activation, rng):
    _check(rng, dtype, 2, 272, 13, (5, 5), activation=activation)
    _check(rng, dtype, 1, 256, 6, (7, 7), activation=activation, layer=True, bias=False)
    # NaN passes through the activation, in the vector tiles and the inner products;
    # every other output stays finite
    for P in (4, 49):
        x = rand(rng, (1, 600, P), dtype)
        x[0, 3, 1] = np.nan
        x[0, 5, P - 1] = np.nan
        w = rand(rng, (5, 600, 1), dtype)
        y = fastconv.conv1d(x, w, activation=activation)
        assert np.isnan(y[0, :, 1]).all() and np.isnan(y[0, :, P - 1]).all()
        y[0, :, 1] = y[0, :, P - 1] = 0
        assert np.isfinite(y).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_pointwise_algorithms_agree(isa, dtype, rng):
    """The GEMM and auto give the same sums; a strided layer runs on its subsampled pixels."""
    for cin, sizes in ((255, (7, 7)), (64, (10, 10)), (256, (9, 11))):
        for algo in ("direct", "auto", "gemm"):
            _check(rng, dtype, 1, cin, 10, sizes, algorithm=algo)
            _check(rng, dtype, 1, cin, 10, sizes, algorithm=algo, layer=True)
            _check(rng, dtype, 2, cin, 12, sizes, algorithm=algo, stride=2)


def test_pointwise_large(rng):
    """ResNet-50's last block shapes, several work items per thread; inputs past
    8 MiB (each work item fetches the pixels of the next one along the way: in the
    same image, and across images)."""
    _check(rng, np.float32, 1, 2048, 512, (7, 7))
    _check(rng, np.float32, 2, 512, 2048, (7, 7), layer=True)
    _check(rng, np.float32, 1, 256, 9, (130, 131))
    _check(rng, np.float32, 3, 128, 17, (90, 67), layer=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_pointwise_streamed_output(isa, dtype, rng):
    """Outputs past 8 MiB on a 64-byte boundary, pixels in whole vectors: the tiles store
    past the caches (the last channel chunk only, after adding the earlier ones); an
    out= array off the boundary takes the plain stores; the result the same."""
    _check(rng, dtype, 2, 16, 64, (128, 136), activation="relu")
    if dtype == np.float32:
        _check(rng, dtype, 1, 520, 128, (128, 130), layer=True)   # two chunks
    x = rand(rng, (2, 16, 128, 136), dtype)
    w = rand(rng, (64, 16, 1, 1), dtype)
    want = fastconv.conv2d(x, w)
    assert want.ctypes.data % 64 == 0
    raw = np.empty(want.size + 1, dtype)
    out = raw[1:].reshape(want.shape)
    got = fastconv.conv2d(x, w, out=out)
    assert got is out
    np.testing.assert_array_equal(got, want)


PATCHES = [
    # (nd, n, c, o, sizes, kernel, stride, dilation, groups, activation)
    (2, 1, 3, 20, (16, 12), 4, 4, 1, 1, None),            # patchify (ConvNeXt's stem)
    (2, 2, 6, 9, (9, 11), 2, 2, 1, 1, "relu"),            # sizes not multiples of the stride
    (2, 1, 5, 7, (13, 14), (2, 3), (3, 3), 1, 1, None),   # taps short of the stride: gaps
    (2, 1, 4, 10, (12, 12), 2, 3, 2, 1, "relu6"),         # dilated taps inside the stride
    (1, 2, 7, 5, (40,), 5, 5, 1, 1, None),
    (3, 1, 3, 8, (4, 8, 6), (1, 2, 2), (1, 2, 3), 1, 1, None),
    (2, 1, 8, 6, (8, 8), 2, 2, 1, 2, None),               # groups: the other kernels
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("algorithm", ("direct", "auto", "gemm"))
@pytest.mark.parametrize("layer", [False, True], ids=["functional", "layer"])
def test_non_overlapping_taps_gathered(isa, dtype, algorithm, layer, rng):
    """A strided layer without padding whose taps do not overlap runs as the pointwise
    layer on its pixels gathered into C_in x kvol channels (the direct method, one
    group): every axis count, taps shorter than the stride, dilation, batches."""
    for nd, n, c, o, sizes, k, s, dil, g, act in PATCHES:
        _check(rng, dtype, n, c, o, sizes, activation=act, algorithm=algorithm, layer=layer,
               stride=s, kernel=k, dilation=dil, groups=g)


IM2COL = [
    # (nd, n, c, o, sizes, kernel, padding, dilation, padding_mode, activation)
    (2, 1, 3, 20, (17, 19), 3, 1, 1, "zeros", None),            # a first 3x3 layer
    (2, 2, 1, 9, (12, 21), 5, 2, 1, "zeros", "relu"),
    (2, 1, 2, 11, (9, 9), 4, ((1, 2), (2, 1)), 1, "zeros", None),   # 32 channels x taps
    (2, 1, 3, 7, (11, 13), 3, 2, 2, "zeros", "relu6"),           # dilated
    (2, 1, 3, 8, (10, 9), 3, 1, 1, "reflect", None),            # padded copy, then im2col
    (2, 1, 3, 6, (6, 7), 3, 0, 1, "zeros", None),                # no padding
    (2, 1, 1, 5, (4, 3), 5, 1, 1, "zeros", None),                # taps past the plane
    (1, 2, 4, 10, (50,), 5, 2, 1, "zeros", None),
    (3, 1, 1, 6, (5, 6, 7), 3, 1, 1, "zeros", None),
    (2, 1, 11, 6, (7, 7), 3, 1, 1, "zeros", None),               # 99: the direct tiles
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("algorithm", ("direct", "auto"))
@pytest.mark.parametrize("layer", [False, True], ids=["functional", "layer"])
def test_few_channel_layers_im2col(isa, dtype, algorithm, layer, rng):
    """Stride-1 layers of one group with at most 32 input channels x taps run, on
    AVX-512, as the pointwise layer on their im2col (zero padding written into it; other
    modes padded first); elsewhere the direct tiles: the same sums either way."""
    for nd, n, c, o, sizes, k, p, dil, mode, act in IM2COL:
        _check(rng, dtype, n, c, o, sizes, activation=act, algorithm=algorithm, layer=layer,
               kernel=k, padding=p, dilation=dil, padding_mode=mode)
