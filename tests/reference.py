"""Float64 NumPy oracle for every fastconv op (see /work/shared/design/API.md).

Written for clarity, not speed: every op pads explicitly with ``np.pad`` and
then correlates sliding windows (``sliding_window_view``) with ``einsum``.
Transposed convolution is the scatter-add adjoint of convolution.

Every function takes array-likes, computes in float64 and returns float64.
"""

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# --------------------------------------------------------------------------
# Tolerances (docs/TESTING.md) and the error measure
# --------------------------------------------------------------------------
TOL_F64 = 1e-10
TOL_F32 = 1e-4
TOL_F32_WINOGRAD = 1e-3


def rel_err(y, ref):
    """max|y - ref| / rms(ref), in float64 (absolute error when ref is all zero)."""
    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if y.shape != ref.shape:
        raise AssertionError(f"shape mismatch: got {y.shape}, expected {ref.shape}")
    if ref.size == 0:
        return 0.0
    diff = float(np.max(np.abs(y - ref)))
    rms = float(np.sqrt(np.mean(ref * ref)))
    return diff / rms if rms > 0 else diff


def tolerance(dtype, winograd=False):
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return TOL_F64
    if dtype == np.float32:
        return TOL_F32_WINOGRAD if winograd else TOL_F32
    raise ValueError(f"no tolerance for dtype {dtype}")


# --------------------------------------------------------------------------
# Argument normalisation
# --------------------------------------------------------------------------
_NP_PAD_MODE = {"zeros": "constant", "reflect": "reflect",
                "replicate": "edge", "circular": "wrap"}


def ntuple(value, n, name):
    """int -> (int,)*n; sequence of n ints -> tuple."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name} must have {n} entries, got {value}")
    return value


def same_pads(in_sizes, kernel, stride, dilation):
    """TensorFlow-style 'same': out = ceil(in/stride), extra pad at the end."""
    pads = []
    for i, k, s, d in zip(in_sizes, kernel, stride, dilation):
        out = -(-i // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - i, 0)
        before = total // 2
        pads.append((before, total - before))
    return pads


def normalize_padding(padding, n, in_sizes, kernel, stride, dilation):
    """Return a list of n (before, after) pairs."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "same":
            return same_pads(in_sizes, kernel, stride, dilation)
        raise ValueError(f"unknown padding {padding!r}")
    if isinstance(padding, (int, np.integer)):
        return [(int(padding), int(padding))] * n
    padding = tuple(padding)
    if len(padding) != n:
        raise ValueError(f"padding must have {n} entries, got {padding}")
    pads = []
    for p in padding:
        if isinstance(p, (int, np.integer)):
            pads.append((int(p), int(p)))
        else:
            b, a = p
            pads.append((int(b), int(a)))
    return pads


def pad_input(x, pads, padding_mode="zeros"):
    """Pad the trailing len(pads) axes of x (N, C, *spatial) with a torch padding_mode."""
    if padding_mode not in _NP_PAD_MODE:
        raise ValueError(f"unknown padding_mode {padding_mode!r}")
    spatial = x.shape[2:]
    for (b, a), size in zip(pads, spatial):
        if b < 0 or a < 0:
            raise ValueError("negative padding")
        if padding_mode == "reflect" and max(b, a) >= size:
            raise ValueError("reflect padding must be smaller than the input size")
        if padding_mode == "circular" and max(b, a) > size:
            raise ValueError("circular padding must be at most the input size")
    width = [(0, 0), (0, 0)] + [tuple(p) for p in pads]
    return np.pad(x, width, mode=_NP_PAD_MODE[padding_mode])


_ERFC = np.vectorize(math.erfc, otypes=[np.float64])


def apply_activation(y, activation):
    """torch's definitions (gelu: the erf form); leaky_relu's slope 0.01 or
    given as ("leaky_relu", slope); a NaN passes through each."""
    if activation is None:
        return y
    if isinstance(activation, tuple):
        name, slope = activation
    else:
        name, slope = activation, 0.01
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "relu":
            return np.where(np.isnan(y), y, np.maximum(y, 0.0))
        if name == "relu6":
            return np.where(np.isnan(y), y, np.minimum(np.maximum(y, 0.0), 6.0))
        if name == "leaky_relu":
            return np.where(y < 0, y * slope, y)
        if name == "hardswish":
            return y * np.clip(y + 3, 0, 6) / 6
        if name == "sigmoid":
            return 1 / (1 + np.exp(-y))
        if name == "tanh":
            return np.tanh(y)
        if name == "silu":
            return y / (1 + np.exp(-y))
        if name == "gelu":
            return 0.5 * y * _ERFC(-y / math.sqrt(2))
    raise ValueError(f"unknown activation {activation!r}")


ACTIVATIONS = (None, "relu", "relu6", "leaky_relu", ("leaky_relu", 0.2), "hardswish", "sigmoid",
               "tanh", "silu", "gelu")


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


_SP_OUT = "pqr"
_SP_KER = "uvw"
_SP_IN = "ijk"


# --------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------
def conv_nd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
            padding_mode="zeros", activation=None, *, nd):
    x = _f64(x)
    w = _f64(weight)
    b = _f64(bias)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x[None]
    if x.ndim != nd + 2 or w.ndim != nd + 2:
        raise ValueError("bad rank")
    n, c = x.shape[:2]
    o = w.shape[0]
    kernel = w.shape[2:]
    s = ntuple(stride, nd, "stride")
    d = ntuple(dilation, nd, "dilation")
    g = int(groups)
    if c % g or o % g or w.shape[1] * g != c:
        raise ValueError("groups / channel mismatch")
    pads = normalize_padding(padding, nd, x.shape[2:], kernel, s, d)
    xp = pad_input(x, pads, padding_mode)
    extent = tuple(di * (ki - 1) + 1 for di, ki in zip(d, kernel))
    if any(e > sz for e, sz in zip(extent, xp.shape[2:])):
        raise ValueError("kernel does not fit")
    win = sliding_window_view(xp, extent, axis=tuple(range(2, 2 + nd)))
    # win: (N, C, *positions, *extent); keep every stride-th position and
    # every dilation-th tap.
    sl = (slice(None), slice(None)) + tuple(slice(None, None, si) for si in s) \
        + tuple(slice(None, None, di) for di in d)
    win = win[sl]
    out_sizes = win.shape[2:2 + nd]
    win = win.reshape((n, g, c // g) + out_sizes + tuple(kernel))
    wg = w.reshape((g, o // g, c // g) + tuple(kernel))
    P, K = _SP_OUT[:nd], _SP_KER[:nd]
    y = np.einsum(f"ngc{P}{K},goc{K}->ngo{P}", win, wg)
    y = y.reshape((n, o) + out_sizes)
    if b is not None:
        y = y + b.reshape((1, o) + (1,) * nd)
    y = apply_activation(y, activation)
    return y[0] if unbatched else y


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", activation=None):
    return conv_nd(x, weight, bias, stride, padding, dilation, groups,
                   padding_mode, activation, nd=1)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", activation=None):
    return conv_nd(x, weight, bias, stride, padding, dilation, groups,
                   padding_mode, activation, nd=2)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", activation=None):
    return conv_nd(x, weight, bias, stride, padding, dilation, groups,
                   padding_mode, activation, nd=3)


def conv_output_size(in_size, k, stride, pad_before, pad_after, dilation):
    return (in_size + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


# --------------------------------------------------------------------------
# Transposed convolution (adjoint of conv_nd: scatter-add every tap)
# --------------------------------------------------------------------------
def conv_transpose_nd(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                      groups=1, dilation=1, *, nd):
    x = _f64(x)
    w = _f64(weight)
    b = _f64(bias)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x[None]
    n, cin = x.shape[:2]
    in_sizes = x.shape[2:]
    g = int(groups)
    og = w.shape[1]
    kernel = w.shape[2:]
    if w.shape[0] != cin or cin % g:
        raise ValueError("groups / channel mismatch")
    s = ntuple(stride, nd, "stride")
    p = ntuple(padding, nd, "padding")
    op = ntuple(output_padding, nd, "output_padding")
    d = ntuple(dilation, nd, "dilation")
    for opi, si, di in zip(op, s, d):
        if not (opi < si or opi < di):
            raise ValueError("output_padding must be smaller than stride or dilation")
    full = tuple((i - 1) * si + di * (ki - 1) + 1 + opi
                 for i, si, di, ki, opi in zip(in_sizes, s, d, kernel, op))
    out_sizes = tuple((i - 1) * si - 2 * pi + di * (ki - 1) + opi + 1
                      for i, si, pi, di, ki, opi in zip(in_sizes, s, p, d, kernel, op))
    if any(o < 1 for o in out_sizes):
        raise ValueError("output size < 1")
    xg = x.reshape((n, g, cin // g) + in_sizes)
    wg = w.reshape((g, cin // g, og) + tuple(kernel))
    yfull = np.zeros((n, g, og) + full)
    I = _SP_IN[:nd]
    for tap in np.ndindex(*kernel):
        contrib = np.einsum(f"ngc{I},gco->ngo{I}", xg, wg[(slice(None),) * 3 + tap])
        sl = (slice(None),) * 3 + tuple(
            slice(t * di, t * di + (i - 1) * si + 1, si)
            for t, di, i, si in zip(tap, d, in_sizes, s))
        yfull[sl] += contrib
    crop = (slice(None),) * 3 + tuple(slice(pi, pi + o) for pi, o in zip(p, out_sizes))
    y = yfull[crop].reshape((n, g * og) + out_sizes)
    if b is not None:
        y = y + b.reshape((1, g * og) + (1,) * nd)
    return y[0] if unbatched else y


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    return conv_transpose_nd(x, weight, bias, stride, padding, output_padding,
                             groups, dilation, nd=1)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    return conv_transpose_nd(x, weight, bias, stride, padding, output_padding,
                             groups, dilation, nd=2)


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    return conv_transpose_nd(x, weight, bias, stride, padding, output_padding,
                             groups, dilation, nd=3)


# --------------------------------------------------------------------------
# Named special cases
# --------------------------------------------------------------------------
def _channels(x):
    x = np.asarray(x)
    return x.shape[-3]


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1,
                     activation=None):
    return conv2d(x, weight, bias, stride, padding, dilation, groups=_channels(x),
                  activation=activation)


def pointwise_conv2d(x, weight, bias=None, activation=None):
    w = _f64(weight)
    if w.ndim == 2:
        w = w[:, :, None, None]
    return conv2d(x, w, bias, activation=activation)


def separable_kernel(row, col, channels):
    """(C, 1, kH, kW) depthwise weight with weight[c, 0] = outer(col[c], row[c])."""
    row = _f64(row)
    col = _f64(col)
    if row.ndim == 1:
        row = np.broadcast_to(row, (channels, row.shape[0]))
    if col.ndim == 1:
        col = np.broadcast_to(col, (channels, col.shape[0]))
    return np.einsum("ch,cw->chw", col, row)[:, None]


def separable_conv2d(x, row, col, bias=None, stride=1, padding=0, padding_mode="zeros"):
    c = _channels(x)
    w = separable_kernel(row, col, c)
    return conv2d(x, w, bias, stride, padding, 1, groups=c, padding_mode=padding_mode)


def depthwise_separable_conv2d(x, depthwise_weight, pointwise_weight,
                               depthwise_bias=None, pointwise_bias=None,
                               stride=1, padding=0, dilation=1,
                               depthwise_activation=None, activation=None):
    h = depthwise_conv2d(x, depthwise_weight, depthwise_bias, stride, padding, dilation,
                         activation=depthwise_activation)
    return pointwise_conv2d(h, pointwise_weight, pointwise_bias, activation=activation)


# --------------------------------------------------------------------------
# Pooling / unpooling (PyTorch semantics)
# --------------------------------------------------------------------------
def max_pool2d(x, kernel_size, stride=None, padding=0, return_indices=False):
    x = _f64(x)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    n, c, h, w = x.shape
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    p = ntuple(padding, 2, "padding")
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError("padding must be at most half the kernel size")
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])],
                mode="constant", constant_values=-np.inf)
    win = sliding_window_view(xp, k, axis=(2, 3))[:, :, ::s[0], ::s[1]]
    ho, wo = win.shape[2:4]
    flat = win.reshape(n, c, ho, wo, k[0] * k[1])
    vals = flat.max(axis=-1)
    # NaN wins (as in torch); np.max already propagates NaN.
    arg = np.argmax(flat, axis=-1)          # first max / first NaN in scan order
    ky, kx = np.divmod(arg, k[1])
    rows = np.arange(ho)[:, None] * s[0] - p[0] + ky
    cols = np.arange(wo)[None, :] * s[1] - p[1] + kx
    idx = (rows * w + cols).astype(np.int64)
    if unbatched:
        vals, idx = vals[0], idx[0]
    return (vals, idx) if return_indices else vals


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    x = _f64(x)
    idx = np.asarray(indices, dtype=np.int64)
    unbatched = x.ndim == 3
    if unbatched:
        x, idx = x[None], idx[None]
    n, c, h, w = x.shape
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    p = ntuple(padding, 2, "padding")
    if output_size is None:
        ho = (h - 1) * s[0] - 2 * p[0] + k[0]
        wo = (w - 1) * s[1] - 2 * p[1] + k[1]
    else:
        ho, wo = (int(v) for v in tuple(output_size)[-2:])
    y = np.zeros((n, c, ho * wo))
    flat_idx = idx.reshape(n, c, -1)
    if flat_idx.size and (flat_idx.min() < 0 or flat_idx.max() >= ho * wo):
        raise ValueError("indices out of range")
    np.put_along_axis(y, flat_idx, x.reshape(n, c, -1), axis=2)
    y = y.reshape(n, c, ho, wo)
    return y[0] if unbatched else y


# --------------------------------------------------------------------------
# Involution
# --------------------------------------------------------------------------
def involution2d(x, kernel, kernel_size, stride=1, padding=None, dilation=1):
    x = _f64(x)
    ker = _f64(kernel)
    n, c, h, w = x.shape
    K = int(kernel_size)
    s = ntuple(stride, 2, "stride")
    d = ntuple(dilation, 2, "dilation")
    if padding is None:
        p = tuple(di * (K - 1) // 2 for di in d)
    else:
        p = ntuple(padding, 2, "padding")
    g = ker.shape[1]
    if c % g or ker.shape[2] != K * K:
        raise ValueError("kernel shape mismatch")
    xp = pad_input(x, [(p[0], p[0]), (p[1], p[1])], "zeros")
    extent = tuple(di * (K - 1) + 1 for di in d)
    win = sliding_window_view(xp, extent, axis=(2, 3))
    win = win[:, :, ::s[0], ::s[1], ::d[0], ::d[1]]      # (N, C, Ho, Wo, K, K)
    ho, wo = win.shape[2:4]
    if ker.shape != (n, g, K * K, ho, wo):
        raise ValueError(f"kernel must be {(n, g, K * K, ho, wo)}, got {ker.shape}")
    win = win.reshape(n, g, c // g, ho, wo, K * K)
    y = np.einsum("ngcijt,ngtij->ngcij", win, ker)
    return y.reshape(n, c, ho, wo)


def avg_pool2d(x, k):
    """torch.nn.AvgPool2d(k, k): kernel k, stride k, no padding, floor."""
    x = _f64(x)
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    return x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k).mean(axis=(3, 5))


BN_EPS = 1e-5


def involution_kernel(x, state_dict, stride=1, group_channels=16):
    """Kernel generation of the official involution module, eval mode."""
    x = _f64(x)
    sd = {k: _f64(v) for k, v in state_dict.items()}
    c = x.shape[1]
    g = c // group_channels
    kk = sd["conv2.conv.weight"].shape[0] // g
    K = int(round(math.sqrt(kk)))
    t = avg_pool2d(x, stride) if stride > 1 else x
    t = conv2d(t, sd["conv1.conv.weight"])
    scale = sd["conv1.bn.weight"] / np.sqrt(sd["conv1.bn.running_var"] + BN_EPS)
    shift = sd["conv1.bn.bias"] - sd["conv1.bn.running_mean"] * scale
    t = t * scale[None, :, None, None] + shift[None, :, None, None]
    t = np.maximum(t, 0.0)
    t = conv2d(t, sd["conv2.conv.weight"], sd["conv2.conv.bias"])
    n, _, ho, wo = t.shape
    return t.reshape(n, g, K * K, ho, wo), K


def involution_module(x, state_dict, stride=1, group_channels=16):
    """Forward of the official involution module (inference mode)."""
    ker, K = involution_kernel(x, state_dict, stride, group_channels)
    return involution2d(x, ker, K, stride=stride, padding=(K - 1) // 2)


def make_involution_state_dict(rng, channels, kernel_size=7, group_channels=16,
                               reduction_ratio=4, dtype=np.float64):
    """Random weights with the official state-dict key names."""
    c = channels
    cr = c // reduction_ratio
    g = c // group_channels
    K = kernel_size
    sd = {
        "conv1.conv.weight": rng.standard_normal((cr, c, 1, 1)) / math.sqrt(c),
        "conv1.bn.weight": rng.uniform(0.5, 1.5, cr),
        "conv1.bn.bias": rng.standard_normal(cr) * 0.1,
        "conv1.bn.running_mean": rng.standard_normal(cr) * 0.1,
        "conv1.bn.running_var": rng.uniform(0.5, 1.5, cr),
        "conv2.conv.weight": rng.standard_normal((K * K * g, cr, 1, 1)) / math.sqrt(cr),
        "conv2.conv.bias": rng.standard_normal(K * K * g) * 0.1,
    }
    return {k: v.astype(dtype) for k, v in sd.items()}
