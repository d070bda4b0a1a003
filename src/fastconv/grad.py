"""Gradients of the convolutions, with ``torch.nn.grad``'s names and
signatures (issue 28, first part): the gradient of ``conv{1,2,3}d`` with
respect to its input and to its weights, computed by fastconv's own forward
kernels.

- The input gradient is the transposed convolution of the output gradient
  with the same weights (the adjoint of the convolution), its output padding
  chosen so that the result has the input's size; input positions no window
  reads get a zero gradient.
- The weight gradient is a C kernel of its own (a GEMM whose reduction runs
  over the images and pixels, on the forward's microkernels; inner products
  for depthwise and small groups), threaded without atomics: the same bits
  for any thread count.

Both accept fastconv's padding forms (ints, tuples, ``(before, after)`` pairs,
``"same"``, ``"valid"``) and zero padding (the other padding modes and the
other ops' gradients are to come).

Examples
--------
>>> import numpy as np
>>> import fastconv as fc
>>> x, w = np.ones((1, 2, 6, 6)), np.ones((4, 2, 3, 3))
>>> g = np.ones((1, 4, 6, 6))              # d(loss)/d(conv2d(x, w, padding=1))
>>> fc.grad.conv2d_input(x.shape, w, g, padding=1).shape
(1, 2, 6, 6)
>>> fc.grad.conv2d_weight(x, w.shape, g, padding=1)[0, 0]
array([[25., 30., 25.],
       [30., 36., 30.],
       [25., 30., 25.]])
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from . import _args, _core
from ._grad_involution import involution2d_input, involution2d_kernel
from ._typing import Activation, ArrayLike, FloatArray, IntOrTuple, Padding, PaddingMode
from .functional import (_conv, _conv_transpose, _pointwise_weight, conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,
                         conv_transpose3d, depthwise_conv2d, pointwise_conv2d, max_pool1d, max_pool2d, max_pool3d,
                         avg_pool1d, avg_pool2d, avg_pool3d)

__all__ = ["conv1d_input", "conv2d_input", "conv3d_input",
           "conv1d_weight", "conv2d_weight", "conv3d_weight", "conv_bias",
           "conv_transpose1d_input", "conv_transpose2d_input", "conv_transpose3d_input",
           "conv_transpose1d_weight", "conv_transpose2d_weight", "conv_transpose3d_weight",
           "depthwise_conv2d_input", "depthwise_conv2d_weight",
           "pointwise_conv2d_input", "pointwise_conv2d_weight",
           "separable_conv2d_backward", "depthwise_separable_conv2d_backward",
           "max_pool1d_input", "max_pool2d_input", "max_pool3d_input",
           "avg_pool1d_input", "avg_pool2d_input", "avg_pool3d_input",
           "max_unpool2d_input", "global_avg_pool_input",
           "involution2d_input", "involution2d_kernel",
           "activation_backward", "Gradients", "layer_backward"]

_CONV = {1: conv1d, 2: conv2d, 3: conv3d}
_CONVT = {1: conv_transpose1d, 2: conv_transpose2d, 3: conv_transpose3d}
_MAXPOOL = {1: max_pool1d, 2: max_pool2d, 3: max_pool3d}
_AVGPOOL = {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}


def _size(v: Sequence[int], name: str, lengths: tuple[int, ...]) -> tuple[int, ...]:
    """input_size / weight_size: a sequence of ints of one of the lengths."""
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        raise TypeError(f"{name} must be a sequence of ints, got {type(v).__name__}")
    t = tuple(_args.int_arg(s, name, minimum=0) for s in v)
    if len(t) not in lengths:
        raise ValueError(f"{name} must have {' or '.join(map(str, lengths))} entries, got {t}")
    return t


def _geometry(nd, in_spatial, kernel, stride, padding, dilation):
    stride = _args.tuple_arg(stride, nd, "stride", minimum=1)
    dilation = _args.tuple_arg(dilation, nd, "dilation", minimum=1)
    pad0, pad1 = _args.resolve_padding(padding, nd, in_spatial, kernel, stride, dilation)
    out = _args.conv_out_size(in_spatial, kernel, stride, dilation, pad0, pad1)
    return stride, dilation, pad0, pad1, tuple(out)


def _check_gy(gy, N, C_out, out, nd):
    want = (N, C_out) + out
    if gy.shape != want:
        raise ValueError(f"grad_output must have shape {want} (the convolution's output), got {gy.shape}")


def _input_grad(nd, input_size, weight, grad_output, stride, padding, dilation, groups):
    w = _args.as_float_array(weight, "weight")
    gy = _args.as_float_array(grad_output, "grad_output")
    _args.common_dtype(weight=w, grad_output=gy)
    if w.ndim != nd + 2:
        raise ValueError(f"weight must have {nd + 2} dims (C_out, C_in/groups, k...), got {w.shape}")
    size = _size(input_size, "input_size", (nd + 2, nd))   # the shape, or its spatial part
    spatial = size[-nd:]
    g = _args.int_arg(groups, "groups", minimum=1)
    kernel = w.shape[2:]
    if gy.ndim != nd + 2:
        raise ValueError(f"grad_output must have {nd + 2} dims (N, C_out, ...), got {gy.shape}")
    N, C_in = gy.shape[0], (size[1] if len(size) == nd + 2 else w.shape[1] * g)
    if w.shape[0] % g or C_in != w.shape[1] * g:
        raise ValueError(f"weight {w.shape} does not fit groups={g} and {C_in} input channels")
    stride, dilation, pad0, pad1, out = _geometry(nd, spatial, kernel, stride, padding, dilation)
    _check_gy(gy, N, w.shape[0], out, nd)
    if g > 1 and all(d * (k - 1) >= max(a, b) for d, k, a, b in zip(dilation, kernel, pad0, pad1)):
        return _input_grad_flipped(nd, gy, w, g, spatial, out, stride, dilation, pad0)
    # the transposed convolution's natural size, and the rows it leaves out
    base = tuple((o - 1) * s - p0 - p1 + d * (k - 1) + 1
                 for o, s, p0, p1, d, k in zip(out, stride, pad0, pad1, dilation, kernel))
    extra = tuple(i - b for i, b in zip(spatial, base))
    op = tuple(min(e, max(s, d) - 1) for e, s, d in zip(extra, stride, dilation))
    pads = tuple(zip(pad0, pad1))
    gx = _CONVT[nd](gy, w, None, stride, pads, op, g, dilation)
    if gx.shape[2:] != spatial:      # input rows past every window: zero gradient
        full = np.zeros((N, C_in) + spatial, gx.dtype)
        full[(slice(None), slice(None)) + tuple(slice(0, n) for n in gx.shape[2:])] = gx
        gx = full
    return gx


def _input_grad_flipped(nd, gy, w, g, spatial, out, stride, dilation, pad0):
    """The input gradient of a grouped (or depthwise) convolution as a forward
    convolution, whose kernels are far faster than the transposed ones for
    groups: the output gradient (spread by the stride, zeros between)
    correlated with the flipped kernels, each group's input and output
    channels swapped, padded by the kernel's span less the forward's padding."""
    N, C_out = gy.shape[:2]
    cog, cig, kernel = C_out // g, w.shape[1], w.shape[2:]
    wf = w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    wf = np.ascontiguousarray(wf.reshape((g, cog, cig) + kernel).swapaxes(1, 2)
                              .reshape((g * cig, cog) + kernel))
    if any(s > 1 for s in stride):
        spread = np.zeros((N, C_out) + tuple((o - 1) * s + 1 for o, s in zip(out, stride)), gy.dtype)
        spread[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = gy
        gy = spread
    # before: the span less the padding; after: what makes the result the
    # input's size (rows no window read get zeros)
    pads = tuple((d * (k - 1) - a, i - n + a)
                 for d, k, a, i, n in zip(dilation, kernel, pad0, spatial, gy.shape[2:]))
    return _CONV[nd](gy, wf, None, 1, pads, dilation, g)


# output pixels up to which one image's depthwise weight gradient runs as a
# forward convolution (_weight_grad)
_DW_AS_CONV_PIXELS = 28 * 28


def _weight_grad(nd, x, weight_size, grad_output, stride, padding, dilation, groups):
    xa = _args.as_float_array(x, "input")
    gy = _args.as_float_array(grad_output, "grad_output")
    _args.common_dtype(input=xa, grad_output=gy)
    if xa.ndim != nd + 2:
        raise ValueError(f"input must have {nd + 2} dims (N, C_in, ...), got {xa.shape}")
    size = _size(weight_size, "weight_size", (nd + 2,))
    g = _args.int_arg(groups, "groups", minimum=1)
    N, C_in = xa.shape[:2]
    C_out, cig, kernel = size[0], size[1], size[2:]
    if C_out % g or cig * g != C_in:
        raise ValueError(f"weight_size {size} does not fit groups={g} and input {xa.shape}")
    stride, dilation, pad0, pad1, out = _geometry(nd, xa.shape[2:], kernel, stride, padding, dilation)
    _check_gy(gy, N, C_out, out, nd)
    if g == C_in == C_out and N == 1 and int(np.prod(out)) <= _DW_AS_CONV_PIXELS:
        # one image of a depthwise layer on a small plane: a depthwise forward
        # convolution of x with each channel's output gradient as its kernel
        # (at stride `dilation` and dilation `stride`), on the forward's
        # channel-blocked kernel; the C kernel's per-plane copies cost more
        # there (960@7: 0.06 against 0.31 ms, 576@14: 0.11 against 0.28 ms,
        # 192@28: 0.16 against 0.19 ms, 144@56: 0.54 against 0.36 ms, 2 threads)
        r = _CONV[nd](xa, gy.reshape((C_out, 1) + out), None, dilation, tuple(zip(pad0, pad1)), stride, g)
        r = r[(slice(None), slice(None)) + tuple(slice(0, k) for k in kernel)]
        return np.ascontiguousarray(r.reshape(size))
    lift = lambda t, fill: (fill,) * (3 - nd) + tuple(t)  # noqa: E731
    desc = ((N, C_in, C_out, g) + lift(xa.shape[2:], 1) + lift(out, 1) + lift(kernel, 1) + lift(stride, 1)
            + lift(dilation, 1) + lift(pad0, 0) + lift(pad1, 0) + (0, 0))
    gw = np.empty(size, xa.dtype)
    _core.conv_grad_weight(desc, np.ascontiguousarray(xa), np.ascontiguousarray(gy), gw)
    return gw


# numpy.pad's names for torch's padding modes (numpy's "reflect" leaves the edge
# out, as torch's does)
_NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _mode_name(padding_mode: object) -> str:
    code = _args.choice_arg(padding_mode, _args.PAD_MODES, "padding_mode")
    return next(k for k, v in _args.PAD_MODES.items() if v == code)


def _mode_pads(nd, spatial, kernel, stride, padding, dilation, mode):
    """The (before, after) padding of a non-zero mode, checked as the forward checks it."""
    stride = _args.tuple_arg(stride, nd, "stride", minimum=1)
    dilation = _args.tuple_arg(dilation, nd, "dilation", minimum=1)
    pad0, pad1 = _args.resolve_padding(padding, nd, spatial, kernel, stride, dilation)
    _args.check_pad_mode(_args.PAD_MODES[mode], spatial, pad0, pad1)
    return pad0, pad1


def _at(ax, s):
    return (slice(None),) * ax + (s,)


def _fold_padding(gp, pad0, pad1, mode):
    """The adjoint of padding by ``mode``: each padded position's gradient added
    to the input position it copies (whole slices, one spatial axis at a time)."""
    g = gp
    for d, (p0, p1) in enumerate(zip(pad0, pad1)):
        ax = 2 + d
        n = g.shape[ax] - p0 - p1
        core = g[_at(ax, slice(p0, p0 + n))].copy()
        left, right = g[_at(ax, slice(0, p0))], g[_at(ax, slice(p0 + n, None))]
        if mode == "circular":       # pad[i] = x[n - p0 + i], pad[p0 + n + j] = x[j]
            core[_at(ax, slice(n - p0, n))] += left
            core[_at(ax, slice(0, p1))] += right
        elif mode == "reflect":      # pad[i] = x[p0 - i], pad[p0 + n + j] = x[n - 2 - j]
            core[_at(ax, slice(1, p0 + 1))] += np.flip(left, ax)
            core[_at(ax, slice(n - 1 - p1, n - 1))] += np.flip(right, ax)
        else:                        # replicate: the edge repeated
            core[_at(ax, slice(0, 1))] += left.sum(axis=ax, keepdims=True)
            core[_at(ax, slice(n - 1, n))] += right.sum(axis=ax, keepdims=True)
        g = core
    return g


def _moded_input(nd, input_size, weight, grad_output, stride, padding, dilation, groups, padding_mode):
    mode = _mode_name(padding_mode)
    if mode == "zeros":
        return _input_grad(nd, input_size, weight, grad_output, stride, padding, dilation, groups)
    w = _args.as_float_array(weight, "weight")
    size = _size(input_size, "input_size", (nd + 2,))
    if w.ndim != nd + 2:
        raise ValueError(f"weight must have {nd + 2} dims (C_out, C_in/groups, k...), got {w.shape}")
    pad0, pad1 = _mode_pads(nd, size[2:], w.shape[2:], stride, padding, dilation, mode)
    padded = size[:2] + tuple(i + a + b for i, a, b in zip(size[2:], pad0, pad1))
    gp = _input_grad(nd, padded, w, grad_output, stride, 0, dilation, groups)
    return _fold_padding(gp, pad0, pad1, mode)


def _moded_weight(nd, x, weight_size, grad_output, stride, padding, dilation, groups, padding_mode):
    mode = _mode_name(padding_mode)
    if mode == "zeros":
        return _weight_grad(nd, x, weight_size, grad_output, stride, padding, dilation, groups)
    xa = _args.as_float_array(x, "input")
    size = _size(weight_size, "weight_size", (nd + 2,))
    if xa.ndim != nd + 2:
        raise ValueError(f"input must have {nd + 2} dims (N, C_in, ...), got {xa.shape}")
    pad0, pad1 = _mode_pads(nd, xa.shape[2:], size[2:], stride, padding, dilation, mode)
    xp = np.pad(xa, ((0, 0), (0, 0)) + tuple(zip(pad0, pad1)), mode=_NP_MODE[mode])
    return _weight_grad(nd, xp, size, grad_output, stride, 0, dilation, groups)


def conv1d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike, stride: IntOrTuple = 1,
                 padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
                 padding_mode: PaddingMode = "zeros") -> FloatArray:
    """The gradient of :func:`fastconv.conv1d` with respect to its input, as
    ``torch.nn.grad.conv1d_input``: ``input_size`` the input's shape
    ``(N, C_in, L)``, ``weight`` ``(C_out, C_in/groups, k)``, ``grad_output``
    ``(N, C_out, L_out)``; returns ``(N, C_in, L)``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> w = np.ones((4, 2, 3))
    >>> fc.grad.conv1d_input((1, 2, 8), w, np.ones((1, 4, 8)), padding=1)[0, 0]
    array([ 8., 12., 12., 12., 12., 12., 12.,  8.])
    """
    return _moded_input(1, input_size, weight, grad_output, stride, padding, dilation, groups, padding_mode)


def conv2d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike, stride: IntOrTuple = 1,
                 padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
                 padding_mode: PaddingMode = "zeros") -> FloatArray:
    """The gradient of :func:`fastconv.conv2d` with respect to its input, as
    ``torch.nn.grad.conv2d_input`` (shapes as in :func:`conv1d_input`, two
    spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv2d_input((1, 3, 9, 9), np.ones((8, 3, 3, 3)), np.ones((1, 8, 4, 4)),
    ...                      stride=2).shape
    (1, 3, 9, 9)
    """
    return _moded_input(2, input_size, weight, grad_output, stride, padding, dilation, groups, padding_mode)


def conv3d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike, stride: IntOrTuple = 1,
                 padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
                 padding_mode: PaddingMode = "zeros") -> FloatArray:
    """The gradient of :func:`fastconv.conv3d` with respect to its input, as
    ``torch.nn.grad.conv3d_input`` (three spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv3d_input((1, 2, 4, 4, 4), np.ones((3, 2, 3, 3, 3)),
    ...                      np.ones((1, 3, 4, 4, 4)), padding=1).shape
    (1, 2, 4, 4, 4)
    """
    return _moded_input(3, input_size, weight, grad_output, stride, padding, dilation, groups, padding_mode)


def conv1d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike, stride: IntOrTuple = 1,
                  padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
                 padding_mode: PaddingMode = "zeros") -> FloatArray:
    """The gradient of :func:`fastconv.conv1d` with respect to its weights, as
    ``torch.nn.grad.conv1d_weight``: ``input`` ``(N, C_in, L)``,
    ``weight_size`` ``(C_out, C_in/groups, k)``, ``grad_output``
    ``(N, C_out, L_out)``; returns an array of ``weight_size``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv1d_weight(np.ones((2, 1, 5)), (1, 1, 3), np.ones((2, 1, 3)))
    array([[[6., 6., 6.]]])
    """
    return _moded_weight(1, input, weight_size, grad_output, stride, padding, dilation, groups, padding_mode)


def conv2d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike, stride: IntOrTuple = 1,
                  padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
                 padding_mode: PaddingMode = "zeros") -> FloatArray:
    """The gradient of :func:`fastconv.conv2d` with respect to its weights, as
    ``torch.nn.grad.conv2d_weight`` (two spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv2d_weight(np.ones((1, 4, 6, 6)), (4, 1, 3, 3), np.ones((1, 4, 6, 6)),
    ...                       padding=1, groups=4)[0, 0]
    array([[25., 30., 25.],
           [30., 36., 30.],
           [25., 30., 25.]])
    """
    return _moded_weight(2, input, weight_size, grad_output, stride, padding, dilation, groups, padding_mode)


def conv3d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike, stride: IntOrTuple = 1,
                  padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
                 padding_mode: PaddingMode = "zeros") -> FloatArray:
    """The gradient of :func:`fastconv.conv3d` with respect to its weights, as
    ``torch.nn.grad.conv3d_weight`` (three spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv3d_weight(np.ones((1, 2, 4, 4, 4)), (3, 2, 3, 3, 3),
    ...                       np.ones((1, 3, 2, 2, 2))).shape
    (3, 2, 3, 3, 3)
    """
    return _moded_weight(3, input, weight_size, grad_output, stride, padding, dilation, groups, padding_mode)


# -- bias ---------------------------------------------------------------------

def conv_bias(grad_output: ArrayLike) -> FloatArray:
    """The gradient of any convolution's (or pooling-free layer's) bias: the
    output gradient summed over every axis but the channels' (axis 1, the
    ``(N, C, ...)`` layout).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv_bias(np.ones((2, 3, 4, 4)))
    array([32., 32., 32.])
    """
    gy = _args.as_float_array(grad_output, "grad_output")
    if gy.ndim < 2:
        raise ValueError(f"grad_output must have at least 2 dims (N, C, ...), got {gy.shape}")
    return gy.sum(axis=(0,) + tuple(range(2, gy.ndim)))


# -- transposed convolution -----------------------------------------------------

def _t_geometry(nd, name, in_spatial, out_spatial, kernel, stride, padding, output_padding, dilation):
    """Check a transposed convolution's sizes: ``out_spatial`` must be what
    conv_transpose gives for ``in_spatial`` (so that the conv of the output
    gradient has the input's size)."""
    s = _args.tuple_arg(stride, nd, "stride", minimum=1)
    d = _args.tuple_arg(dilation, nd, "dilation", minimum=1)
    op = _args.tuple_arg(output_padding, nd, "output_padding", minimum=0)
    pad0, pad1 = _args.resolve_padding(padding, nd, in_spatial, kernel, s, d)
    want = tuple((i - 1) * si - a - b + di * (k - 1) + o + 1
                 for i, si, a, b, di, k, o in zip(in_spatial, s, pad0, pad1, d, kernel, op))
    if tuple(out_spatial) != want:
        raise ValueError(f"{name}'s spatial size {tuple(out_spatial)} is not the transposed "
                         f"convolution's output size {want}")
    return tuple(zip(pad0, pad1))


def _t_input(nd, input_size, weight, grad_output, stride, padding, output_padding, groups, dilation):
    w = _args.as_float_array(weight, "weight")
    gy = _args.as_float_array(grad_output, "grad_output")
    size = _size(input_size, "input_size", (nd + 2, nd))
    if w.ndim != nd + 2 or gy.ndim != nd + 2:
        raise ValueError(f"weight and grad_output must have {nd + 2} dims, got {w.shape} and {gy.shape}")
    pads = _t_geometry(nd, "grad_output", size[-nd:], gy.shape[2:], w.shape[2:], stride, padding,
                       output_padding, dilation)
    gx = _CONV[nd](gy, w, None, stride, pads, dilation, groups)
    if len(size) == nd + 2 and gx.shape != size:
        raise ValueError(f"input_size {size} does not fit weight {w.shape}, groups={groups} and "
                         f"grad_output {gy.shape}")
    return gx


def _t_weight(nd, x, weight_size, grad_output, stride, padding, output_padding, groups, dilation):
    xa = _args.as_float_array(x, "input")
    gy = _args.as_float_array(grad_output, "grad_output")
    size = _size(weight_size, "weight_size", (nd + 2,))
    if xa.ndim != nd + 2 or gy.ndim != nd + 2:
        raise ValueError(f"input and grad_output must have {nd + 2} dims, got {xa.shape} and {gy.shape}")
    pads = _t_geometry(nd, "grad_output", xa.shape[2:], gy.shape[2:], size[2:], stride, padding,
                       output_padding, dilation)
    # the transposed convolution is the adjoint of conv(., w): its weight
    # gradient is that convolution's, the roles of input and output swapped
    return _weight_grad(nd, gy, size, xa, stride, pads, dilation, groups)


def conv_transpose1d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike,
                           stride: IntOrTuple = 1, padding: Padding = 0, output_padding: IntOrTuple = 0,
                           groups: int = 1, dilation: IntOrTuple = 1) -> FloatArray:
    """The gradient of :func:`fastconv.conv_transpose1d` with respect to its
    input (a convolution of ``grad_output`` with the same weights):
    ``weight`` ``(C_in, C_out/groups, k)``, ``grad_output`` the transposed
    convolution's output gradient ``(N, C_out, L_out)``; returns ``input_size``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv_transpose1d_input((1, 2, 4), np.ones((2, 3, 2)), np.ones((1, 3, 8)),
    ...                                stride=2)
    array([[[6., 6., 6., 6.],
            [6., 6., 6., 6.]]])
    """
    return _t_input(1, input_size, weight, grad_output, stride, padding, output_padding, groups, dilation)


def conv_transpose2d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike,
                           stride: IntOrTuple = 1, padding: Padding = 0, output_padding: IntOrTuple = 0,
                           groups: int = 1, dilation: IntOrTuple = 1) -> FloatArray:
    """The gradient of :func:`fastconv.conv_transpose2d` with respect to its
    input (shapes as in :func:`conv_transpose1d_input`, two spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv_transpose2d_input((1, 4, 5, 5), np.ones((4, 2, 4, 4)),
    ...                                np.ones((1, 2, 10, 10)), stride=2, padding=1).shape
    (1, 4, 5, 5)
    """
    return _t_input(2, input_size, weight, grad_output, stride, padding, output_padding, groups, dilation)


def conv_transpose3d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike,
                           stride: IntOrTuple = 1, padding: Padding = 0, output_padding: IntOrTuple = 0,
                           groups: int = 1, dilation: IntOrTuple = 1) -> FloatArray:
    """The gradient of :func:`fastconv.conv_transpose3d` with respect to its
    input (three spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv_transpose3d_input((1, 2, 3, 3, 3), np.ones((2, 1, 2, 2, 2)),
    ...                                np.ones((1, 1, 6, 6, 6)), stride=2).shape
    (1, 2, 3, 3, 3)
    """
    return _t_input(3, input_size, weight, grad_output, stride, padding, output_padding, groups, dilation)


def conv_transpose1d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike,
                            stride: IntOrTuple = 1, padding: Padding = 0, output_padding: IntOrTuple = 0,
                            groups: int = 1, dilation: IntOrTuple = 1) -> FloatArray:
    """The gradient of :func:`fastconv.conv_transpose1d` with respect to its
    weights ``(C_in, C_out/groups, k)``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv_transpose1d_weight(np.ones((1, 1, 3)), (1, 1, 2), np.ones((1, 1, 4)))
    array([[[3., 3.]]])
    """
    return _t_weight(1, input, weight_size, grad_output, stride, padding, output_padding, groups, dilation)


def conv_transpose2d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike,
                            stride: IntOrTuple = 1, padding: Padding = 0, output_padding: IntOrTuple = 0,
                            groups: int = 1, dilation: IntOrTuple = 1) -> FloatArray:
    """The gradient of :func:`fastconv.conv_transpose2d` with respect to its
    weights (two spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv_transpose2d_weight(np.ones((1, 4, 5, 5)), (4, 2, 4, 4),
    ...                                 np.ones((1, 2, 10, 10)), stride=2, padding=1).shape
    (4, 2, 4, 4)
    """
    return _t_weight(2, input, weight_size, grad_output, stride, padding, output_padding, groups, dilation)


def conv_transpose3d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike,
                            stride: IntOrTuple = 1, padding: Padding = 0, output_padding: IntOrTuple = 0,
                            groups: int = 1, dilation: IntOrTuple = 1) -> FloatArray:
    """The gradient of :func:`fastconv.conv_transpose3d` with respect to its
    weights (three spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.conv_transpose3d_weight(np.ones((1, 2, 3, 3, 3)), (2, 1, 2, 2, 2),
    ...                                 np.ones((1, 1, 6, 6, 6)), stride=2).shape
    (2, 1, 2, 2, 2)
    """
    return _t_weight(3, input, weight_size, grad_output, stride, padding, output_padding, groups, dilation)


# -- depthwise, pointwise, separable, depthwise-separable ------------------------

def _dw_groups(C_in, weight_shape, name):
    if len(weight_shape) != 4 or weight_shape[1] != 1 or C_in == 0 or weight_shape[0] % C_in:
        raise ValueError(f"{name} must have shape (C * m, 1, kH, kW) with C={C_in} the input's "
                         f"channels, got {tuple(weight_shape)}")
    return C_in


def depthwise_conv2d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike,
                           stride: IntOrTuple = 1, padding: Padding = 0,
                           dilation: IntOrTuple = 1) -> FloatArray:
    """The gradient of :func:`fastconv.depthwise_conv2d` with respect to its
    input ``(N, C, H, W)``; ``weight`` ``(C * m, 1, kH, kW)``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.depthwise_conv2d_input((1, 2, 4, 4), np.ones((2, 1, 3, 3)),
    ...                                np.ones((1, 2, 4, 4)), padding=1)[0, 0]
    array([[4., 6., 6., 4.],
           [6., 9., 9., 6.],
           [6., 9., 9., 6.],
           [4., 6., 6., 4.]])
    """
    size = _size(input_size, "input_size", (4,))
    g = _dw_groups(size[1], np.shape(weight), "weight")
    return _input_grad(2, size, weight, grad_output, stride, padding, dilation, g)


def depthwise_conv2d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike,
                            stride: IntOrTuple = 1, padding: Padding = 0,
                            dilation: IntOrTuple = 1) -> FloatArray:
    """The gradient of :func:`fastconv.depthwise_conv2d` with respect to its
    weights ``(C * m, 1, kH, kW)``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.depthwise_conv2d_weight(np.ones((1, 2, 4, 4)), (2, 1, 3, 3),
    ...                                 np.ones((1, 2, 2, 2)))[1, 0]
    array([[4., 4., 4.],
           [4., 4., 4.],
           [4., 4., 4.]])
    """
    g = _dw_groups(np.shape(input)[1] if np.ndim(input) == 4 else 0,
                   _size(weight_size, "weight_size", (4,)), "weight_size")
    return _weight_grad(2, input, weight_size, grad_output, stride, padding, dilation, g)


def _pw_shape(weight_size):
    size = _size(weight_size, "weight_size", (2, 4))
    if len(size) == 4 and size[2:] != (1, 1):
        raise ValueError(f"weight_size must be (C_out, C_in) or (C_out, C_in, 1, 1), got {size}")
    return size


def pointwise_conv2d_input(input_size: Sequence[int], weight: ArrayLike,
                           grad_output: ArrayLike) -> FloatArray:
    """The gradient of :func:`fastconv.pointwise_conv2d` with respect to its
    input: ``weight``'s transpose applied to every pixel of ``grad_output``
    ``(N, C_out, H, W)``; returns ``input_size`` ``(N, C_in, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.pointwise_conv2d_input((1, 3, 2, 2), np.ones((4, 3)), np.ones((1, 4, 2, 2)))[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    w = _pointwise_weight(weight)
    size = _size(input_size, "input_size", (4,))
    gy = _args.as_float_array(grad_output, "grad_output")
    if gy.ndim != 4 or gy.shape[1] != w.shape[0] or size != (gy.shape[0], w.shape[1]) + gy.shape[2:]:
        raise ValueError(f"input_size {size}, weight {w.shape} and grad_output {gy.shape} do not fit")
    return pointwise_conv2d(gy, np.ascontiguousarray(w.T))


def pointwise_conv2d_weight(input: ArrayLike, weight_size: Sequence[int],
                            grad_output: ArrayLike) -> FloatArray:
    """The gradient of :func:`fastconv.pointwise_conv2d` with respect to its
    weight, of ``weight_size`` (``(C_out, C_in)`` or ``(C_out, C_in, 1, 1)``).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.pointwise_conv2d_weight(np.ones((2, 3, 2, 2)), (4, 3), np.ones((2, 4, 2, 2)))
    array([[8., 8., 8.],
           [8., 8., 8.],
           [8., 8., 8.],
           [8., 8., 8.]])
    """
    size = _pw_shape(weight_size)
    r = _weight_grad(2, input, size[:2] + (1, 1), grad_output, 1, 0, 1, 1)
    return r.reshape(size)


def _outer_kernel(row, col, C, dtype):
    """The (C, 1, kH, kW) kernels outer(col[c], row[c]) of a separable filter."""
    r = np.broadcast_to(row, (C, row.shape[-1]))
    c = np.broadcast_to(col, (C, col.shape[-1]))
    return np.ascontiguousarray((c[:, :, None] * r[:, None, :])[:, None].astype(dtype, copy=False))


def separable_conv2d_backward(x: ArrayLike, row: ArrayLike, col: ArrayLike, grad_output: ArrayLike,
                              stride: IntOrTuple = 1, padding: Padding = 0, *,
                              padding_mode: PaddingMode = "zeros") -> dict[str, FloatArray]:
    """The gradients of :func:`fastconv.separable_conv2d` (without its
    activation) with respect to ``x``, ``row``, ``col`` and the bias, as a dict
    with those keys; ``row`` and ``col`` keep their shapes (a kernel shared by
    every channel gets the sum over the channels).

    The filter is the depthwise convolution with the kernels
    ``outer(col[c], row[c])``: the input gradient is that convolution's, and
    the two 1-D kernels' gradients contract its kernel gradient with the other
    1-D kernel.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 2, 6, 6))
    >>> g = fc.grad.separable_conv2d_backward(x, np.ones(3), np.ones(3), np.ones((1, 2, 4, 4)))
    >>> g["x"].shape, g["row"], g["bias"]
    ((1, 2, 6, 6), array([96., 96., 96.]), array([16., 16.]))
    """
    xa = _args.as_float_array(x, "x")
    if xa.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {xa.shape}")
    C = xa.shape[1]
    r, _ = _args.kernel_1d(row, C, "row", xa.dtype)
    c, _ = _args.kernel_1d(col, C, "col", xa.dtype)
    _args.common_dtype(x=xa, row=r, col=c)
    k2 = _outer_kernel(r, c, C, xa.dtype)
    kw = dict(stride=stride, padding=padding, dilation=1, groups=C, padding_mode=padding_mode)
    gx = _moded_input(2, xa.shape, k2, grad_output, *kw.values())
    gk = _moded_weight(2, xa, k2.shape, grad_output, *kw.values())[:, 0]      # (C, kH, kW)
    cb = np.broadcast_to(c, (C, c.shape[-1]))
    rb = np.broadcast_to(r, (C, r.shape[-1]))
    grow = np.einsum("cij,ci->cj", gk, cb)
    gcol = np.einsum("cij,cj->ci", gk, rb)
    if r.ndim == 1:
        grow = grow.sum(axis=0)
    if c.ndim == 1:
        gcol = gcol.sum(axis=0)
    return {"x": gx, "row": grow, "col": gcol, "bias": conv_bias(grad_output)}


def _activation_mask(h, act):
    """d act / d z at the activation's output h, for the depthwise stage's
    activations (relu, relu6) whose derivative the output gives."""
    if act is None:
        return None
    if act == "relu":
        return h > 0
    if act == "relu6":
        return (h > 0) & (h < 6)
    raise ValueError(f"depthwise_activation must be None, 'relu' or 'relu6', got {act!r}")


def depthwise_separable_conv2d_backward(x: ArrayLike, depthwise_weight: ArrayLike,
                                        pointwise_weight: ArrayLike, grad_output: ArrayLike,
                                        depthwise_bias: ArrayLike | None = None,
                                        stride: IntOrTuple = 1, padding: Padding = 0,
                                        dilation: IntOrTuple = 1, *,
                                        depthwise_activation: Literal["relu", "relu6"] | None = None
                                        ) -> dict[str, FloatArray]:
    """The gradients of :func:`fastconv.depthwise_separable_conv2d` (without
    its final activation) with respect to ``x``, both weights and both biases,
    as a dict with the keys ``x``, ``depthwise_weight``, ``pointwise_weight``,
    ``depthwise_bias``, ``pointwise_bias``.

    The depthwise stage's result is recomputed (one depthwise call; the
    forward never stores it), then the pointwise gradients, the depthwise
    activation's mask and the depthwise gradients.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 4, 6, 6))
    >>> g = fc.grad.depthwise_separable_conv2d_backward(
    ...     x, np.ones((4, 1, 3, 3)), np.ones((8, 4)), np.ones((1, 8, 6, 6)), padding=1,
    ...     depthwise_activation="relu6")
    >>> g["pointwise_weight"].shape, float(g["pointwise_weight"][0, 0])
    ((8, 4), 208.0)
    """
    xa = _args.as_float_array(x, "x")
    pw = _pointwise_weight(pointwise_weight, "pointwise_weight")
    dw = _args.as_float_array(depthwise_weight, "depthwise_weight")
    if xa.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {xa.shape}")
    act = depthwise_activation
    _activation_mask(np.zeros(0), act)
    h = depthwise_conv2d(xa, dw, depthwise_bias, stride, padding, dilation, activation=act)
    gy = _args.as_float_array(grad_output, "grad_output")
    gh = pointwise_conv2d_input(h.shape, pw, gy)
    gpw = pointwise_conv2d_weight(h, pw.shape, gy).reshape(np.shape(pointwise_weight))
    mask = _activation_mask(h, act)
    if mask is not None:
        gh *= mask
    gx = depthwise_conv2d_input(xa.shape, dw, gh, stride, padding, dilation)
    gdw = depthwise_conv2d_weight(xa, dw.shape, gh, stride, padding, dilation)
    return {"x": gx, "depthwise_weight": gdw, "pointwise_weight": gpw,
            "depthwise_bias": conv_bias(gh), "pointwise_bias": conv_bias(gy)}


# -- pooling --------------------------------------------------------------------

def _pool_gy(grad_output, spec):
    gy = _args.as_float_array(grad_output, "grad_output")
    want = spec.out_shape if spec.batched else spec.out_shape[1:]
    if gy.shape != tuple(want):
        raise ValueError(f"grad_output must have the pooling's output shape {tuple(want)}, got {gy.shape}")
    if gy.dtype != spec.dtype:
        raise TypeError(f"grad_output must be of input's dtype {spec.dtype}, got {gy.dtype}")
    return gy


def _max_pool_input(nd, x, grad_output, kernel_size, stride, padding, dilation, ceil_mode, indices):
    spec, _ = _args.pool_spec(x, kernel_size, stride, padding, nd=nd, dilation=dilation,
                              ceil_mode=ceil_mode)
    gy = _pool_gy(grad_output, spec)
    if indices is None:
        _, idx = _MAXPOOL[nd](x, kernel_size, stride, padding, dilation, ceil_mode, True)
    else:
        idx = np.asarray(indices)
        if idx.shape != gy.shape or idx.dtype.kind not in "iu":
            raise ValueError(f"indices must be an integer array of grad_output's shape {gy.shape}, "
                             f"got {idx.dtype} {idx.shape}")
    plane, planes = int(np.prod(spec.in_size)), spec.N * spec.C_in
    # each window's gradient goes to its maximum; windows that share a maximum add up (in C)
    gx = np.empty((planes, plane), spec.dtype)
    _core.max_pool_backward(np.ascontiguousarray(gy).reshape(planes, -1),
                            np.ascontiguousarray(idx, dtype=np.int64).reshape(planes, -1), gx)
    return gx.reshape(np.shape(x))


def _avg_pool_input(nd, input_size, grad_output, kernel_size, stride, padding, ceil_mode,
                    count_include_pad, divisor_override):
    size = _size(input_size, "input_size", (nd + 1, nd + 2))
    gy0 = _args.as_float_array(grad_output, "grad_output")
    probe = np.lib.stride_tricks.as_strided(np.zeros(1, gy0.dtype), size, (0,) * len(size))
    spec, _ = _args.pool_spec(probe, kernel_size, stride, padding, nd=nd, ceil_mode=ceil_mode)
    gy = _pool_gy(gy0, spec)
    k, s, p = spec.kernel, spec.stride, spec.pad0
    # each output's divisor, from pooling one plane of ones: the window's sum over
    # the ones (its count of real inputs) divided by the average the pooling takes
    ones = np.ones((1, 1) + tuple(spec.in_size), spec.dtype)
    count = _AVGPOOL[nd](ones, k, s, p, ceil_mode, True, 1)
    mean = _AVGPOOL[nd](ones, k, s, p, ceil_mode, count_include_pad, divisor_override)
    scale = (mean / count).astype(spec.dtype)
    g = (gy.reshape((spec.N * spec.C_in, 1) + tuple(spec.out_size)) * scale[0])
    # every input in a window gets the window's gradient times 1/divisor: a
    # transposed convolution with a kernel of ones, the padding cut before the
    # input; after it, the result is cut or extended to the input's size (the
    # last window may end before the padding or reach past it)
    gx = _CONVT[nd](np.ascontiguousarray(g), np.ones((1, 1) + tuple(k), spec.dtype), None, s,
                    tuple((pi, 0) for pi in p), 0, 1, 1)
    full = np.zeros((spec.N * spec.C_in, 1) + tuple(spec.in_size), spec.dtype)
    common = tuple(slice(0, min(a, b)) for a, b in zip(gx.shape[2:], spec.in_size))
    full[(slice(None), slice(None)) + common] = gx[(slice(None), slice(None)) + common]
    return full.reshape(size)


def max_pool1d_input(input: ArrayLike, grad_output: ArrayLike, kernel_size: IntOrTuple,
                     stride: IntOrTuple | None = None, padding: IntOrTuple = 0, dilation: IntOrTuple = 1,
                     ceil_mode: bool = False, *, indices: ArrayLike | None = None) -> FloatArray:
    """The gradient of :func:`fastconv.max_pool1d` with respect to its input:
    each window's gradient added to the position of its maximum (``indices``
    as ``max_pool1d(..., return_indices=True)`` gives them; recomputed from
    ``input`` when not given).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.max_pool1d_input(np.array([[[1., 3., 2., 0.]]]), np.ones((1, 1, 3)), 2, 1)
    array([[[0., 2., 1., 0.]]])
    """
    return _max_pool_input(1, input, grad_output, kernel_size, stride, padding, dilation, ceil_mode, indices)


def max_pool2d_input(input: ArrayLike, grad_output: ArrayLike, kernel_size: IntOrTuple,
                     stride: IntOrTuple | None = None, padding: IntOrTuple = 0, dilation: IntOrTuple = 1,
                     ceil_mode: bool = False, *, indices: ArrayLike | None = None) -> FloatArray:
    """The gradient of :func:`fastconv.max_pool2d` with respect to its input
    (as :func:`max_pool1d_input`, two spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.arange(16.).reshape(1, 1, 4, 4)
    >>> fc.grad.max_pool2d_input(x, np.ones((1, 1, 2, 2)), 2)[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """
    return _max_pool_input(2, input, grad_output, kernel_size, stride, padding, dilation, ceil_mode, indices)


def max_pool3d_input(input: ArrayLike, grad_output: ArrayLike, kernel_size: IntOrTuple,
                     stride: IntOrTuple | None = None, padding: IntOrTuple = 0, dilation: IntOrTuple = 1,
                     ceil_mode: bool = False, *, indices: ArrayLike | None = None) -> FloatArray:
    """The gradient of :func:`fastconv.max_pool3d` with respect to its input
    (three spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.arange(8.).reshape(1, 1, 2, 2, 2)
    >>> fc.grad.max_pool3d_input(x, np.ones((1, 1, 1, 1, 1)), 2).ravel()
    array([0., 0., 0., 0., 0., 0., 0., 1.])
    """
    return _max_pool_input(3, input, grad_output, kernel_size, stride, padding, dilation, ceil_mode, indices)


def avg_pool1d_input(input_size: Sequence[int], grad_output: ArrayLike, kernel_size: IntOrTuple,
                     stride: IntOrTuple | None = None, padding: IntOrTuple = 0, ceil_mode: bool = False,
                     count_include_pad: bool = True, divisor_override: int | None = None) -> FloatArray:
    """The gradient of :func:`fastconv.avg_pool1d` with respect to its input of
    shape ``input_size``: each window's gradient divided by the window's
    divisor and spread over its inputs.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.avg_pool1d_input((1, 1, 4), np.ones((1, 1, 3)), 2, 1)
    array([[[0.5, 1. , 1. , 0.5]]])
    """
    return _avg_pool_input(1, input_size, grad_output, kernel_size, stride, padding, ceil_mode,
                           count_include_pad, divisor_override)


def avg_pool2d_input(input_size: Sequence[int], grad_output: ArrayLike, kernel_size: IntOrTuple,
                     stride: IntOrTuple | None = None, padding: IntOrTuple = 0, ceil_mode: bool = False,
                     count_include_pad: bool = True, divisor_override: int | None = None) -> FloatArray:
    """The gradient of :func:`fastconv.avg_pool2d` with respect to its input
    (as :func:`avg_pool1d_input`, two spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.avg_pool2d_input((1, 1, 4, 4), np.ones((1, 1, 2, 2)), 2)[0, 0]
    array([[0.25, 0.25, 0.25, 0.25],
           [0.25, 0.25, 0.25, 0.25],
           [0.25, 0.25, 0.25, 0.25],
           [0.25, 0.25, 0.25, 0.25]])
    """
    return _avg_pool_input(2, input_size, grad_output, kernel_size, stride, padding, ceil_mode,
                           count_include_pad, divisor_override)


def avg_pool3d_input(input_size: Sequence[int], grad_output: ArrayLike, kernel_size: IntOrTuple,
                     stride: IntOrTuple | None = None, padding: IntOrTuple = 0, ceil_mode: bool = False,
                     count_include_pad: bool = True, divisor_override: int | None = None) -> FloatArray:
    """The gradient of :func:`fastconv.avg_pool3d` with respect to its input
    (three spatial dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.avg_pool3d_input((1, 1, 2, 2, 2), np.ones((1, 1, 1, 1, 1)), 2).ravel()
    array([0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125])
    """
    return _avg_pool_input(3, input_size, grad_output, kernel_size, stride, padding, ceil_mode,
                           count_include_pad, divisor_override)


def max_unpool2d_input(grad_output: ArrayLike, indices: ArrayLike) -> FloatArray:
    """The gradient of :func:`fastconv.max_unpool2d` with respect to its input:
    ``grad_output`` ``(N, C, H_out, W_out)`` read at ``indices`` (the
    unpooling's positions in each plane), of the indices' shape.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> g = np.arange(16.).reshape(1, 1, 4, 4)
    >>> fc.grad.max_unpool2d_input(g, np.array([[[[5, 7], [13, 15]]]]))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    gy = _args.as_float_array(grad_output, "grad_output")
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu" or idx.ndim != gy.ndim or idx.ndim not in (3, 4) \
            or idx.shape[:-2] != gy.shape[:-2]:
        raise ValueError(f"indices must be an integer array (N, C, H, W) matching grad_output "
                         f"{gy.shape}'s batch and channels, got {idx.dtype} {idx.shape}")
    plane = gy.shape[-2] * gy.shape[-1]
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        raise ValueError(f"indices must lie in [0, {plane}) (positions in a grad_output plane)")
    flat = gy.reshape(gy.shape[:-2] + (plane,))
    return np.take_along_axis(flat, idx.reshape(idx.shape[:-2] + (-1,)).astype(np.intp), -1) \
        .reshape(idx.shape)


def global_avg_pool_input(input_size: Sequence[int], grad_output: ArrayLike) -> FloatArray:
    """The gradient of :func:`fastconv.global_avg_pool` (channels first) with
    respect to its input: ``grad_output`` ``(N, C)`` or ``(N, C, 1, ...)``
    spread evenly over each plane of ``input_size``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.global_avg_pool_input((1, 2, 2, 2), np.array([[4., 8.]]))[0, 1]
    array([[2., 2.],
           [2., 2.]])
    """
    size = _size(input_size, "input_size", (3, 4, 5))
    gy = _args.as_float_array(grad_output, "grad_output")
    if gy.size != size[0] * size[1] or gy.shape[:2] != size[:2]:
        raise ValueError(f"grad_output must have shape {size[:2]} (or with ones after), got {gy.shape}")
    n = int(np.prod(size[2:]))
    g = gy.reshape(size[:2] + (1,) * (len(size) - 2)) / max(n, 1)
    return np.ascontiguousarray(np.broadcast_to(g, size).astype(gy.dtype, copy=False))


# -- activations and the layer objects -------------------------------------------

class Gradients(NamedTuple):
    """What a layer's ``backward`` returns: the gradients with respect to the
    layer's input, its weight, its bias (``None`` without a bias) and the
    residual it was called with (``None`` without one), each of the shape of
    what it is the gradient of."""

    input: FloatArray
    weight: FloatArray
    bias: FloatArray | None
    residual: FloatArray | None


# the activations whose derivative their output gives as well as their input
_FROM_OUTPUT = {None, "relu", "relu6"}


def activation_backward(z: ArrayLike, grad_output: ArrayLike, activation: Activation) -> FloatArray:
    """The gradient through a fused activation: ``grad_output * act'(z)``,
    ``z`` the pre-activation (``conv + bias + residual``), with torch's
    conventions at the kinks; ``activation`` as the ops take it
    (``"relu"``, ``("leaky_relu", slope)``, ``"gelu"``, ...). Computed in C.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> fc.grad.activation_backward(np.array([-1., 0.5, 7.]), np.ones(3), "relu6")
    array([0., 1., 0.])
    """
    code, alpha = _args.activation_arg(activation)
    za = _args.as_float_array(z, "z")
    gy = _args.as_float_array(grad_output, "grad_output")
    _args.common_dtype(z=za, grad_output=gy)
    if za.shape != gy.shape:
        raise ValueError(f"z and grad_output must have one shape, got {za.shape} and {gy.shape}")
    out = np.empty(za.shape, za.dtype)
    _core.act_backward(np.ascontiguousarray(za), np.ascontiguousarray(gy), out, code, alpha)
    return out


def _channels_first(a, nd, lay):
    return a if not lay or a is None else np.ascontiguousarray(np.moveaxis(a, -1, 1))


def _channels_back(a, lay):
    return a if not lay or a is None else np.ascontiguousarray(np.moveaxis(a, 1, -1))


def layer_backward(layer: Any, x: ArrayLike, grad_output: ArrayLike, *, residual: ArrayLike | None = None,
                   output: ArrayLike | None = None) -> Gradients:
    """The backward of a :class:`fastconv.Conv1d`/``2d``/``3d`` or
    ``ConvTranspose1d``/``2d``/``3d`` layer called on ``x`` (what the layers'
    ``backward`` method runs; see there)."""
    from .layers import _ConvNd, _ConvTransposeNd
    nd, lay = layer._nd, _args.layout_arg(layer.layout)
    transposed = isinstance(layer, _ConvTransposeNd)
    if not transposed and not isinstance(layer, _ConvNd):
        raise TypeError(f"layer must be a fastconv convolution layer, got {type(layer).__name__}")
    xa = _args.as_float_array(x, "x")
    gy = _args.as_float_array(grad_output, "grad_output")
    _args.common_dtype(x=xa, grad_output=gy, weight=layer.weight)
    batched = xa.ndim == nd + 2
    if xa.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"x must have {nd + 2} dims (or {nd + 1} unbatched), got {xa.shape}")
    # the forward's output shape checks grad_output (and every argument) as the call would
    probe = np.lib.stride_tricks.as_strided(np.zeros(1, xa.dtype), xa.shape, (0,) * xa.ndim)
    if transposed:
        spec = _args.conv_transpose_spec(nd, probe, layer.weight, layer.bias, layer.stride,
                                         layer.padding, layer.output_padding, layer.groups,
                                         layer.dilation, layer.activation, layer.layout)[0]
    else:
        spec = layer._spec(probe)[0]
    if gy.shape != tuple(spec.out_shape):
        raise ValueError(f"grad_output must have the layer's output shape {tuple(spec.out_shape)}, "
                         f"got {gy.shape}")
    rb = None if residual is None else _args.check_residual(residual, spec)
    act = layer.activation
    if act is not None:
        if output is not None and act in _FROM_OUTPUT:
            z = _args.as_float_array(output, "output")
            if z.shape != gy.shape:
                raise ValueError(f"output must have grad_output's shape {gy.shape}, got {z.shape}")
        else:            # the pre-activation, recomputed: one forward call
            if transposed:
                z = _conv_transpose(nd, xa, layer.weight, layer.bias, layer.stride, layer.padding,
                                    layer.output_padding, layer.groups, layer.dilation, None, None,
                                    residual, layer.layout)
            else:
                z = _conv(nd, xa, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation,
                          layer.groups, layer.padding_mode, "auto", None, None, residual, layer.layout)
        gy = activation_backward(z, gy, act)
    gres = None if rb is None else gy.copy()
    # channels first and batched from here
    xb = _channels_first(xa if batched else xa[None], nd, lay)
    gb = _channels_first(gy if batched else gy[None], nd, lay)
    w = layer.weight
    if transposed:
        kw = (layer.stride, tuple(zip(spec.pad0, spec.pad1)), layer.output_padding,
              layer.groups, layer.dilation)
        gx = _t_input(nd, xb.shape, w, gb, *kw)
        gw = _t_weight(nd, xb, w.shape, gb, *kw)
    else:
        pads = tuple(zip(spec.pad0, spec.pad1))
        mode = layer.padding_mode
        gx = _moded_input(nd, xb.shape, w, gb, layer.stride, pads, layer.dilation, layer.groups, mode)
        gw = _moded_weight(nd, xb, w.shape, gb, layer.stride, pads, layer.dilation, layer.groups, mode)
    gx = _channels_back(gx, lay)
    gbias = None if layer.bias is None else conv_bias(gb)
    return Gradients(gx if batched else gx[0], gw, gbias, gres)
