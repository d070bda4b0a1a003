"""The public functions: each validates into a spec, then calls one C entry."""
from __future__ import annotations

import math

import numpy as np

from typing import Any, Literal, Sequence, overload

from . import _args, _core, _docs
from ._args import check_out, check_residual, conv_spec, conv_transpose_spec
from ._core import Plan
from ._typing import (Activation, ActivationName, Algorithm, ArrayLike, FloatArray, IndexArray, IntOrTuple,
                      Layout, Padding, PaddingMode)

__all__ = [
    "conv_plan", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "depthwise_separable_conv2d",
    "involution2d", "max_pool1d", "max_pool2d", "max_pool3d", "max_unpool2d", "avg_pool1d",
    "avg_pool2d", "avg_pool3d",
]


_ALIGNED_BYTES = 8 << 20   # FC_PWR_STREAM_BYTES (impl/pointwise.inc): outputs stored past the caches


def _empty(shape, dtype):
    """A new array; from 8 MiB on its data starts on a 64-byte boundary (numpy's
    start on 16), which the pointwise tiles' stores past the caches need. Smaller
    ones are plain np.empty: aligning costs 4 us a call, 5% of a 1x1 64->64 @56."""
    dtype = np.dtype(dtype)
    n = math.prod(shape)
    if n * dtype.itemsize < _ALIGNED_BYTES:
        return np.empty(shape, dtype)
    raw = np.empty(n * dtype.itemsize + 64, np.uint8)
    off = -raw.ctypes.data % 64
    return raw[off:off + n * dtype.itemsize].view(dtype).reshape(shape)


def _result(spec, out, *inputs):
    """The output array (out= or a new one) and its batched C-side view."""
    o = check_out(out, spec.out_shape, spec.dtype, *inputs)
    y = _empty(spec.out_shape, spec.dtype) if o is None else o
    return y, (y if spec.batched else y[None])


def _fill_empty(spec, yb, bias, rb=None):
    """Results with a zero-size dimension or no input channel: nothing for the
    kernels to do; the bias, residual and activation are the epilogue's."""
    if yb.size:
        yb[...] = 0
        _core.epilogue(spec.c_desc(), bias, rb, yb)


def _conv(nd, x, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm,
          activation, out, residual=None, layout=None):
    spec, xb, w, b = conv_spec(nd, x, weight, bias, stride, padding, dilation, groups,
                               padding_mode, algorithm, activation, layout)
    rb = check_residual(residual, spec)
    y, yb = _result(spec, out, x, weight, bias)
    if spec.empty or spec.C_in == 0:
        _fill_empty(spec, yb, b, rb)
        return y
    _core.conv(spec.c_desc(), spec.algorithm, xb, w, b, yb, rb)
    return y


def conv_plan(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
              stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
              groups: int = 1, *, padding_mode: PaddingMode = "zeros",
              algorithm: Algorithm = "auto", activation: Activation = None,
              layout: Layout | None = None) -> Plan | None:
    """The plan that ``conv1d``, ``conv2d`` or ``conv3d`` (chosen by ``weight.ndim``)
    runs with these arguments.

    Nothing is computed: the planner in C makes the same decisions as the call
    would and reports them. Printing the plan gives one line: the algorithm,
    the implementation, the ISA level and dtype, the input's preparation, the
    packed weights' size and the reason for the choice.

    Parameters
    ----------
    x, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm, activation, layout
        As for :func:`conv2d` (``x`` may be an array of the input's shape and
        dtype; only its shape and dtype matter).

    Returns
    -------
    Plan or None
        The :class:`Plan`; ``None`` where there is nothing to compute (an empty
        batch, an empty output or no input channel).

    <<para_raises_0>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.zeros((1, 64, 56, 56), np.float32)
    >>> w = np.zeros((64, 64, 3, 3), np.float32)
    >>> plan = fc.conv_plan(x, w, padding=1, algorithm="direct")
    >>> plan.algorithm, plan.dtype
    ('direct', 'float32')
    >>> fc.conv_plan(x, w[:, :, :1, :1]).implementation
    'pointwise-pixels'
    >>> print(plan)  # doctest: +ELLIPSIS
    direct -> ... on ... (float32), input: ..., weights: ...; why: ...
    """
    nd = np.ndim(weight) - 2
    if nd not in (1, 2, 3):
        _args.as_float_array(weight, "weight")   # not a float array at all: a TypeError
        raise ValueError(f"weight must have 3, 4 or 5 dims, got shape {np.shape(weight)}")
    spec, _, w, _ = conv_spec(nd, x, weight, bias, stride, padding, dilation, groups,
                              padding_mode, algorithm, activation, layout)
    if spec.empty or spec.C_in == 0:
        return None
    return _core.plan(spec.c_desc(), spec.algorithm, int(spec.dtype.itemsize == 8),
                      oneshot=True, finite=_core.all_finite(w))


def conv1d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: int = 1, *, padding_mode: PaddingMode = "zeros",
           algorithm: Algorithm = "auto", activation: Activation = None,
           residual: ArrayLike | None = None, layout: Layout | None = None,
           out: FloatArray | None = None) -> FloatArray:
    """1-D convolution (cross-correlation, as in deep learning) of ``x`` with ``weight``.

    As ``torch.nn.functional.conv1d``, plus the fused epilogue; the result
    keeps ``x``'s dtype::

        out[n, o, p] = activation(bias[o] + residual[n, o, p] + sum over c, t
                                  of weight[o, c, t] * xpad[n, c, p*stride + t*dilation])

    summed over the input channels ``c`` of output channel ``o``'s group and
    the kernel's taps ``t``; ``xpad`` is ``x`` padded.

    Parameters
    ----------
    <<x>>
    weight : array_like
        ``(C_out, C_in / groups, k)``, of ``x``'s dtype.
    <<bias>>
    stride : int or tuple of 1 int, default 1
        The step of the window; one int for every spatial dimension or one per
        dimension, each >= 1.
    padding : int, tuple or str, default 0
        Zeros (or the ``padding_mode``'s values) added around the input. One of:

        * an int: the same amount before and after every spatial dimension;
        * a tuple of 1 int: one amount per dimension, before and after;
        * a tuple of 1 ``(before, after)`` pairs: asymmetric padding,
          e.g. ``((1, 0),)``;
        * ``"valid"``: no padding;
        * ``"same"``: the output's spatial size is ``ceil(in / stride)``; the
          total padding is split evenly, an odd one's extra element at the end
          (TensorFlow's rule; for stride 1 the output has the input's size, as
          with PyTorch's ``"same"``).
    <<dilation>>
    <<groups>>
    <<padding_mode>>
    <<algorithm>>
    <<activation>>
    <<residual>>
    <<layout>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, L_out)`` (or ``(N, L_out, C_out)`` channels last), of
        ``x``'s dtype, where each output size is
        ``(in + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1``:
        a new array, or ``out``.

    <<para_raises_0>>

    See Also
    --------
    conv_plan : what this call runs, and why.
    Conv1d : the same convolution as a layer object, weights packed once.

    <<para_notes_1>>

    <<para_every_algorithm_gives_th_2>>

    <<para_with_layout_nhwc_dense_a_3>>

    <<para_a_functional_call_packs__4>>

    <<para_the_epilogue_activation__5>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((2, 4, 32), np.float32)            # (N, C_in, L)
    >>> w = np.ones((8, 4, 5), np.float32)             # (C_out, C_in, k)
    >>> fc.conv1d(x, w).shape
    (2, 8, 28)
    >>> fc.conv1d(x, w, padding="same", dilation=2, activation="relu").shape
    (2, 8, 32)
    >>> fc.conv1d(x, w[:, :2], stride=2, padding=((4, 0),), groups=2).shape
    (2, 8, 16)
    """
    return _conv(1, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, activation, out, residual, layout)


def conv2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: int = 1, *, padding_mode: PaddingMode = "zeros",
           algorithm: Algorithm = "auto", activation: Activation = None,
           residual: ArrayLike | None = None, layout: Layout | None = None,
           out: FloatArray | None = None) -> FloatArray:
    """2-D convolution (cross-correlation, as in deep learning) of ``x`` with ``weight``.

    As ``torch.nn.functional.conv2d``, plus the fused epilogue; the result
    keeps ``x``'s dtype::

        out[n, o, p] = activation(bias[o] + residual[n, o, p] + sum over c, t
                                  of weight[o, c, t] * xpad[n, c, p*stride + t*dilation])

    summed over the input channels ``c`` of output channel ``o``'s group and
    the kernel's taps ``t``; ``xpad`` is ``x`` padded.

    Parameters
    ----------
    <<x_2>>
    weight : array_like
        ``(C_out, C_in / groups, kH, kW)``, of ``x``'s dtype.
    <<bias>>
    <<stride>>
    <<padding>>
    <<dilation_2>>
    <<groups>>
    <<padding_mode>>
    <<algorithm>>
    <<activation>>
    <<residual>>
    <<layout_2>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, H_out, W_out)`` (or ``(N, H_out, W_out, C_out)`` channels last), of
        ``x``'s dtype, where each output size is
        ``(in + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1``:
        a new array, or ``out``.

    <<para_raises_0>>

    See Also
    --------
    conv_plan : what this call runs, and why.
    Conv2d : the same convolution as a layer object, weights packed once.

    <<para_notes_1>>

    <<para_every_algorithm_gives_th_2>>

    <<para_with_layout_nhwc_dense_a_3>>

    <<para_a_functional_call_packs__4>>

    <<para_the_epilogue_activation__5>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 3, 16, 16), np.float32)        # (N, C_in, H, W)
    >>> w = np.ones((8, 3, 3, 3), np.float32)          # (C_out, C_in/groups, kH, kW)
    >>> b = np.zeros(8, np.float32)
    >>> fc.conv2d(x, w, b, padding=1).shape
    (1, 8, 16, 16)
    >>> fc.conv2d(x, w, stride=2, padding="same").shape
    (1, 8, 8, 8)
    >>> fc.conv2d(x, w, padding=((1, 0), (2, 1))).shape     # (before, after) per dim
    (1, 8, 15, 17)

    A corner output sees 2 x 2 of the 9 taps in each of the 3 channels:

    >>> y = fc.conv2d(x, w, b, padding=1, activation="relu")
    >>> float(y[0, 0, 0, 0]), float(y[0, 0, 5, 5])
    (12.0, 27.0)

    Padding modes, a forced algorithm, a fused residual, channels last:

    >>> fc.conv2d(x, w, padding=2, padding_mode="reflect", dilation=2).shape
    (1, 8, 16, 16)
    >>> z = fc.conv2d(x, w, padding=1, algorithm="winograd", residual=y)
    >>> round(float(z[0, 0, 5, 5]), 3)       # Winograd: exact within rounding
    54.0
    >>> fc.conv2d(x.transpose(0, 2, 3, 1), w, padding=1, layout="NHWC").shape
    (1, 16, 16, 8)
    >>> out = np.empty((1, 8, 14, 14), np.float32)
    >>> fc.conv2d(x, w, out=out) is out
    True
    """
    return _conv(2, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, activation, out, residual, layout)


def conv3d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: int = 1, *, padding_mode: PaddingMode = "zeros",
           algorithm: Algorithm = "auto", activation: Activation = None,
           residual: ArrayLike | None = None, layout: Layout | None = None,
           out: FloatArray | None = None) -> FloatArray:
    """3-D convolution (cross-correlation, as in deep learning) of ``x`` with ``weight``.

    As ``torch.nn.functional.conv3d``, plus the fused epilogue; the result
    keeps ``x``'s dtype::

        out[n, o, p] = activation(bias[o] + residual[n, o, p] + sum over c, t
                                  of weight[o, c, t] * xpad[n, c, p*stride + t*dilation])

    summed over the input channels ``c`` of output channel ``o``'s group and
    the kernel's taps ``t``; ``xpad`` is ``x`` padded.

    Parameters
    ----------
    <<x_3>>
    weight : array_like
        ``(C_out, C_in / groups, kD, kH, kW)``, of ``x``'s dtype.
    <<bias>>
    stride : int or tuple of 3 ints, default 1
        The step of the window; one int for every spatial dimension or one per
        dimension, each >= 1.
    padding : int, tuple or str, default 0
        Zeros (or the ``padding_mode``'s values) added around the input. One of:

        * an int: the same amount before and after every spatial dimension;
        * a tuple of 3 ints: one amount per dimension, before and after;
        * a tuple of 3 ``(before, after)`` pairs: asymmetric padding,
          e.g. ``((0, 0), (1, 0), (2, 1))``;
        * ``"valid"``: no padding;
        * ``"same"``: the output's spatial size is ``ceil(in / stride)``; the
          total padding is split evenly, an odd one's extra element at the end
          (TensorFlow's rule; for stride 1 the output has the input's size, as
          with PyTorch's ``"same"``).
    <<dilation_3>>
    <<groups>>
    <<padding_mode>>
    <<algorithm>>
    <<activation>>
    <<residual>>
    <<layout_3>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, D_out, H_out, W_out)`` (or ``(N, D_out, H_out, W_out, C_out)``
        channels last), of ``x``'s dtype, where each output size is ``(in +
        pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1``: a new
        array, or ``out``.

    <<para_raises_0>>

    See Also
    --------
    conv_plan : what this call runs, and why.
    Conv3d : the same convolution as a layer object, weights packed once.

    <<para_notes_1>>

    <<para_every_algorithm_gives_th_2>>

    <<para_with_layout_nhwc_dense_a_3>>

    <<para_a_functional_call_packs__4>>

    <<para_the_epilogue_activation__5>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 4, 8, 16, 16), np.float32)     # (N, C_in, D, H, W)
    >>> w = np.ones((8, 4, 3, 3, 3), np.float32)       # (C_out, C_in, kD, kH, kW)
    >>> fc.conv3d(x, w, padding=1).shape
    (1, 8, 8, 16, 16)
    >>> fc.conv3d(x, w, stride=(1, 2, 2), padding=(0, 1, 1), activation="silu").shape
    (1, 8, 6, 8, 8)
    >>> fc.conv3d(x[0], w, padding="same").shape       # unbatched in, unbatched out
    (8, 8, 16, 16)
    """
    return _conv(3, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, activation, out, residual, layout)


def _conv_transpose(nd, x, weight, bias, stride, padding, output_padding, groups, dilation,
                    activation, out, residual=None, layout=None):
    spec, xb, w, b = conv_transpose_spec(nd, x, weight, bias, stride, padding,
                                         output_padding, groups, dilation, activation, layout)
    rb = check_residual(residual, spec)
    y, yb = _result(spec, out, x, weight, bias)
    if spec.empty or spec.C_in == 0 or 0 in spec.in_size:
        _fill_empty(spec, yb, b, rb)
        return y
    _core.conv_transpose(spec.c_desc(), xb, w, b, yb, rb)
    return y


def conv_transpose1d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1, *, activation: Activation = None,
                     residual: ArrayLike | None = None, layout: Layout | None = None,
                     out: FloatArray | None = None) -> FloatArray:
    """Transposed 1-D convolution ("deconvolution": the gradient of conv1d with
    respect to its input), as ``torch.nn.functional.conv_transpose1d``.

    <<para_each_input_value_scatter_6>>

    Parameters
    ----------
    <<x>>
    weight : array_like
        ``(C_in, C_out / groups, k)``: the input channels first, as torch
        keeps them.
    <<bias>>
    stride : int or tuple of 1 int, default 1
        The upsampling factor; one int for every spatial dimension or one per
        dimension, each >= 1.
    padding : int, tuple or str, default 0
        Zeros (or the ``padding_mode``'s values) added around the input. One of:

        * an int: the same amount before and after every spatial dimension;
        * a tuple of 1 int: one amount per dimension, before and after;
        * a tuple of 1 ``(before, after)`` pairs: asymmetric padding,
          e.g. ``((1, 0),)``;
        * ``"valid"``: no padding.

        ``"same"`` is not accepted (a ``ValueError``). The padding removes that
        many outputs at each end (torch's meaning).
    output_padding : int or tuple of 1 int, default 0
        Extra outputs at the end of each dimension, to reach a size that
        several inputs sizes map to at this stride; each must be smaller than
        the stride or the dilation of its dimension (PyTorch's rule).
    <<groups_2>>
    <<dilation>>
    <<activation>>
    <<residual>>
    <<layout>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, L_out)`` (or channels last), of ``x``'s dtype, each
        size ``(in - 1) * stride - pad_before - pad_after + dilation * (k - 1) +
        output_padding + 1``.

    <<para_raises_0>>

    See Also
    --------
    ConvTranspose1d : the same as a layer object, weights packed once.

    Notes
    -----
    With at least 4 output channels per group the result is computed as
    ``stride ** 1`` dense stride-1 convolutions of the input, one per output
    phase, on the direct convolution's register tiles: each output written once,
    no col2im scatter, no multiplication by inserted zeros. Fewer output
    channels per group use a GEMM and col2im, or direct loops. Channels last
    runs channels first between two threaded transposes.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 8, 10), np.float32)
    >>> w = np.ones((8, 4, 4), np.float32)             # (C_in, C_out, k)
    >>> fc.conv_transpose1d(x, w, stride=2, padding=1).shape
    (1, 4, 20)
    """
    return _conv_transpose(1, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, activation, out, residual, layout)


def conv_transpose2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1, *, activation: Activation = None,
                     residual: ArrayLike | None = None, layout: Layout | None = None,
                     out: FloatArray | None = None) -> FloatArray:
    """Transposed 2-D convolution ("deconvolution": the gradient of conv2d with
    respect to its input), as ``torch.nn.functional.conv_transpose2d``.

    <<para_each_input_value_scatter_6>>

    Parameters
    ----------
    <<x_2>>
    weight : array_like
        ``(C_in, C_out / groups, kH, kW)``: the input channels first, as torch
        keeps them.
    <<bias>>
    stride : int or tuple of 2 ints, default 1
        The upsampling factor; one int for every spatial dimension or one per
        dimension, each >= 1.
    padding : int, tuple or str, default 0
        Zeros (or the ``padding_mode``'s values) added around the input. One of:

        * an int: the same amount before and after every spatial dimension;
        * a tuple of 2 ints: one amount per dimension, before and after;
        * a tuple of 2 ``(before, after)`` pairs: asymmetric padding,
          e.g. ``((1, 0), (2, 1))``;
        * ``"valid"``: no padding.

        ``"same"`` is not accepted (a ``ValueError``). The padding removes that
        many outputs at each end (torch's meaning).
    output_padding : int or tuple of 2 ints, default 0
        Extra outputs at the end of each dimension, to reach a size that
        several inputs sizes map to at this stride; each must be smaller than
        the stride or the dilation of its dimension (PyTorch's rule).
    <<groups_2>>
    <<dilation_2>>
    <<activation>>
    <<residual>>
    <<layout_2>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, H_out, W_out)`` (or channels last), of ``x``'s dtype, each
        size ``(in - 1) * stride - pad_before - pad_after + dilation * (k - 1) +
        output_padding + 1``.

    <<para_raises_0>>

    See Also
    --------
    ConvTranspose2d : the same as a layer object, weights packed once.

    Notes
    -----
    With at least 4 output channels per group the result is computed as
    ``stride ** 2`` dense stride-1 convolutions of the input, one per output
    phase, on the direct convolution's register tiles: each output written once,
    no col2im scatter, no multiplication by inserted zeros. Fewer output
    channels per group use a GEMM and col2im, or direct loops. Channels last
    runs channels first between two threaded transposes.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 8, 8, 8), np.float32)          # (N, C_in, H, W)
    >>> w = np.ones((8, 4, 4, 4), np.float32)          # (C_in, C_out/groups, kH, kW)
    >>> fc.conv_transpose2d(x, w, stride=2, padding=1).shape     # DCGAN's 2x upsampling
    (1, 4, 16, 16)
    >>> fc.conv_transpose2d(x, w[:, :, :3, :3], stride=2, padding=1, output_padding=1).shape
    (1, 4, 16, 16)
    >>> fc.conv_transpose2d(x.transpose(0, 2, 3, 1), w, stride=2, padding=1,
    ...                     layout="NHWC").shape
    (1, 16, 16, 4)
    """
    return _conv_transpose(2, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, activation, out, residual, layout)


def conv_transpose3d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1, *, activation: Activation = None,
                     residual: ArrayLike | None = None, layout: Layout | None = None,
                     out: FloatArray | None = None) -> FloatArray:
    """Transposed 3-D convolution ("deconvolution": the gradient of conv3d with
    respect to its input), as ``torch.nn.functional.conv_transpose3d``.

    <<para_each_input_value_scatter_6>>

    Parameters
    ----------
    <<x_3>>
    weight : array_like
        ``(C_in, C_out / groups, kD, kH, kW)``: the input channels first, as torch
        keeps them.
    <<bias>>
    stride : int or tuple of 3 ints, default 1
        The upsampling factor; one int for every spatial dimension or one per
        dimension, each >= 1.
    padding : int, tuple or str, default 0
        Zeros (or the ``padding_mode``'s values) added around the input. One of:

        * an int: the same amount before and after every spatial dimension;
        * a tuple of 3 ints: one amount per dimension, before and after;
        * a tuple of 3 ``(before, after)`` pairs: asymmetric padding,
          e.g. ``((0, 0), (1, 0), (2, 1))``;
        * ``"valid"``: no padding.

        ``"same"`` is not accepted (a ``ValueError``). The padding removes that
        many outputs at each end (torch's meaning).
    output_padding : int or tuple of 3 ints, default 0
        Extra outputs at the end of each dimension, to reach a size that
        several inputs sizes map to at this stride; each must be smaller than
        the stride or the dilation of its dimension (PyTorch's rule).
    <<groups_2>>
    <<dilation_3>>
    <<activation>>
    <<residual>>
    <<layout_3>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, D_out, H_out, W_out)`` (or channels last), of ``x``'s dtype,
        each size ``(in - 1) * stride - pad_before - pad_after + dilation * (k - 1)
        + output_padding + 1``.

    <<para_raises_0>>

    See Also
    --------
    ConvTranspose3d : the same as a layer object, weights packed once.

    Notes
    -----
    With at least 4 output channels per group the result is computed as
    ``stride ** 3`` dense stride-1 convolutions of the input, one per output
    phase, on the direct convolution's register tiles: each output written once,
    no col2im scatter, no multiplication by inserted zeros. Fewer output
    channels per group use a GEMM and col2im, or direct loops. Channels last
    runs channels first between two threaded transposes.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 8, 4, 8, 8), np.float32)
    >>> w = np.ones((8, 4, 2, 2, 2), np.float32)       # (C_in, C_out, kD, kH, kW)
    >>> fc.conv_transpose3d(x, w, stride=2).shape
    (1, 4, 8, 16, 16)
    """
    return _conv_transpose(3, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, activation, out, residual, layout)


# ---------------------------------------------------------------- named cases

def _channels(x, nd=2, lay=0):
    """Channel count of x without copying it (for deriving groups)."""
    shape = np.shape(x)
    if len(shape) not in (nd + 1, nd + 2):
        _args.as_float_array(x, "x")     # not a float array at all: a TypeError
        raise ValueError(f"x must have {nd + 2} dims (N, C, H, W) or {nd + 1} (unbatched), "
                         f"got shape {tuple(shape)}")
    return shape[-1] if lay else shape[-nd - 1]


def depthwise_conv2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                     *, activation: Activation = None, residual: ArrayLike | None = None,
                     layout: Layout | None = None, out: FloatArray | None = None
                     ) -> FloatArray:
    """Depthwise 2-D convolution: every channel filtered by its own kernel(s),
    i.e. :func:`conv2d` with ``groups=C``.

    Parameters
    ----------
    <<x_4>>
    weight : array_like
        ``(C * m, 1, kH, kW)``: ``m`` filters per input channel (the depth
        multiplier, usually 1); output channel ``o`` reads input channel
        ``o // m``.
    bias : array_like, optional
        ``(C * m,)``, added to every output of its channel; of ``x``'s dtype.
    <<stride>>
    <<padding>>
    <<dilation_2>>
    <<activation>>
    <<residual>>
    <<layout_2>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C * m, H_out, W_out)`` (or channels last), as :func:`conv2d`.

    Raises
    ------
    <<typeerror>>
    ValueError
        A shape that does not fit (wrong number of dims, a weight not
        ``(C * m, 1, kH, kW)``, a kernel larger than the padded input), an argument
        out of its range or not among its accepted forms, or a bad ``out``.
        The message names the argument and the value it got.

    Notes
    -----
    Runs on the depthwise kernels: SIMD across 16 channels (AVX-512) or 8
    (AVX2), each strip of rows transposed into a zero-padded tile in cache and
    back; SIMD across pixels when there are fewer than 4 channels and for
    stride-1 3x3 layers on long rows. Channels last: a row kernel with the
    channels in the vector. Zero padding only (use :func:`conv2d` with
    ``groups=C`` for the other padding modes).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 32, 28, 28), np.float32)
    >>> w = np.ones((32, 1, 3, 3), np.float32)
    >>> fc.depthwise_conv2d(x, w, stride=2, padding=1, activation="relu6").shape
    (1, 32, 14, 14)
    >>> float(fc.depthwise_conv2d(x, w, padding=1, activation="relu6")[0, 0, 5, 5])
    6.0
    >>> fc.depthwise_conv2d(x, np.ones((64, 1, 3, 3), np.float32)).shape   # m = 2
    (1, 64, 26, 26)
    """
    C = _depthwise_groups(x, weight, layout)
    return conv2d(x, weight, bias, stride, padding, dilation, C, activation=activation,
                  residual=residual, layout=layout, out=out)


def _depthwise_groups(x, weight, layout, name="weight"):
    """The channel count C of a depthwise call (its groups), weight's shape checked."""
    C = _channels(x, 2, _args.layout_arg(layout))
    wshape = np.shape(weight)
    if len(wshape) != 4 or wshape[1] != 1 or C == 0 or wshape[0] % C:
        _args.as_float_array(weight, name)
        raise ValueError(f"{name} must have shape (C*m, 1, kH, kW) with C={C}, "
                         f"got {tuple(wshape)}")
    return C


def _pointwise_weight(weight, name="weight"):
    w = _args.as_float_array(weight, name)
    if w.ndim == 4 and w.shape[2:] == (1, 1):
        w = w.reshape(w.shape[:2])
    if w.ndim != 2:
        raise ValueError(f"{name} must have shape (C_out, C_in) or (C_out, C_in, 1, 1), "
                         f"got {w.shape}")
    return w


def pointwise_conv2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None, *,
                     activation: Activation = None, residual: ArrayLike | None = None,
                     layout: Layout | None = None, out: FloatArray | None = None
                     ) -> FloatArray:
    """1x1 convolution: a matrix product of ``weight`` with every image's
    ``(C_in, H*W)`` pixels, then the fused epilogue.

    Parameters
    ----------
    <<x_2>>
    weight : array_like
        ``(C_out, C_in)`` or ``(C_out, C_in, 1, 1)``.
    <<bias>>
    <<activation>>
    <<residual>>
    <<layout_2>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, H, W)`` (or ``(N, H, W, C_out)``), of ``x``'s dtype.

    Raises
    ------
    <<typeerror>>
    ValueError
        A shape that does not fit (wrong number of dims, a weight not
        ``(C_out, C_in)`` or ``(C_out, C_in, 1, 1)``), an argument
        out of its range or not among its accepted forms, or a bad ``out``.
        The message names the argument and the value it got.

    Notes
    -----
    Channels first, the image already is the matrix: tiles of output channels
    by pixels on the weights as given, nothing packed, so the functional call
    costs what a layer object's does. Channels last: a GEMM of pixel rows on
    packed weights. Outputs of 8 MiB and more are stored past the caches.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((2, 16, 7, 7), np.float32)
    >>> w = np.full((32, 16), 0.5, np.float32)
    >>> y = fc.pointwise_conv2d(x, w, np.ones(32, np.float32), activation="relu")
    >>> y.shape, float(y[0, 0, 0, 0])
    ((2, 32, 7, 7), 9.0)
    """
    w = _pointwise_weight(weight)
    return conv2d(x, w.reshape(w.shape + (1, 1)), bias, activation=activation, residual=residual,
                  layout=layout, out=out)


def separable_conv2d(x: ArrayLike, row: ArrayLike, col: ArrayLike,
                     bias: ArrayLike | None = None, stride: IntOrTuple = 1,
                     padding: Padding = 0, *, padding_mode: PaddingMode = "zeros",
                     activation: Activation = None, residual: ArrayLike | None = None,
                     layout: Layout | None = None, out: FloatArray | None = None
                     ) -> FloatArray:
    """Spatially separable filter: channel ``c`` is filtered by the 2-D kernel
    ``outer(col[c], row[c])``, computed as two 1-D passes (``kH + kW`` taps per
    output instead of ``kH * kW``).

    Image filters (Gaussian blur, Sobel, box filters) are separable; every
    channel keeps its own output channel.

    Parameters
    ----------
    <<x_4>>
    row : array_like
        The horizontal kernel, ``(kW,)`` shared by every channel or ``(C, kW)``
        one per channel.
    col : array_like
        The vertical kernel, ``(kH,)`` or ``(C, kH)``.
    <<bias_2>>
    <<stride>>
    <<padding>>
    padding_mode : {"zeros", "reflect", "replicate", "circular"}, default "zeros"
        The values of the padding, as ``torch.nn.Conv2d`` defines them: zeros,
        the input mirrored without repeating the edge (the padding must then be
        smaller than the input), the edge repeated, or the input wrapped around
        (padding at most the input's size). Every mode runs without a padded
        copy of the input.
    activation : str, tuple or None, default None
        Applied to ``filter + bias + residual`` as each output is stored (the
        fused epilogue):
        ``None`` (the default), ``"relu"``, ``"relu6"``, ``"leaky_relu"``
        (negative slope 0.01) or ``("leaky_relu", slope)``, ``"hardswish"``,
        ``"sigmoid"``, ``"tanh"``, ``"silu"`` or ``"gelu"`` (the erf form), as
        torch defines them; a NaN passes through each.
    <<residual>>
    layout : str, optional
        ``None``, ``"NCHW"``, ``"NCL"``, ``"NCDHW"`` or ``"channels_first"``
        (the default: channels first), or ``"NHWC"``, ``"NLC"``, ``"NDHWC"``
        or ``"channels_last"``: ``x``, the residual and the result have their
        channels last, ``(N, H, W, C)`` (computed channels first between two
        threaded transposes). Case-insensitive; the kernels keep their shape.
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C, H_out, W_out)`` (or channels last), of ``x``'s dtype.

    Raises
    ------
    TypeError
        An array that is not float32 or float64 (fastconv never casts), or
        ``x``, ``row``, ``col``, ``bias`` and ``residual`` not of one dtype.
    ValueError
        A shape that does not fit (wrong number of dims, a kernel not
        ``(k,)`` or ``(C, k)``, a kernel larger than the padded input), an argument
        out of its range or not among its accepted forms, or a bad ``out``.
        The message names the argument and the value it got.

    Notes
    -----
    The vertical pass runs first, straight from the input rows into one row
    buffer that stays in L1, then the horizontal pass from it into the output
    with the bias and activation. Symmetric and antisymmetric kernels add the
    mirrored taps first. The result equals ``conv2d`` with ``groups=C`` and
    the outer-product kernels within rounding.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> img = np.ones((1, 3, 64, 64), np.float32)
    >>> g = np.array([1, 4, 6, 4, 1], np.float32) / 16      # a binomial blur
    >>> y = fc.separable_conv2d(img, g, g, padding="same", padding_mode="reflect")
    >>> y.shape, float(y[0, 0, 0, 0])
    ((1, 3, 64, 64), 1.0)
    >>> sobel_x = fc.separable_conv2d(img, np.array([-1, 0, 1], np.float32),
    ...                               np.array([1, 2, 1], np.float32), padding=1)
    >>> float(abs(sobel_x[0, 0, 10, 10]))
    0.0
    """
    spec, xb, r, rpc, c, cpc, b = _separable_spec(x, row, col, bias, stride, padding,
                                                   padding_mode, activation, layout)
    rb = check_residual(residual, spec)
    y, yb = _result(spec, out, x, row, col, bias)
    if spec.empty:
        return y
    _core.separable(_unfused(spec, rb), xb, r, rpc, c, cpc, b, yb)
    _epilogue_after(spec, rb, yb)
    return y


def _separable_spec(x, row, col, bias, stride, padding, padding_mode, activation, layout):
    """Validate a separable filter: (spec, x batched, row, row per channel,
    col, col per channel, bias)."""
    xa = _args.as_float_array(x, "x")
    lay = _args.layout_arg(layout)
    xb, batched = _args.spatial_input(xa, 2)
    N, C, (H, W) = _args.channels_split(xb, lay)
    r, rpc = _args.kernel_1d(row, C, "row", xa.dtype)
    c, cpc = _args.kernel_1d(col, C, "col", xa.dtype)
    b = None if bias is None else _args.as_float_array(bias, "bias")
    _args.common_dtype(x=xa, row=r, col=c, bias=b)
    b = _args.check_bias(b, C)
    kernel = (c.shape[-1], r.shape[-1])
    stride = _args.tuple_arg(stride, 2, "stride", minimum=1)
    pmode = _args.choice_arg(padding_mode, _args.PAD_MODES, "padding_mode")
    act, alpha = _args.activation_arg(activation)
    pad0, pad1 = _args.resolve_padding(padding, 2, (H, W), kernel, stride, (1, 1))
    _args.check_pad_mode(pmode, (H, W), pad0, pad1)
    osz = _args.conv_out_size((H, W), kernel, stride, (1, 1), pad0, pad1, what="kernel",
                              planes=N * C)
    stride = _args.moving_stride(stride, osz, (H, W), pad0, pad1, kernel)
    spec = _args.ConvSpec(2, batched, N, C, C, C, (H, W), osz, kernel, stride, (1, 1),
                          pad0, pad1, pmode, act, 0, xa.dtype, alpha, lay)
    return spec, xb, r, rpc, c, cpc, b


def _unfused(spec, rb):
    """The descriptor for an op whose kernels do not add a residual: without
    its activation when there is one (the epilogue's pass applies both)."""
    d = spec.c_desc()
    return d if rb is None else d[:26] + (0, 0.0) + d[28:]


def _epilogue_after(spec, rb, yb):
    if rb is not None:
        _core.epilogue(spec.c_desc(), None, rb, yb)


def depthwise_separable_conv2d(x: ArrayLike, depthwise_weight: ArrayLike,
                               pointwise_weight: ArrayLike,
                               depthwise_bias: ArrayLike | None = None,
                               pointwise_bias: ArrayLike | None = None,
                               stride: IntOrTuple = 1, padding: Padding = 0,
                               dilation: IntOrTuple = 1, *,
                               depthwise_activation: Literal["relu", "relu6"] | None = None,
                               activation: Activation = None,
                               residual: ArrayLike | None = None,
                               layout: Layout | None = None,
                               out: FloatArray | None = None) -> FloatArray:
    """MobileNet's block in one call: ``pointwise_conv2d(depthwise_conv2d(x, ...), ...)``,
    fused so that the depthwise result is consumed a strip of rows at a time
    and never stored whole.

    Parameters
    ----------
    <<x_4>>
    depthwise_weight : array_like
        ``(C * m, 1, kH, kW)``, as for :func:`depthwise_conv2d`.
    pointwise_weight : array_like
        ``(C_out, C * m)`` or ``(C_out, C * m, 1, 1)``.
    depthwise_bias : array_like, optional
        ``(C * m,)``.
    pointwise_bias : array_like, optional
        ``(C_out,)``.
    stride : int or tuple of 2 ints, default 1
        The depthwise stage's stride; one int for every spatial dimension or one per
        dimension, each >= 1.
    <<padding>>

        The depthwise stage's (zero) padding.
    dilation : int or tuple of 2 ints, default 1
        The depthwise stage's dilation.
    depthwise_activation : {None, "relu", "relu6"}, default None
        The activation after the depthwise stage (MobileNetV2: ``"relu6"``).
    activation : str, tuple or None, default None
        The activation after the pointwise stage and the residual:
        ``None`` (the default), ``"relu"``, ``"relu6"``, ``"leaky_relu"``
        (negative slope 0.01) or ``("leaky_relu", slope)``, ``"hardswish"``,
        ``"sigmoid"``, ``"tanh"``, ``"silu"`` or ``"gelu"`` (the erf form), as
        torch defines them; a NaN passes through each.
    <<residual>>
    <<layout_2>>
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, H_out, W_out)`` (or channels last), of ``x``'s dtype.

    Raises
    ------
    TypeError
        An array that is not float32 or float64 (fastconv never casts), or
        the inputs, weights, biases and ``residual`` not of one dtype.
    ValueError
        A shape that does not fit (wrong number of dims, weights whose
        channels do not match, a kernel larger than the padded input), a
        ``depthwise_activation`` other than None, relu and relu6, an argument
        out of its range or not among its accepted forms, or a bad ``out``.
        The message names the argument and the value it got.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 32, 56, 56), np.float32)
    >>> dw = np.ones((32, 1, 3, 3), np.float32)
    >>> pw = np.ones((64, 32), np.float32)
    >>> y = fc.depthwise_separable_conv2d(x, dw, pw, stride=2, padding=1,
    ...                                   depthwise_activation="relu6")
    >>> y.shape, float(y[0, 0, 5, 5])
    ((1, 64, 28, 28), 192.0)
    """
    spec, full, xb, dw, db, pw, pb = _dwsep_spec(
        x, depthwise_weight, pointwise_weight, depthwise_bias, pointwise_bias, stride,
        padding, dilation, depthwise_activation, activation, layout)
    pact, alpha = full.activation, full.alpha
    rb = check_residual(residual, full)
    y, yb = _result(full, out, x, depthwise_weight, pointwise_weight, depthwise_bias,
                    pointwise_bias)
    if full.empty:
        return y
    d = spec.c_desc()
    _core.dwsep(d[:27] + (alpha,) + d[28:], xb, dw, db, spec.activation, pw, pb,
                0 if rb is not None else pact, yb)
    _epilogue_after(full, rb, yb)
    return y


def _dwsep_spec(x, depthwise_weight, pointwise_weight, depthwise_bias, pointwise_bias, stride,
                padding, dilation, depthwise_activation, activation, layout):
    """Validate a depthwise-separable block: (the depthwise stage's spec, the
    whole block's, x batched, depthwise weight and bias, pointwise weight and bias)."""
    lay = _args.layout_arg(layout)
    _channels(x, 2, lay)
    _args.activation_arg(depthwise_activation, "depthwise_activation")
    C = _depthwise_groups(x, depthwise_weight, layout, "depthwise_weight")
    spec, xb, dw, db = conv_spec(2, x, depthwise_weight, depthwise_bias, stride, padding,
                                 dilation, C, "zeros", "auto", depthwise_activation, layout)
    pw = _pointwise_weight(pointwise_weight, "pointwise_weight")
    pb = None if pointwise_bias is None else _args.as_float_array(pointwise_bias, "pointwise_bias")
    _args.common_dtype(x=xb, pointwise_weight=pw, pointwise_bias=pb)
    if pw.shape[1] != spec.C_out:
        raise ValueError(f"pointwise_weight must have {spec.C_out} input channels (the "
                         f"depthwise output), got shape {pw.shape}")
    pb = _args.check_bias(pb, pw.shape[0], "pointwise_bias")
    if spec.activation > _args.ACTIVATIONS["relu6"]:
        raise ValueError("depthwise_activation must be None, 'relu' or 'relu6' (the fused "
                         f"depthwise stage's); got {depthwise_activation!r}")
    pact, alpha = _args.activation_arg(activation)
    full = _args.ConvSpec(2, spec.batched, spec.N, spec.C_in, pw.shape[0], 1, spec.in_size,
                          spec.out_size, (1, 1), (1, 1), (1, 1), (0, 0), (0, 0), 0, pact, 0,
                          spec.dtype, alpha, lay)
    return spec, full, xb, dw, db, pw, pb


# ---------------------------------------------------------------- involution

_INV_SPECS: dict = {}  # checked involution problems, by shapes, dtypes and int arguments


def _involution_spec(xa, ka, kernel_size, stride, padding, dilation, lay=0):
    dtype = _args.common_dtype(x=xa, kernel=ka)
    if xa.ndim != 4:
        raise ValueError(f"x must have shape {'(N, H, W, C)' if lay else '(N, C, H, W)'}, "
                         f"got {xa.shape}")
    N, C, (H, W) = _args.channels_split(xa, lay)
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
    if ka.ndim == 5:
        G, kk, ksz = (ka.shape[3], ka.shape[4], ka.shape[1:3]) if lay else \
            (ka.shape[1], ka.shape[2], ka.shape[3:])
    if ka.ndim != 5 or ka.shape[0] != N or kk != K * K or ksz != osz:
        want = (f"(N={N}, H_out={osz[0]}, W_out={osz[1]}, G, K*K={K * K})" if lay else
                f"(N={N}, G, K*K={K * K}, H_out={osz[0]}, W_out={osz[1]})")
        raise ValueError(f"kernel must have shape {want}, got {ka.shape}")
    if G < 1 or C % G:
        raise ValueError(f"kernel's group count G={G} must divide the channels C={C}")
    return _args.ConvSpec(2, True, N, C, C, G, (H, W), osz, (K, K), stride, dilation,
                          pad0, pad1, 0, 0, 0, dtype, 0.0, lay)


def involution2d(x: ArrayLike, kernel: ArrayLike, kernel_size: int, stride: IntOrTuple = 1,
                 padding: Padding | None = None, dilation: IntOrTuple = 1, *,
                 bias: ArrayLike | None = None, activation: Activation = None,
                 residual: ArrayLike | None = None, layout: Layout | None = None,
                 out: FloatArray | None = None) -> FloatArray:
    """Involution (Li et al., CVPR 2021): a K x K filter generated for every output
    pixel and channel group, shared by the group's channels.

    ``out[n, c, i, j] = sum over ky, kx of kernel[n, g, ky * K + kx, i, j] *
    xpad[n, c, i * stride + ky * dilation, j * stride + kx * dilation]``, with
    ``g = c // (C // G)`` (the official implementation's grouping), then
    ``activation(involution + bias[c] + residual)``.

    Parameters
    ----------
    x : array_like
        ``(N, C, H, W)`` (or ``(N, H, W, C)`` with ``layout="NHWC"``); float32 or
        float64. Always batched.
    kernel : array_like
        The per-pixel filters: ``(N, G, K * K, H_out, W_out)``, ``G`` dividing
        ``C``; channels last ``(N, H_out, W_out, G, K * K)``. Of ``x``'s dtype.
        :class:`Involution2d` generates it from ``x``.
    kernel_size : int
        K.
    <<stride>>
    padding : int, tuple, str or None, default None
        ``None``: ``dilation * (K - 1) // 2`` per dimension (the output keeps
        the input's size at stride 1); otherwise any form :func:`conv2d`
        takes (int, tuple, ``(before, after)`` pairs, ``"valid"``, ``"same"``),
        zeros only.
    <<dilation_2>>
    <<bias_2>>
    activation : str, tuple or None, default None
        Applied to ``involution + bias + residual`` as each output is stored (the
        fused epilogue):
        ``None`` (the default), ``"relu"``, ``"relu6"``, ``"leaky_relu"``
        (negative slope 0.01) or ``("leaky_relu", slope)``, ``"hardswish"``,
        ``"sigmoid"``, ``"tanh"``, ``"silu"`` or ``"gelu"`` (the erf form), as
        torch defines them; a NaN passes through each.
    <<residual>>
    layout : str, optional
        ``None`` or ``"NCHW"`` (channels first) or ``"NHWC"`` (channels last:
        ``x``, the result and the kernel as above); computed between two
        threaded transposes.
    <<out>>

    Returns
    -------
    numpy.ndarray
        ``(N, C, H_out, W_out)`` (or ``(N, H_out, W_out, C)``), of ``x``'s dtype.

    Raises
    ------
    TypeError
        An array that is not float32 or float64 (fastconv never casts), or
        ``x``, ``kernel``, ``bias`` and ``residual`` not of one dtype.
    ValueError
        A shape that does not fit (``x`` not 4-D, a kernel not of the shape
        given above or whose G does not divide C, K larger than the padded
        input), an argument out of its range or not among its accepted forms,
        or a bad ``out``.
        The message names the argument and the value it got.

    Notes
    -----
    No unfold buffer: per image, group and block of output rows the rows it
    reads are copied into a small zero-padded per-thread strip, then the
    outputs are computed SIMD over pixels, each tap's kernel vector loaded
    once for several channels. Memory is the input, kernel and output plus
    the strip.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 16, 14, 14), np.float32)
    >>> kernel = np.ones((1, 4, 9, 14, 14), np.float32)     # G=4, K=3
    >>> y = fc.involution2d(x, kernel, 3)
    >>> y.shape, float(y[0, 0, 5, 5]), float(y[0, 0, 0, 0])
    ((1, 16, 14, 14), 9.0, 4.0)
    >>> fc.involution2d(x, np.ones((1, 4, 9, 7, 7), np.float32), 3, stride=2).shape
    (1, 16, 7, 7)
    """
    xa = _args.as_float_array(x, "x")
    lay = _args.layout_arg(layout)
    ka = _args.as_float_array(kernel, "kernel")
    # A problem checked once is kept (with its C description) when every
    # argument is a plain int or None, so that the key says all the checks did.
    key = None
    if all(v is None or type(v) is int for v in (kernel_size, stride, padding, dilation)):
        key = (xa.shape, ka.shape, xa.dtype, ka.dtype, kernel_size, stride, padding, dilation, lay)
    hit = _INV_SPECS.get(key) if key is not None else None
    if hit is None:
        spec = _involution_spec(xa, ka, kernel_size, stride, padding, dilation, lay)
        hit = (spec, spec.c_desc())
        if key is not None:
            if len(_INV_SPECS) >= 64:
                _INV_SPECS.clear()
            _INV_SPECS[key] = hit
    spec, desc = hit
    act, alpha = _args.activation_arg(activation)
    b = None if bias is None else _args.check_bias(_args.as_float_array(bias, "bias"), spec.C_in)
    if b is not None:
        _args.common_dtype(x=xa, bias=b)
    rb = check_residual(residual, spec)
    y, _ = _result(spec, out, x, kernel, bias)
    if spec.empty or spec.C_in == 0:
        return y
    epi = desc[:26] + (act, alpha) + desc[28:]
    if b is None and rb is None:
        _core.involution(epi, xa, ka, y)
    else:
        _core.involution(desc, xa, ka, y)
        _core.epilogue(epi, b, rb, y)
    return y


# ---------------------------------------------------------------- pooling

def _max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, layout=None):
    spec, xb = _args.pool_spec(x, kernel_size, stride, padding, nd=nd, dilation=dilation,
                               ceil_mode=ceil_mode, layout=layout)
    y = np.empty(spec.out_shape, spec.dtype)
    idx = np.empty(spec.out_shape, np.int64) if return_indices else None
    if not spec.empty:
        _core.max_pool(spec.c_desc(), xb, y if spec.batched else y[None],
                       None if idx is None else (idx if spec.batched else idx[None]))
    return (y, idx) if return_indices else y


def _avg_pool(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
              layout=None):
    spec, xb = _args.pool_spec(x, kernel_size, stride, padding, nd=nd, ceil_mode=ceil_mode,
                               layout=layout)
    div = 0
    if divisor_override is not None:
        div = _args.int_arg(divisor_override, "divisor_override")
        if div == 0:
            raise ValueError("divisor_override must not be zero")
    y = np.empty(spec.out_shape, spec.dtype)
    if not spec.empty:
        _core.avg_pool(spec.c_desc(), xb, y if spec.batched else y[None], bool(count_include_pad), div)
    return y


@overload
def max_pool1d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               return_indices: Literal[False] = ..., *, layout: Layout | None = ...
               ) -> FloatArray: ...
@overload
def max_pool1d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None,
               padding: IntOrTuple, dilation: IntOrTuple, ceil_mode: bool,
               return_indices: Literal[True], *, layout: Layout | None = ...
               ) -> tuple[FloatArray, IndexArray]: ...
@overload
def max_pool1d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               *, return_indices: Literal[True], layout: Layout | None = ...
               ) -> tuple[FloatArray, IndexArray]: ...
@overload
def max_pool1d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               return_indices: bool = ..., *, layout: Layout | None = ...
               ) -> FloatArray | tuple[FloatArray, IndexArray]: ...
def max_pool1d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False, *, layout: Layout | None = None
               ) -> FloatArray | tuple[FloatArray, IndexArray]:
    """1-D max pooling, with ``torch.nn.functional.max_pool1d``'s arguments and rules.

    A padded position never wins, ties keep the first maximum, and a NaN wins.

    Parameters
    ----------
    <<x_5>>
    <<kernel_size>>
    <<stride_2>>
    <<padding_2>>
    dilation : int or tuple of 1 int, default 1
        The spacing of the window's taps.
    <<ceil_mode>>
    <<return_indices>>
    <<layout_4>>

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        The pooled array of ``x``'s dtype, each output size
        ``(in + 2 * padding - dilation * (k - 1) - 1) // stride + 1`` (rounded
        up under ``ceil_mode``); with ``return_indices=True`` the tuple
        ``(pooled, indices)``, ``indices`` int64 positions of each maximum in
        its ``(n, c)`` row of ``L`` (as torch's).

    <<para_raises_7>>

    <<para_see_also_8>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.arange(8, dtype=np.float32).reshape(1, 1, 8)
    >>> fc.max_pool1d(x, 2)
    array([[[1., 3., 5., 7.]]], dtype=float32)
    >>> fc.max_pool1d(x, 3, 2, ceil_mode=True).shape
    (1, 1, 4)
    """
    return _max_pool(1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     layout)


@overload
def max_pool2d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               return_indices: Literal[False] = ..., *, layout: Layout | None = ...
               ) -> FloatArray: ...
@overload
def max_pool2d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None,
               padding: IntOrTuple, dilation: IntOrTuple, ceil_mode: bool,
               return_indices: Literal[True], *, layout: Layout | None = ...
               ) -> tuple[FloatArray, IndexArray]: ...
@overload
def max_pool2d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               *, return_indices: Literal[True], layout: Layout | None = ...
               ) -> tuple[FloatArray, IndexArray]: ...
@overload
def max_pool2d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               return_indices: bool = ..., *, layout: Layout | None = ...
               ) -> FloatArray | tuple[FloatArray, IndexArray]: ...
def max_pool2d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False, *, layout: Layout | None = None
               ) -> FloatArray | tuple[FloatArray, IndexArray]:
    """2-D max pooling, with ``torch.nn.functional.max_pool2d``'s arguments and rules.

    A padded position never wins, ties keep the first maximum, and a NaN wins.

    Parameters
    ----------
    <<x_6>>
    <<kernel_size_2>>
    <<stride_3>>
    <<padding_3>>
    dilation : int or tuple of 2 ints, default 1
        The spacing of the window's taps.
    <<ceil_mode>>
    <<return_indices>>
    <<layout_5>>

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        The pooled array of ``x``'s dtype, each output size
        ``(in + 2 * padding - dilation * (k - 1) - 1) // stride + 1`` (rounded
        up under ``ceil_mode``); with ``return_indices=True`` the tuple
        ``(pooled, indices)``, ``indices`` int64 positions of each maximum in
        its ``(n, c)`` plane of ``H * W`` (as torch's).

    <<para_raises_7>>

    <<para_see_also_8>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> y, idx = fc.max_pool2d(x, 2, return_indices=True)
    >>> y
    array([[[[ 5.,  7.],
             [13., 15.]]]], dtype=float32)
    >>> idx
    array([[[[ 5,  7],
             [13, 15]]]])
    >>> fc.max_pool2d(np.ones((8, 64, 112, 112), np.float32), 3, 2, 1).shape
    (8, 64, 56, 56)
    """
    return _max_pool(2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     layout)


@overload
def max_pool3d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               return_indices: Literal[False] = ..., *, layout: Layout | None = ...
               ) -> FloatArray: ...
@overload
def max_pool3d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None,
               padding: IntOrTuple, dilation: IntOrTuple, ceil_mode: bool,
               return_indices: Literal[True], *, layout: Layout | None = ...
               ) -> tuple[FloatArray, IndexArray]: ...
@overload
def max_pool3d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               *, return_indices: Literal[True], layout: Layout | None = ...
               ) -> tuple[FloatArray, IndexArray]: ...
@overload
def max_pool3d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = ...,
               padding: IntOrTuple = ..., dilation: IntOrTuple = ..., ceil_mode: bool = ...,
               return_indices: bool = ..., *, layout: Layout | None = ...
               ) -> FloatArray | tuple[FloatArray, IndexArray]: ...
def max_pool3d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False, *, layout: Layout | None = None
               ) -> FloatArray | tuple[FloatArray, IndexArray]:
    """3-D max pooling, with ``torch.nn.functional.max_pool3d``'s arguments and rules.

    A padded position never wins, ties keep the first maximum, and a NaN wins.

    Parameters
    ----------
    <<x_7>>
    <<kernel_size_3>>
    <<stride_4>>
    <<padding_4>>
    dilation : int or tuple of 3 ints, default 1
        The spacing of the window's taps.
    <<ceil_mode>>
    <<return_indices>>
    <<layout_6>>

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        The pooled array of ``x``'s dtype, each output size
        ``(in + 2 * padding - dilation * (k - 1) - 1) // stride + 1`` (rounded
        up under ``ceil_mode``); with ``return_indices=True`` the tuple
        ``(pooled, indices)``, ``indices`` int64 positions of each maximum in
        its ``(n, c)`` volume of ``D * H * W`` (as torch's).

    <<para_raises_7>>

    <<para_see_also_8>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 4, 8, 16, 16), np.float32)
    >>> fc.max_pool3d(x, (1, 2, 2)).shape
    (1, 4, 8, 8, 8)
    >>> y, idx = fc.max_pool3d(x, 2, return_indices=True)
    >>> y.shape, idx.dtype
    ((1, 4, 4, 8, 8), dtype('int64'))
    """
    return _max_pool(3, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     layout)


def avg_pool1d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None, *,
               layout: Layout | None = None) -> FloatArray:
    """1-D average pooling, with ``torch.nn.functional.avg_pool1d``'s arguments and rules.

    Parameters
    ----------
    <<x_5>>
    <<kernel_size>>
    <<stride_2>>
    <<padding_2>>
    <<ceil_mode>>
    <<count_include_pad>>
    <<divisor_override>>
    <<layout_4>>

    <<para_returns_9>>

    <<para_raises_7>>

    <<para_see_also_10>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.arange(6, dtype=np.float32).reshape(1, 1, 6)
    >>> fc.avg_pool1d(x, 2)
    array([[[0.5, 2.5, 4.5]]], dtype=float32)
    >>> fc.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    array([[[0.5, 2. , 4. , 5. ]]], dtype=float32)
    """
    return _avg_pool(1, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, layout)


def avg_pool2d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None, *,
               layout: Layout | None = None) -> FloatArray:
    """2-D average pooling, with ``torch.nn.functional.avg_pool2d``'s arguments and rules.

    Parameters
    ----------
    <<x_6>>
    <<kernel_size_2>>
    <<stride_3>>
    <<padding_3>>
    <<ceil_mode>>
    <<count_include_pad>>
    <<divisor_override>>
    <<layout_5>>

    <<para_returns_9>>

    <<para_raises_7>>

    <<para_see_also_10>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((1, 1, 4, 4), np.float32)
    >>> fc.avg_pool2d(x, 2).shape
    (1, 1, 2, 2)
    >>> fc.avg_pool2d(x, 3, 1, 1)[0, 0, 0]         # the zero padding counts
    array([0.44444445, 0.6666667 , 0.6666667 , 0.44444445], dtype=float32)
    >>> fc.avg_pool2d(x, 3, 1, 1, count_include_pad=False)[0, 0, 0]
    array([1., 1., 1., 1.], dtype=float32)
    >>> fc.avg_pool2d(x, 2, divisor_override=1)[0, 0]
    array([[4., 4.],
           [4., 4.]], dtype=float32)
    """
    return _avg_pool(2, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, layout)


def avg_pool3d(x: ArrayLike, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None, *,
               layout: Layout | None = None) -> FloatArray:
    """3-D average pooling, with ``torch.nn.functional.avg_pool3d``'s arguments and rules.

    Parameters
    ----------
    <<x_7>>
    <<kernel_size_3>>
    <<stride_4>>
    <<padding_4>>
    <<ceil_mode>>
    <<count_include_pad>>
    <<divisor_override>>
    <<layout_6>>

    <<para_returns_9>>

    <<para_raises_7>>

    <<para_see_also_10>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.ones((2, 4, 8, 8, 8), np.float32)
    >>> fc.avg_pool3d(x, 2).shape
    (2, 4, 4, 4, 4)
    """
    return _avg_pool(3, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, layout)


_EW_ACTS = {"none": 0, **_args.ACTIVATIONS}


def add(x: ArrayLike, y: ArrayLike | None = None, *,
        activation: ActivationName | Literal["none"] | None = None,
        negative_slope: float = 0.01, out: FloatArray | None = None) -> FloatArray:
    """``activation(x + y)`` element-wise (``y`` None: ``activation(x)``), in threaded C.

    The glue between layers: a residual add and an activation in one pass over
    memory, without NumPy's temporaries. NaN propagates.

    Parameters
    ----------
    x : array_like
        float32 or float64.
    y : array_like, optional
        Of ``x``'s shape and dtype (no broadcasting).
    activation : str or None, default None
        ``None`` (or ``"none"``) or one of the convolutions' activation names:
        ``"relu"``, ``"relu6"``, ``"leaky_relu"``, ``"hardswish"``,
        ``"sigmoid"``, ``"tanh"``, ``"silu"``, ``"gelu"`` (the tuple form is not
        taken here: give the slope as ``negative_slope``).
    negative_slope : float, default 0.01
        ``"leaky_relu"``'s slope, as torch.
    out : numpy.ndarray, optional
        ``x`` or ``y`` itself (in place), or a new C-contiguous array of the
        shape and dtype.

    Returns
    -------
    numpy.ndarray
        Of ``x``'s shape and dtype: a new array, or ``out``.

    Raises
    ------
    TypeError
        An array that is not float32 or float64, ``x`` and ``y`` of two dtypes,
        or a ``negative_slope`` that is not a number.
    ValueError
        ``y`` of another shape, an unknown activation, or a bad ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.array([-2.0, -0.5, 0.5, 2.0])
    >>> fc.add(x, np.ones(4), activation="relu")
    array([0. , 0.5, 1.5, 3. ])
    >>> fc.add(x, activation="leaky_relu", negative_slope=0.1)
    array([-0.2 , -0.05,  0.5 ,  2.  ])
    >>> fc.add(x, x, out=x) is x                          # in place
    True
    """
    xa = _args.as_float_array(x, "x")
    ya = None
    if y is not None:
        ya = _args.as_float_array(y, "y")
        if ya.shape != xa.shape:
            raise ValueError(f"y must have the shape of x {xa.shape}, got {ya.shape}")
        _args.common_dtype(x=xa, y=ya)
    if not (activation is None or isinstance(activation, str)):
        raise TypeError(f"activation must be a str or None, got {type(activation).__name__}")
    if activation not in _EW_ACTS:
        raise ValueError(f"activation must be one of {sorted(k for k in _EW_ACTS if k)} or None, "
                         f"got {activation!r}")
    slope = _args.float_arg(negative_slope, "negative_slope")
    res: Any
    if out is None:
        res = np.empty(xa.shape, xa.dtype)
    elif out is x and out is xa or (y is not None and out is y and out is ya):
        res = out                                  # in place: element i reads only element i
    else:
        res = _args.check_out(out, xa.shape, xa.dtype, xa, ya)
    if res.size:
        _core.eltwise(xa, ya, res, _EW_ACTS[activation], slope)
    return res


def global_avg_pool(x: ArrayLike, *, keepdims: bool = True, layout: Layout | None = None,
                    out: FloatArray | None = None) -> FloatArray:
    """The mean of every channel over all its spatial positions (torch's
    ``adaptive_avg_pool{1,2,3}d(x, 1)``), threaded, summed in float64.

    Parameters
    ----------
    x : array_like
        ``(N, C, *spatial)`` with 1 to 3 spatial dimensions (always batched);
        ``(N, *spatial, C)`` channels last. float32 or float64.
    keepdims : bool, default True
        Keep the spatial dimensions as size 1: ``(N, C, 1, ...)``; ``False``:
        ``(N, C)``.
    layout : str, optional
        ``None``/``"NCHW"`` (channels first) or ``"NHWC"`` (channels last: the
        kept result is ``(N, 1, ..., C)``).
    <<out>>

    Returns
    -------
    numpy.ndarray
        The means, of ``x``'s dtype.

    Raises
    ------
    TypeError
        An array that is not float32 or float64.
    ValueError
        Not 3 to 5 dims, an empty spatial extent, or a bad ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    >>> fc.global_avg_pool(x)
    array([[[[1.5]],
    <BLANKLINE>
            [[5.5]]]], dtype=float32)
    >>> fc.global_avg_pool(x, keepdims=False)
    array([[1.5, 5.5]], dtype=float32)
    """
    lay = _args.layout_arg(layout)
    xa = _args.as_float_array(x, "x")
    if not 3 <= xa.ndim <= 5:
        raise ValueError(f"x must have 3 to 5 dims (N, C, *spatial), got shape {xa.shape}")
    N, C = (xa.shape[0], xa.shape[-1]) if lay else xa.shape[:2]
    spatial = xa.shape[1:-1] if lay else xa.shape[2:]
    plane = int(np.prod(spatial))
    ones = (1,) * (xa.ndim - 2)
    shape = ((N,) + ones + (C,) if lay else (N, C) + ones) if keepdims else (N, C)
    if plane == 0:
        raise ValueError(f"x has an empty spatial extent {spatial}: no mean")
    y = _args.check_out(out, shape, xa.dtype, xa)
    if y is None:
        y = np.empty(shape, xa.dtype)
    if y.size:
        _core.global_avg_pool(xa, y, N * C, plane, C if lay else 0)
    return y


def max_unpool2d(x: ArrayLike, indices: ArrayLike, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 output_size: Sequence[int] | None = None, *,
                 layout: Layout | None = None) -> FloatArray:
    """Scatter every value of ``x`` to the position ``indices`` records in a map of
    zeros: the inverse of ``max_pool2d(..., return_indices=True)``, as
    ``torch.nn.functional.max_unpool2d``.

    Together with a convolution that fills the holes it enlarges a feature map
    (SegNet's decoder).

    Parameters
    ----------
    x : array_like
        The pooled values, ``(N, C, H, W)`` or unbatched ``(C, H, W)``;
        channels last with ``layout="NHWC"``. float32 or float64.
    indices : array_like
        Integer positions in each ``(n, c)`` output plane of ``H_out * W_out``,
        of ``x``'s shape (what :func:`max_pool2d` returns).
    kernel_size : int or tuple of 2 ints
        The pooling's window.
    stride : int or tuple of 2 ints, optional
        The pooling's stride; default ``kernel_size``.
    padding : int or tuple of 2 ints, default 0
        The pooling's padding.
    output_size : sequence of ints, optional
        The output's ``(H_out, W_out)`` (a longer sequence's last two), within a
        stride of the default ``(in - 1) * stride - 2 * padding + kernel_size``:
        to undo a pooling whose input size the default does not give back.
    layout : str, optional
        ``None``/``"NCHW"`` or ``"NHWC"``: ``x``, ``indices`` and the result
        channels last (the indices are positions in the ``H * W`` plane either
        way).

    Returns
    -------
    numpy.ndarray
        ``(N, C, H_out, W_out)`` (or channels last), zeros but for the
        scattered values, of ``x``'s dtype.

    Raises
    ------
    TypeError
        ``x`` not float32 or float64, or ``indices`` not an integer array.
    ValueError
        ``indices`` of another shape, or a bad kernel, stride, padding or
        ``output_size``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> y, idx = fc.max_pool2d(x, 2, return_indices=True)
    >>> fc.max_unpool2d(y, idx, 2)
    array([[[[ 0.,  0.,  0.,  0.],
             [ 0.,  5.,  0.,  7.],
             [ 0.,  0.,  0.,  0.],
             [ 0., 13.,  0., 15.]]]], dtype=float32)
    >>> fc.max_unpool2d(y, idx, 2, output_size=(5, 5)).shape
    (1, 1, 5, 5)
    """
    xa = _args.as_float_array(x, "x")
    lay = _args.layout_arg(layout)
    xb, batched = _args.spatial_input(xa, 2)
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    if idx.shape != xa.shape:
        raise ValueError(f"indices must have the shape of x {xa.shape}, got {idx.shape}")
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    k = _args.tuple_arg(kernel_size, 2, "kernel_size", minimum=1)
    s = k if stride is None else _args.tuple_arg(stride, 2, "stride", minimum=1)
    p = _args.tuple_arg(padding, 2, "padding", minimum=0)
    N, C, (H, W) = _args.channels_split(xb, lay)
    default = tuple((i - 1) * si - 2 * pi + ki for i, si, pi, ki in zip((H, W), s, p, k))
    if output_size is None:
        osz = default
    else:
        try:
            vals = None if isinstance(output_size, (str, bytes)) else list(output_size)
        except TypeError:
            vals = None
        if vals is None or not all(_args._is_int(v) for v in vals):
            raise TypeError(f"output_size must be a sequence of ints, got {output_size!r}")
        osz = tuple(int(v) for v in vals[-2:])
        if len(osz) != 2:
            raise ValueError(f"output_size must end with (H, W), got {output_size!r}")
        for o, dflt, si in zip(osz, default, s):
            if not dflt - si < o < dflt + si:
                raise ValueError(f"output_size {osz} must lie within a stride of the default "
                                 f"size {default}")
    if min(osz) < 1:
        raise ValueError(f"output size {osz} must be >= 1")
    shape = osz + (C,) if lay else (C,) + osz
    y = np.empty((N,) + shape if batched else shape, xa.dtype)
    yb = y if batched else y[None]
    if yb.size == 0:
        return y
    if xb.size == 0:
        yb[...] = 0
        return y
    _core.max_unpool(xb, idx if batched else idx[None], yb, lay)
    return y


_docs.expand(globals())
