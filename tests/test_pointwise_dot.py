"""Pointwise layers by inner products over the input channels on the weights as given
(pwd_ops.inc): every ISA level against the float64 oracle.

FC_ALGO_DIRECT (and auto) take that kernel for 1x1, stride-1, unpadded layers of one
group with at least 256 input channels on planes of fewer than 100 pixels (1-D, 2-D
and 3-D alike), on the AVX2 and scalar levels; on AVX-512 the same shapes run the
direct tiles, checked here alike.  The shapes reach: tiles of 1-4 output channels (partial last tiles)
and of 1 to the widest pixel count (partial last tiles, planes of one pixel), input
channels that no vector width divides (the lanes summed, the channels past the last
whole vector added one by one), several images and work items of output channels,
bias or none, the activations (NaN passes through), the layer object (which keeps the
weights as given) and the functional call, and the plane / channel counts just past
the cut, which run the other kernels.
"""
import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, assert_close, conv_call, rand


def _check(rng, dtype, N, cin, cout, sizes, bias=True, activation=None, algorithm="direct",
           layer=False):
    nd = len(sizes)
    x = rand(rng, (N, cin) + tuple(sizes), dtype)
    w = rand(rng, (cout, cin) + (1,) * nd, dtype)
    b = rand(rng, (cout,), dtype) if bias else None
    ref = R.conv_nd(x, w, b, 1, 0, 1, 1, "zeros", activation, nd=nd)
    kw = dict(algorithm=algorithm, activation=activation)
    y = conv_call(x, w, b, nd, layer, **kw)
    assert_close(y, ref, dtype, what=f"N{N} cin{cin} cout{cout} {sizes} {algorithm} layer={layer}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cin", [256, 259, 264, 515])
def test_pointwise_dot_channels(isa, dtype, cin, rng):
    for cout in (1, 2, 3, 4, 5, 7, 36):
        _check(rng, dtype, 1, cin, cout, (7, 7))
    _check(rng, dtype, 2, cin, 70, (3, 5), algorithm="auto")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("sizes", [(1, 1), (1, 2), (2, 2), (1, 7), (3, 3), (9, 11), (99,),
                                   (2, 3, 4), (4, 4, 6)])
def test_pointwise_dot_planes(isa, dtype, sizes, rng):
    _check(rng, dtype, 3, 256, 9, sizes)
    _check(rng, dtype, 1, 264, 33, sizes, bias=False, layer=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_pointwise_dot_activation(isa, dtype, activation, rng):
    _check(rng, dtype, 2, 272, 13, (5, 5), activation=activation)
    _check(rng, dtype, 1, 256, 6, (7, 7), activation=activation, layer=True, bias=False)
    # NaN passes through the activation; every other output stays finite
    x = rand(rng, (1, 256, 4, 4), dtype)
    x[0, 3, 1, 2] = np.nan
    w = rand(rng, (5, 256, 1, 1), dtype)
    y = fastconv.conv2d(x, w, activation=activation)
    assert np.isnan(y[0, :, 1, 2]).all()
    y[0, :, 1, 2] = 0
    assert np.isfinite(y).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_pointwise_dot_cut(isa, dtype, rng):
    """Either side of the cut: the other kernels give the same sums."""
    for cin, sizes in ((255, (7, 7)), (256, (7, 7)), (256, (10, 10)), (256, (9, 11))):
        for algo in ("direct", "auto", "gemm"):
            _check(rng, dtype, 1, cin, 10, sizes, algorithm=algo)
            _check(rng, dtype, 1, cin, 10, sizes, algorithm=algo, layer=True)


def test_pointwise_dot_large(rng):
    """ResNet-50's last block shapes, several work items per thread."""
    _check(rng, np.float32, 1, 2048, 512, (7, 7))
    _check(rng, np.float32, 2, 512, 2048, (7, 7), layer=True)
