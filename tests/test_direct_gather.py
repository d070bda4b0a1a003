"""Direct convolution on narrow rows by tiles gathered across rows (impl/direct.inc):
every ISA level against the float64 oracle.

Where the row tiles of the direct path would average 4 pixels or fewer (rows of up to
8 pixels at 6-pixel tiles; 12-pixel tiles take wider rows), the runs of output rows
whose every (kd, kh) tap reads a real input row are computed in tiles of up to the
widest tile's pixel count taken straight across the rows: the inner columns (every kw
tap real) together, each outer column on its own with the taps real there.  The
top and bottom rows (taps in the padding) keep the row tiles.  The shapes reach:
runs that fill whole tiles and runs with a ragged last tile, outer columns with every
tap but one, with one tap, and with none (the padding wider than the kernel's reach:
bias only), no inner column at all (rows narrower than the kernel), strides and
dilations, asymmetric padding, 1-D and 3-D (runs broken by padded depth slices), groups,
several images, row blocks split across work items, the layer object (packed weights)
and the functional call (weights packed per block of input channels), activations.
"""
import pytest

import reference as R
from helpers import DTYPES, DTYPE_IDS, assert_close, conv_call, rand


def _check(rng, dtype, N, cin, cout, sizes, k, stride=1, padding=0, dilation=1, groups=1,
           bias=True, activation=None, layer=False):
    nd = len(sizes)
    x = rand(rng, (N, cin) + tuple(sizes), dtype)
    w = rand(rng, (cout, cin // groups) + (k,) * nd, dtype)
    b = rand(rng, (cout,), dtype) if bias else None
    ref = R.conv_nd(x, w, b, stride, padding, dilation, groups, "zeros", activation, nd=nd)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
              algorithm="direct", activation=activation)
    y = conv_call(x, w, b, nd, layer, **kw)
    assert_close(y, ref, dtype, what=f"N{N} {cin}->{cout} {sizes} k{k} s{stride} p{padding} "
                                     f"d{dilation} g{groups} layer={layer}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("hw", [3, 4, 5, 7, 8, 9])
@pytest.mark.parametrize("layer", [False, True], ids=["functional", "layer"])
def test_gather_planes(isa, dtype, hw, layer, rng):
    # 3x3 "same": 1-pixel outer columns with 6 of the 9 taps
    _check(rng, dtype, 1, 24, 40, (hw, hw), 3, padding=1, layer=layer)
    # 5x5 "same": two outer columns a side, 15 and 20 taps
    _check(rng, dtype, 2, 16, 17, (hw, hw + 1), 5, padding=2, layer=layer, bias=False)
    # no padding: every row and column inner
    _check(rng, dtype, 1, 8, 16, (hw + 2, hw + 2), 3, layer=layer)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_gather_strides_dilations_padding(isa, dtype, rng):
    _check(rng, dtype, 1, 32, 24, (14, 14), 3, stride=2, padding=1)       # to 7x7
    _check(rng, dtype, 1, 16, 16, (13, 11), 3, stride=(2, 3), padding=(1, 2))
    _check(rng, dtype, 1, 16, 32, (9, 9), 3, padding=2, dilation=2)
    _check(rng, dtype, 1, 16, 8, (7, 6), 3, padding=((0, 2), (2, 1)))      # asymmetric
    # padding beyond the kernel's reach: outer columns (and rows) with no real tap
    _check(rng, dtype, 1, 8, 16, (4, 4), 3, padding=3)
    # rows narrower than the kernel: no inner column at all
    _check(rng, dtype, 1, 8, 16, (6, 2), 5, padding=2)
    _check(rng, dtype, 1, 8, 16, (5, 1), 3, padding=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_gather_3d_1d_groups_batch(isa, dtype, rng):
    _check(rng, dtype, 2, 8, 16, (4, 5, 5), 3, padding=1)                 # depth padding breaks runs
    _check(rng, dtype, 1, 12, 8, (5, 6, 7), (3), stride=(1, 2, 1), padding=(0, 1, 1))
    _check(rng, dtype, 3, 16, 24, (6,), 3, padding=1)
    _check(rng, dtype, 2, 32, 48, (7, 7), 3, padding=1, groups=2)
    _check(rng, dtype, 4, 64, 96, (7, 7), 3, padding=1, bias=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_gather_activation(isa, dtype, activation, rng):
    _check(rng, dtype, 1, 24, 16, (7, 7), 3, padding=1, activation=activation)
    _check(rng, dtype, 1, 24, 16, (7, 7), 3, padding=1, activation=activation, layer=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_gather_many_input_channels(isa, dtype, rng):
    # input-channel blocks (the functional call packs each just before its use)
    _check(rng, dtype, 1, 300, 40, (7, 7), 3, padding=1)
    _check(rng, dtype, 1, 300, 40, (7, 7), 3, padding=1, layer=True)
