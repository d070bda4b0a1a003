"""Gradients of the convolutions, with ``torch.nn.grad``'s names and
signatures (issue 28, first part): the gradient of ``conv{1,2,3}d`` with
respect to its input and to its weights, computed by fastconv's own forward
kernels.

- The input gradient is the transposed convolution of the output gradient
  with the same weights (the adjoint of the convolution), its output padding
  chosen so that the result has the input's size; input positions no window
  reads get a zero gradient.
- The weight gradient is a (grouped) convolution too: the input, its images
  taken as channels, correlated with the output gradient, its images taken as
  input channels, at stride ``dilation`` and dilation ``stride``; ``C_in /
  groups`` images of ``groups * N`` channels give the ``(C_in/groups, C_out, k)``
  result.

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

import numpy as np

from . import _args
from ._grad_involution import involution2d_input, involution2d_kernel
from ._typing import ArrayLike, FloatArray, IntOrTuple, Padding
from .functional import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d

__all__ = ["conv1d_input", "conv2d_input", "conv3d_input",
           "conv1d_weight", "conv2d_weight", "conv3d_weight",
           "involution2d_input", "involution2d_kernel"]

_CONV = {1: conv1d, 2: conv2d, 3: conv3d}
_CONVT = {1: conv_transpose1d, 2: conv_transpose2d, 3: conv_transpose3d}


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
    cog = C_out // g
    sp = tuple(xa.shape[2:])
    # images as channels: x' (cig, g*N, spatial), gy' (g*cog, N, out)
    xt = np.ascontiguousarray(xa.reshape((N, g, cig) + sp).swapaxes(0, 2).reshape((cig, g * N) + sp))
    gt = np.ascontiguousarray(gy.reshape((N, g, cog) + out).transpose((1, 2, 0) + tuple(range(3, nd + 3)))
                              .reshape((g * cog, N) + out))
    # k' >= k positions (the rows past the last window's reach make k' > k): cut to k
    pads = tuple(zip(pad0, pad1))
    r = _CONV[nd](xt, gt, None, dilation, pads, stride, g)   # (cig, C_out, k' ...)
    r = r[(slice(None), slice(None)) + tuple(slice(0, k) for k in kernel)]
    return np.ascontiguousarray(r.swapaxes(0, 1))


def conv1d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike, stride: IntOrTuple = 1,
                 padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> FloatArray:
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
    return _input_grad(1, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv2d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike, stride: IntOrTuple = 1,
                 padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> FloatArray:
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
    return _input_grad(2, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv3d_input(input_size: Sequence[int], weight: ArrayLike, grad_output: ArrayLike, stride: IntOrTuple = 1,
                 padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> FloatArray:
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
    return _input_grad(3, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv1d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike, stride: IntOrTuple = 1,
                  padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> FloatArray:
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
    return _weight_grad(1, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv2d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike, stride: IntOrTuple = 1,
                  padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> FloatArray:
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
    return _weight_grad(2, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv3d_weight(input: ArrayLike, weight_size: Sequence[int], grad_output: ArrayLike, stride: IntOrTuple = 1,
                  padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> FloatArray:
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
    return _weight_grad(3, input, weight_size, grad_output, stride, padding, dilation, groups)
