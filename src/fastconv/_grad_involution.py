"""The gradients of :func:`fastconv.involution2d` (issue 28, second part),
exposed from :mod:`fastconv.grad`.

Both are C kernels on the involution's own strips (``impl/involution_grad.inc``):
no unfold buffer, threaded over (image, group, block of rows), each result
summed by one thread in a fixed order (the same bits for any thread count).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _args, _core
from ._typing import ArrayLike, FloatArray, IntOrTuple, Layout, Padding

__all__ = ["involution2d_input", "involution2d_kernel"]


def _geometry(N, C, H, W, kernel_size, stride, padding, dilation):
    """The forward's geometry checks (functional._involution_spec), without its kernel."""
    K = _args.int_arg(kernel_size, "kernel_size", minimum=1)
    stride = _args.tuple_arg(stride, 2, "stride", minimum=1)
    dilation = _args.tuple_arg(dilation, 2, "dilation", minimum=1)
    if padding is None:
        padding = tuple(d * (K - 1) // 2 for d in dilation)
    pad0, pad1 = _args.resolve_padding(padding, 2, (H, W), (K, K), stride, dilation)
    osz = _args.conv_out_size((H, W), (K, K), stride, dilation, pad0, pad1, what="kernel_size",
                              planes=N * C)
    stride = _args.moving_stride(stride, osz, (H, W), pad0, pad1,
                                 [d * (K - 1) + 1 for d in dilation])
    dilation = dilation if K > 1 else (1, 1)
    return K, stride, dilation, pad0, pad1, osz


def _spec(N, C, G, H, W, geom, dtype, lay):
    K, stride, dilation, pad0, pad1, osz = geom
    return _args.ConvSpec(2, True, N, C, C, G, (H, W), osz, (K, K), stride, dilation,
                          pad0, pad1, 0, 0, 0, dtype, 0.0, lay)


def _check_gy(gy, N, C, osz, lay):
    want = (N, *osz, C) if lay else (N, C, *osz)
    if gy.shape != want:
        raise ValueError(f"grad_output must have shape {want} (the involution's output), got {gy.shape}")


def _kernel_shape(N, G, K, osz, lay):
    return (N, *osz, G, K * K) if lay else (N, G, K * K, *osz)


def involution2d_input(input_size: Sequence[int], kernel: ArrayLike, grad_output: ArrayLike,
                       kernel_size: int, stride: IntOrTuple = 1, padding: Padding | None = None,
                       dilation: IntOrTuple = 1, *, layout: Layout | None = None) -> FloatArray:
    """The gradient of :func:`fastconv.involution2d` with respect to its input ``x``.

    ``gx[n, c, p] = sum of kernel[n, g, ky*K + kx, i, j] * grad_output[n, c, i, j]``
    over the outputs ``(i, j)`` and taps ``(ky, kx)`` that read input position
    ``p = (i*stride + ky*dilation - pad, j*stride + kx*dilation - pad)``
    (``g = c // (C // G)``); input positions no tap reads get zero.

    Parameters
    ----------
    input_size : sequence of int
        The input's shape ``(N, C, H, W)`` (or ``(N, H, W, C)`` channels last).
    kernel : array_like
        The kernel the forward used: ``(N, G, K*K, H_out, W_out)`` (channels last
        ``(N, H_out, W_out, G, K*K)``); float32 or float64.
    grad_output : array_like
        The gradient of the loss with respect to the involution's output
        ``(N, C, H_out, W_out)`` (or channels last); of ``kernel``'s dtype.
    kernel_size : int
        K.
    stride, padding, dilation
        As for :func:`fastconv.involution2d` (``padding=None``:
        ``dilation * (K - 1) // 2``; zero padding of any form).
    layout : str, optional
        ``None``/``"NCHW"`` or ``"NHWC"``: every array channels last.

    Returns
    -------
    numpy.ndarray
        ``input_size``, of ``kernel``'s dtype.

    Raises
    ------
    TypeError
        An array not float32 or float64, ``kernel`` and ``grad_output`` of two
        dtypes, or ``input_size`` not a sequence of ints.
    ValueError
        A shape that does not fit (the message names the argument), an
        argument out of its range.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> kernel = np.ones((1, 2, 9, 4, 4))            # G=2, K=3
    >>> gx = fc.grad.involution2d_input((1, 4, 4, 4), kernel, np.ones((1, 4, 4, 4)), 3)
    >>> gx.shape, gx[0, 0]
    ((1, 4, 4, 4), array([[4., 6., 6., 4.],
           [6., 9., 9., 6.],
           [6., 9., 9., 6.],
           [4., 6., 6., 4.]]))
    """
    ka = _args.as_float_array(kernel, "kernel")
    gy = _args.as_float_array(grad_output, "grad_output")
    dtype = _args.common_dtype(kernel=ka, grad_output=gy)
    lay = _args.layout_arg(layout)
    if isinstance(input_size, (str, bytes)) or not hasattr(input_size, "__len__"):
        raise TypeError(f"input_size must be a sequence of ints, got {type(input_size).__name__}")
    size = tuple(_args.int_arg(s, "input_size", minimum=0) for s in input_size)
    if len(size) != 4:
        raise ValueError(f"input_size must have 4 entries {'(N, H, W, C)' if lay else '(N, C, H, W)'}, "
                         f"got {size}")
    N, C, (H, W) = _args.channels_split(np.broadcast_to(np.zeros((), dtype), size), lay)
    geom = _geometry(N, C, H, W, kernel_size, stride, padding, dilation)
    K, osz = geom[0], geom[5]
    if ka.ndim == 5:
        G, kk, ksz = (ka.shape[3], ka.shape[4], ka.shape[1:3]) if lay else \
            (ka.shape[1], ka.shape[2], ka.shape[3:])
    if ka.ndim != 5 or ka.shape[0] != N or kk != K * K or tuple(ksz) != tuple(osz):
        want = (f"(N={N}, H_out={osz[0]}, W_out={osz[1]}, G, K*K={K * K})" if lay else
                f"(N={N}, G, K*K={K * K}, H_out={osz[0]}, W_out={osz[1]})")
        raise ValueError(f"kernel must have shape {want}, got {ka.shape}")
    if G < 1 or C % G:
        raise ValueError(f"kernel's group count G={G} must divide the channels C={C}")
    _check_gy(gy, N, C, osz, lay)
    _args.check_size(size, "the input gradient")
    gx = np.empty(size, dtype)
    spec = _spec(N, C, G, H, W, geom, dtype, lay)
    if gx.size == 0:
        return gx
    if spec.empty:
        gx[...] = 0
        return gx
    _core.involution_grad_input(spec.c_desc(), ka, gy, gx)
    return gx


def involution2d_kernel(input: ArrayLike, grad_output: ArrayLike, kernel_size: int, groups: int,
                        stride: IntOrTuple = 1, padding: Padding | None = None,
                        dilation: IntOrTuple = 1, *, layout: Layout | None = None) -> FloatArray:
    """The gradient of :func:`fastconv.involution2d` with respect to its (generated) kernel.

    ``gk[n, g, ky*K + kx, i, j] = sum over the channels c of group g of
    grad_output[n, c, i, j] * xpad[n, c, i*stride + ky*dilation, j*stride + kx*dilation]``.

    Parameters
    ----------
    input : array_like
        The forward's ``x``: ``(N, C, H, W)`` (or ``(N, H, W, C)``), float32 or float64.
    grad_output : array_like
        ``(N, C, H_out, W_out)`` (or channels last), of ``input``'s dtype.
    kernel_size : int
        K.
    groups : int
        G, the kernel's group count; must divide C.
    stride, padding, dilation
        As for :func:`fastconv.involution2d`.
    layout : str, optional
        ``None``/``"NCHW"`` or ``"NHWC"``: every array channels last.

    Returns
    -------
    numpy.ndarray
        ``(N, G, K*K, H_out, W_out)`` (channels last ``(N, H_out, W_out, G, K*K)``),
        of ``input``'s dtype.

    Raises
    ------
    TypeError
        An array not float32 or float64, or two dtypes.
    ValueError
        A shape that does not fit (the message names the argument), ``groups``
        not dividing C, an argument out of its range.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 4, 4, 4))
    >>> gk = fc.grad.involution2d_kernel(x, np.ones((1, 4, 4, 4)), 3, groups=2)
    >>> gk.shape, gk[0, 0, :, 0, 0]                  # the taps of the corner output
    ((1, 2, 9, 4, 4), array([0., 0., 0., 0., 2., 2., 0., 2., 2.]))
    """
    xa = _args.as_float_array(input, "input")
    gy = _args.as_float_array(grad_output, "grad_output")
    dtype = _args.common_dtype(input=xa, grad_output=gy)
    lay = _args.layout_arg(layout)
    if xa.ndim != 4:
        raise ValueError(f"input must have shape {'(N, H, W, C)' if lay else '(N, C, H, W)'}, "
                         f"got {xa.shape}")
    N, C, (H, W) = _args.channels_split(xa, lay)
    G = _args.int_arg(groups, "groups", minimum=1)
    if C % G:
        raise ValueError(f"groups={G} must divide the channels C={C}")
    geom = _geometry(N, C, H, W, kernel_size, stride, padding, dilation)
    K, osz = geom[0], geom[5]
    _check_gy(gy, N, C, osz, lay)
    shape = _kernel_shape(N, G, K, osz, lay)
    _args.check_size(shape, "the kernel gradient")
    gk = np.empty(shape, dtype)
    spec = _spec(N, C, G, H, W, geom, dtype, lay)
    if gk.size == 0:
        return gk
    if C == 0:
        gk[...] = 0
        return gk
    _core.involution_grad_kernel(spec.c_desc(), xa, gy, gk)
    return gk
