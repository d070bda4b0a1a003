"""The SIMD separable filter (impl/separable.inc / ukernels/separable.inc) on every ISA level.

test_special.py covers the API of separable_conv2d; these shapes reach every
branch of the fused driver and of the 1-D loop, against the float64 oracle
(reference.separable_conv2d, a depthwise convolution of the outer product):
each padding mode with pads up to the input size, strides in H and W, both
below and above the kernel size, shared and per-channel kernels, general,
symmetric and antisymmetric taps (three variants of the loop), even and odd
tap counts, output widths around the vector width and the 8-vector block,
several column strips, row blocks on 2 threads, bias and activations.
"""
import numpy as np
import pytest

import fastconv
import reference as R
from helpers import DTYPES, DTYPE_IDS, assert_close, rand

MODES = ("zeros", "reflect", "replicate", "circular")


def taps(rng, k, kind, dtype, channels=None):
    """1-D kernel(s) of k taps: general, symmetric or antisymmetric."""
    shape = (k,) if channels is None else (channels, k)
    w = rand(rng, shape, np.float64)
    if kind == "sym":
        w = w + w[..., ::-1]
    elif kind == "anti":
        w = w - w[..., ::-1]
    return w.astype(dtype)


def check(rng, dtype, shape, kh, kw, *, stride=1, padding=0, mode="zeros", rpc=False, cpc=False,
          kind=("gen", "gen"), bias=True, activation=None):
    N, C, H, W = shape
    x = rand(rng, shape, dtype)
    row = taps(rng, kw, kind[0], dtype, C if rpc else None)
    col = taps(rng, kh, kind[1], dtype, C if cpc else None)
    b = rand(rng, (C,), dtype) if bias else None
    y = fastconv.separable_conv2d(x, row, col, b, stride, padding, padding_mode=mode,
                                  activation=activation)
    ref = R.apply_activation(R.separable_conv2d(x, row, col, b, stride, padding, mode), activation)
    assert_close(y, ref, dtype, what=f"{shape} k{kh}x{kw} s{stride} p{padding} {mode} {kind}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stride", [1, 2, (3, 2), (1, 4)], ids=str)
@pytest.mark.parametrize("k", [(3, 5), (4, 2), (7, 7)], ids=lambda k: f"{k[0]}x{k[1]}")
def test_separable_modes_strides(isa, rng, dtype, mode, stride, k):
    kh, kw = k
    check(rng, dtype, (2, 3, 13, 21), kh, kw, stride=stride, padding=(kh // 2, kw // 2), mode=mode,
          rpc=True, cpc=kh != 7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", [((0, 3), (4, 0)), ((5, 5), (6, 6)), ((2, 0), (0, 1))],
                         ids=("asym", "size", "one_side"))
def test_separable_large_pads(isa, rng, mode, padding):
    # pads as large as the input (circular: equal to it; reflect: one less)
    H, W = 6, 7
    if mode == "reflect":
        padding = tuple((min(a, H - 1 if i == 0 else W - 1), min(b, H - 1 if i == 0 else W - 1))
                        for i, (a, b) in enumerate(padding))
    check(rng, np.float64, (1, 2, H, W), 5, 3, padding=padding, mode=mode, rpc=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kind", [("gen", "gen"), ("sym", "sym"), ("anti", "sym"), ("sym", "anti")],
                         ids=lambda k: "-".join(k))
@pytest.mark.parametrize("kw", [1, 2, 3, 6, 15])
def test_separable_tap_kinds(isa, rng, dtype, kind, kw):
    for mode in ("zeros", "reflect"):
        check(rng, dtype, (1, 2, 9, 70), 5, kw, padding=(2, kw // 2), mode=mode, kind=kind,
              cpc=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ow", [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 66,
                                127, 128, 129, 136])
def test_separable_widths(isa, rng, dtype, ow):
    # output widths around 1, 2, 4 and 8 vectors of every ISA level (the
    # overlapping last vector and the scalar loop of narrow rows)
    check(rng, dtype, (1, 1, 5, ow + 4), 3, 5, padding=(1, 0), kind=("gen", "sym"))
    check(rng, dtype, (1, 1, 4, ow), 2, 3, padding=(0, 1), mode="replicate", kind=("sym", "gen"),
          activation="relu")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("mode", ("zeros", "reflect", "circular"))
@pytest.mark.parametrize("stride", [1, 2])
def test_separable_column_strips(isa, rng, dtype, mode, stride):
    # a strip's 17 input rows stay within 32 KiB: float64 at stride 1 is 3
    # strips of 240 columns (stride 2: 7 strips); circular padding of an edge
    # strip reads columns outside the strip (their own short sums)
    check(rng, dtype, (1, 2, 20, 700 * stride), 17, 9, stride=stride, padding=(8, 4), mode=mode,
          rpc=True, kind=("sym", "gen"))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape,stride", [((1, 3, 40, 33), 1), ((1, 1, 9, 20), 1),
                                          ((2, 3, 31, 17), (2, 1)), ((1, 2, 5, 12), 3)],
                         ids=("rgb", "one_plane", "batch_s2", "few_rows"))
def test_separable_threads(isa, rng, restore_threads, threads, dtype, shape, stride):
    # 2 threads on fewer than 16 planes split every plane into row blocks
    fastconv.set_num_threads(threads)
    check(rng, dtype, shape, 7, 5, stride=stride, padding=(3, 2), mode="reflect", rpc=True,
          cpc=True, kind=("sym", "sym"))
    check(rng, dtype, shape, 4, 3, stride=stride, padding=((2, 1), (0, 0)), mode="zeros")


@pytest.mark.parametrize("activation", ["relu", "relu6"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_separable_activation(isa, rng, dtype, activation):
    check(rng, dtype, (2, 3, 11, 37), 3, 3, padding=1, mode="circular", rpc=True,
          activation=activation)
    check(rng, dtype, (1, 2, 6, 5), 3, 3, padding=1, activation=activation, bias=False)


def test_separable_nan_propagates(isa):
    x = np.ones((1, 1, 8, 20), np.float32)
    x[0, 0, 4, 10] = np.nan
    y = fastconv.separable_conv2d(x, np.ones(3, np.float32), np.ones(3, np.float32), padding=1,
                                  activation="relu")
    bad = np.isnan(y[0, 0])
    assert bad[3:6, 9:12].all() and bad.sum() == 9


def test_separable_gaussian_blur_sums(isa):
    # a normalised Gaussian keeps a constant image constant with replicate padding
    g = np.exp(-0.5 * ((np.arange(15) - 7) / 3.0) ** 2)
    g /= g.sum()
    x = np.full((1, 3, 30, 50), 2.5)
    y = fastconv.separable_conv2d(x, g, g, padding=7, padding_mode="replicate")
    np.testing.assert_allclose(y, 2.5, rtol=1e-13)
