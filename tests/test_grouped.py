"""Grouped convolution with few channels per group (impl/grouped.inc: output pixels in
the vector, 4 output channels per tile): every ISA level against the float64 oracle.

FC_ALGO_DIRECT takes that kernel for 1-D and 2-D problems with at least 2 input
channels per group and few output channels per group (fewer than 4, or at most
half the direct tile: 8 for AVX2 float32, 4 for float64 and for the vec128
level), and auto for grouped ones.  The shapes reach: output-channel tiles of
1-4 (partial last tiles), tiles of 1 to 3 (AVX2) / 6 (AVX-512) vectors and
planes shorter than one vector, stride and dilation (phase planes), zero and
asymmetric padding, blocks of output rows (planes over the L2 budget, or few
images x groups for the threads), channel totals that no vector width divides,
and the channel counts just above the cut, which run the other direct kernel.
"""
import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, assert_close, conv_call, rand


def _check(rng, dtype, N, G, cig, cog, sizes, k=3, stride=1, padding=1, dilation=1,
           bias=True, activation=None, algorithm="direct", padding_mode="zeros", layer=False):
    nd = len(sizes)
    kk = R.ntuple(k, nd, "k")
    x = rand(rng, (N, G * cig) + tuple(sizes), dtype)
    w = rand(rng, (G * cog, cig) + kk, dtype)
    b = rand(rng, (G * cog,), dtype) if bias else None
    ref = R.conv_nd(x, w, b, stride, padding, dilation, G, padding_mode, activation, nd=nd)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=G,
              padding_mode=padding_mode, algorithm=algorithm, activation=activation)
    y = conv_call(x, w, b, nd, layer, **kw)
    assert_close(y, ref, dtype, what=f"N{N} G{G} cig{cig} cog{cog} {sizes} k{k} s{stride} "
                                     f"p{padding} d{dilation} {algorithm} layer={layer}")


PER_GROUP = (1, 2, 3, 4, 8, 16)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cig", PER_GROUP)
def test_grouped_channels_per_group(isa, dtype, cig, rng):
    for cog in PER_GROUP:
        for algo in ("direct", "auto"):
            _check(rng, dtype, 2, 3, cig, cog, (7, 9), algorithm=algo)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("geom", [
    dict(stride=2),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(stride=3, padding=0),
    dict(dilation=2, padding=2),
    dict(dilation=(1, 3), stride=2, padding=(0, 3)),
    dict(padding=((0, 2), (1, 0))),
    dict(padding=0, k=(1, 3)),
    dict(padding=2, k=(5, 2)),
    dict(k=1, padding=0),
], ids=lambda g: ",".join(f"{k}={v}" for k, v in g.items()))
@pytest.mark.parametrize("sizes", [(7, 7), (13, 11), (3, 40), (1, 5)], ids=lambda s: "x".join(map(str, s)))
def test_grouped_geometry(isa, dtype, geom, sizes, rng):
    geom = dict(geom)
    k = geom.pop("k", 3)
    kk = R.ntuple(k, 2, "k")
    pad = geom.get("padding", 1)
    pad = (pad, pad) if isinstance(pad, int) else pad
    dil = R.ntuple(geom.get("dilation", 1), 2, "d")
    for i in range(2):
        lo, hi = (pad[i], pad[i]) if isinstance(pad[i], int) else pad[i]
        if sizes[i] + lo + hi < (kk[i] - 1) * dil[i] + 1:
            pytest.skip("kernel larger than the padded input")
    # 5 groups of 4: 20 channels, a multiple of no vector width
    _check(rng, dtype, 2, 5, 4, 4, sizes, k=k, **geom)
    _check(rng, dtype, 1, 2, 3, 6, sizes, k=k, bias=False, **geom)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_grouped_conv1d(isa, dtype, rng):
    for cig, cog in ((4, 4), (2, 8), (5, 3)):
        _check(rng, dtype, 2, 4, cig, cog, (37,), k=3, padding=1)
        _check(rng, dtype, 1, 3, cig, cog, (20,), k=5, stride=2, dilation=2, padding=3)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("threads", (1, 2))
def test_grouped_threads_and_row_blocks(isa, dtype, threads, restore_threads, rng):
    fastconv.set_num_threads(threads)
    # few images x groups for the threads: blocks of output rows
    _check(rng, dtype, 1, 3, 4, 4, (17, 10))
    _check(rng, dtype, 1, 1, 6, 2, (9, 9))
    # planes over the per-item budget (128 KiB): blocks of output rows
    _check(rng, dtype, 1, 1, 64, 4, (30, 30))
    _check(rng, dtype, 3, 8, 4, 4, (12, 12), stride=2)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
def test_grouped_layer_objects(isa, dtype, activation, rng):
    for cig, cog in ((4, 4), (8, 8), (4, 2), (16, 16)):
        for algo in ("auto", "direct"):
            _check(rng, dtype, 2, 4, cig, cog, (9, 8), activation=activation, algorithm=algo,
                   layer=True)
    _check(rng, dtype, 1, 4, 4, 4, (9, 8), stride=2, layer=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_grouped_padding_modes(isa, dtype, mode, rng):
    _check(rng, dtype, 2, 4, 4, 4, (8, 7), padding=1, padding_mode=mode)
    _check(rng, dtype, 1, 4, 4, 4, (8, 7), padding=2, padding_mode=mode, layer=True)


def test_grouped_nonfinite_stays_in_its_group(isa, rng):
    x = rand(rng, (1, 8, 6, 6), np.float32)
    w = rand(rng, (8, 4, 3, 3), np.float32)
    x[0, 1, 2, 3] = np.nan
    y = fastconv.conv2d(x, w, padding=1, groups=2, algorithm="direct")
    assert np.isnan(y[0, :4, 1:4, 2:5]).all()
    assert np.isfinite(y[0, 4:]).all()
    assert np.isfinite(y[0, :4, 5]).all()
