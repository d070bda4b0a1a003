"""The public functions: each validates into a spec, then calls one C entry."""
from __future__ import annotations

import math

import numpy as np

from . import _args, _core
from ._args import check_out, check_residual, conv_spec, conv_transpose_spec

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


def conv_plan(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
              padding_mode="zeros", algorithm="auto", activation=None, layout=None):
    """The plan that ``conv1d``/``conv2d``/``conv3d`` (by ``weight.ndim``) run
    with these arguments: algorithm, implementation, input preparation, ISA
    level, packed layout and the reason for the choice.  ``print()`` it."""
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


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", algorithm="auto", activation=None, residual=None, layout=None,
           out=None):
    """1-D cross-correlation of x (N, C_in, L) with weight (C_out, C_in/groups, k).

    The epilogue, applied to each output tile as it is stored:
    ``activation(conv + bias + residual)``; residual an array of the result's
    shape (it may be ``out`` itself), activation None, "relu", "relu6",
    "leaky_relu" (or ``("leaky_relu", slope)``), "hardswish", "sigmoid",
    "tanh", "silu" or "gelu" (erf form), as torch defines them.

    ``layout="NLC"`` (or "NHWC", "NDHWC", "channels_last"): x (N, L, C_in) and
    the result (N, L_out, C_out), channels last, computed in that layout (the
    weights keep their shape); default channels first.
    """
    return _conv(1, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, activation, out, residual, layout)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", algorithm="auto", activation=None, residual=None, layout=None,
           out=None):
    """2-D cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in/groups, kH, kW);
    ``activation(conv + bias + residual)`` as in ``conv1d``.

    ``algorithm="winograd"`` (3x3, stride 1, dilation 1; also chosen by "auto"
    on big 3x3 layers and grouped ones with 8-32 channels per group) may spread a NaN or Inf of the input over its whole output
    tile (up to 4x4); the other algorithms make an output non-finite exactly
    where its receptive field does.
    """
    return _conv(2, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, activation, out, residual, layout)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", algorithm="auto", activation=None, residual=None, layout=None,
           out=None):
    """3-D cross-correlation of x (N, C_in, D, H, W) with weight (C_out, C_in/groups, kD, kH, kW);
    ``activation(conv + bias + residual)`` as in ``conv1d``."""
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


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, activation=None, residual=None, layout=None, out=None):
    """Transposed 1-D convolution; weight (C_in, C_out/groups, k); the epilogue as ``conv1d``'s."""
    return _conv_transpose(1, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, activation, out, residual, layout)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, activation=None, residual=None, layout=None, out=None):
    """Transposed 2-D convolution ("deconvolution"); weight (C_in, C_out/groups, kH, kW);
    the epilogue as ``conv1d``'s."""
    return _conv_transpose(2, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, activation, out, residual, layout)


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, activation=None, residual=None, layout=None, out=None):
    """Transposed 3-D convolution; weight (C_in, C_out/groups, kD, kH, kW); the epilogue as
    ``conv1d``'s."""
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


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *,
                     activation=None, residual=None, layout=None, out=None):
    """Depthwise 2-D convolution: weight (C*m, 1, kH, kW), i.e. conv2d with groups=C."""
    C = _channels(x, 2, _args.layout_arg(layout))
    wshape = np.shape(weight)
    if len(wshape) != 4 or wshape[1] != 1 or C == 0 or wshape[0] % C:
        _args.as_float_array(weight, "weight")
        raise ValueError(f"weight must have shape (C*m, 1, kH, kW) with C={C}, "
                         f"got {tuple(wshape)}")
    return conv2d(x, weight, bias, stride, padding, dilation, C, activation=activation,
                  residual=residual, layout=layout, out=out)


def _pointwise_weight(weight, name="weight"):
    w = _args.as_float_array(weight, name)
    if w.ndim == 4 and w.shape[2:] == (1, 1):
        w = w.reshape(w.shape[:2])
    if w.ndim != 2:
        raise ValueError(f"{name} must have shape (C_out, C_in) or (C_out, C_in, 1, 1), "
                         f"got {w.shape}")
    return w


def pointwise_conv2d(x, weight, bias=None, *, activation=None, residual=None, layout=None,
                     out=None):
    """1x1 convolution: weight (C_out, C_in) or (C_out, C_in, 1, 1); a GEMM per image."""
    w = _pointwise_weight(weight)
    return conv2d(x, w.reshape(w.shape + (1, 1)), bias, activation=activation, residual=residual,
                  layout=layout, out=out)


def separable_conv2d(x, row, col, bias=None, stride=1, padding=0, *, padding_mode="zeros",
                     activation=None, residual=None, out=None):
    """Spatially separable filter: channel c is filtered by outer(col[c], row[c]).

    row (kW,) or (C, kW), col (kH,) or (C, kH); a 1-D kernel is shared by all
    channels.  Computed as two 1-D passes (vertical, then horizontal), without a
    padded copy of the input for any padding mode.
    """
    xa = _args.as_float_array(x, "x")
    xb, batched = _args.spatial_input(xa, 2)
    N, C, H, W = xb.shape
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
                          pad0, pad1, pmode, act, 0, xa.dtype, alpha)
    rb = check_residual(residual, spec)
    y, yb = _result(spec, out, x, row, col, bias)
    if spec.empty:
        return y
    _core.separable(_unfused(spec, rb), xb, r, rpc, c, cpc, b, yb)
    _epilogue_after(spec, rb, yb)
    return y


def _unfused(spec, rb):
    """The descriptor for an op whose kernels do not add a residual: without
    its activation when there is one (the epilogue's pass applies both)."""
    d = spec.c_desc()
    return d if rb is None else d[:26] + (0, 0.0) + d[28:]


def _epilogue_after(spec, rb, yb):
    if rb is not None:
        _core.epilogue(spec.c_desc(), None, rb, yb)


def depthwise_separable_conv2d(x, depthwise_weight, pointwise_weight, depthwise_bias=None,
                               pointwise_bias=None, stride=1, padding=0, dilation=1, *,
                               depthwise_activation=None, activation=None, residual=None,
                               out=None):
    """pointwise_conv2d(depthwise_conv2d(x, ...), ...) fused: the depthwise result
    is consumed a strip of rows at a time and never stored whole."""
    C = _channels(x)
    _args.activation_arg(depthwise_activation, "depthwise_activation")
    dwshape = np.shape(depthwise_weight)
    if len(dwshape) != 4 or dwshape[1] != 1 or C == 0 or dwshape[0] % C:
        _args.as_float_array(depthwise_weight, "depthwise_weight")
        raise ValueError(f"depthwise_weight must have shape (C*m, 1, kH, kW) with C={C}, "
                         f"got {tuple(dwshape)}")
    spec, xb, dw, db = conv_spec(2, x, depthwise_weight, depthwise_bias, stride, padding,
                                 dilation, C, "zeros", "auto", depthwise_activation)
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
                          spec.dtype, alpha)
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


# ---------------------------------------------------------------- involution

_INV_SPECS = {}        # checked involution problems, by shapes, dtypes and int arguments


def _involution_spec(xa, ka, kernel_size, stride, padding, dilation):
    dtype = _args.common_dtype(x=xa, kernel=ka)
    if xa.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {xa.shape}")
    N, C, H, W = xa.shape
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
    if ka.ndim != 5 or ka.shape[0] != N or ka.shape[2] != K * K or ka.shape[3:] != osz:
        raise ValueError(f"kernel must have shape (N={N}, G, K*K={K * K}, H_out={osz[0]}, "
                         f"W_out={osz[1]}), got {ka.shape}")
    G = ka.shape[1]
    if G < 1 or C % G:
        raise ValueError(f"kernel's group count G={G} must divide the channels C={C}")
    return _args.ConvSpec(2, True, N, C, C, G, (H, W), osz, (K, K), stride, dilation,
                          pad0, pad1, 0, 0, 0, dtype)


def involution2d(x, kernel, kernel_size, stride=1, padding=None, dilation=1, *, bias=None,
                 activation=None, residual=None, out=None):
    """Involution (Li et al., CVPR 2021): a K x K filter generated per pixel and group.

    x (N, C, H, W); kernel (N, G, K*K, H_out, W_out), G dividing C; channel c
    uses group c // (C // G).  padding=None means dilation*(K-1)//2.  Then
    ``activation(involution + bias + residual)`` as in ``conv1d`` (bias (C,)).
    """
    xa = _args.as_float_array(x, "x")
    ka = _args.as_float_array(kernel, "kernel")
    # A problem checked once is kept (with its C description) when every
    # argument is a plain int or None, so that the key says all the checks did.
    key = None
    if all(v is None or type(v) is int for v in (kernel_size, stride, padding, dilation)):
        key = (xa.shape, ka.shape, xa.dtype, ka.dtype, kernel_size, stride, padding, dilation)
    hit = _INV_SPECS.get(key) if key is not None else None
    if hit is None:
        spec = _involution_spec(xa, ka, kernel_size, stride, padding, dilation)
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


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, layout=None):
    """1-D max pooling of x (N, C, L) or (C, L), torch.nn.functional.max_pool1d's
    arguments and rules; indices: int64 positions in each (n, c) row."""
    return _max_pool(1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     layout)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, layout=None):
    """2-D max pooling (torch.nn.functional.max_pool2d's arguments and rules:
    padding never wins, ties keep the first, a NaN wins); indices are int64
    positions in each (n, c) plane of H*W."""
    return _max_pool(2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     layout)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, layout=None):
    """3-D max pooling of x (N, C, D, H, W) or (C, D, H, W); indices: int64
    positions in each (n, c) volume of D*H*W."""
    return _max_pool(3, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     layout)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, layout=None):
    """1-D average pooling with torch.nn.functional's arguments and rules."""
    return _avg_pool(1, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, layout)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, layout=None):
    """2-D average pooling with torch.nn.functional's arguments and rules
    (count_include_pad: the zero padding counts in the divisor, not a window's
    part past the padded input under ceil_mode)."""
    return _avg_pool(2, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, layout)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, layout=None):
    """3-D average pooling with torch.nn.functional's arguments and rules."""
    return _avg_pool(3, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, layout)


_EW_ACTS = {"none": 0, **_args.ACTIVATIONS}


def add(x, y=None, *, activation=None, negative_slope: float = 0.01, out=None):
    """``activation(x + y)`` element-wise (y None: ``activation(x)``), in threaded
    C: the residual add and activation between layers.  x and y of one shape
    and dtype; activation None or one of conv1d's (leaky_relu's slope
    negative_slope, as torch).  ``out`` may be x or y itself
    (in place) or a new array of that shape; NaN propagates."""
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
    if out is None:
        res = np.empty(xa.shape, xa.dtype)
    elif out is x and out is xa or (y is not None and out is y and out is ya):
        res = out                                  # in place: element i reads only element i
    else:
        res = _args.check_out(out, xa.shape, xa.dtype, xa, ya)
    if res.size:
        _core.eltwise(xa, ya, res, _EW_ACTS[activation], slope)
    return res


def global_avg_pool(x, *, keepdims: bool = True, layout=None, out=None):
    """The mean of every channel over all its spatial dims: x (N, C, *spatial)
    with 1 to 3 spatial dims -> (N, C, 1, ...) (as torch's adaptive_avg_pool
    with output size 1), or (N, C) with keepdims=False.  Threaded C; sums in
    float64."""
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


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Scatter every value of x to the position `indices` records in a zero map
    (the inverse of max_pool2d(..., return_indices=True))."""
    xa = _args.as_float_array(x, "x")
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
    N, C, H, W = xb.shape
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
    y = np.empty((N, C) + osz if batched else (C,) + osz, xa.dtype)
    yb = y if batched else y[None]
    if yb.size == 0:
        return y
    if xb.size == 0:
        yb[...] = 0
        return y
    _core.max_unpool(xb, idx if batched else idx[None], yb)
    return y

