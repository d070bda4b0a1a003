"""Argument checking: user arguments in, one frozen ConvSpec out.

Every error message of the public API is raised here, naming the argument
and the value it got.  Nothing below this module validates again.
"""
from __future__ import annotations

import functools
import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np

from . import _core

PAD_MODES = {"zeros": 0, "reflect": 1, "replicate": 2, "circular": 3}
ACTIVATIONS = {None: 0, "relu": 1, "relu6": 2, "leaky_relu": 3, "hardswish": 4, "sigmoid": 5,
               "tanh": 6, "silu": 7, "gelu": 8}     # fc_act (include/fastconv.h)
LAYOUTS = {"nchw": 0, "ncl": 0, "ncdhw": 0, "channels_first": 0,
           "nhwc": 1, "nlc": 1, "ndhwc": 1, "channels_last": 1}     # fc_layout
LEAKY_SLOPE = 0.01    # leaky_relu's negative slope unless given: ("leaky_relu", slope)
ALGORITHMS = {"auto": 0, "direct": 1, "gemm": 2, "winograd": 3}
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_MAX_ELEMENTS = 2**62 // 8
# The kernels size scratch as padded extents times a vector block (up to 16)
# times the element size: 2**48 padded elements keeps every such product far
# from int64's range, and no machine can hold a buffer of that size anyway.
_MAX_PADDED = 2**48


@dataclass(frozen=True)
class ConvSpec:
    """One validated problem; every dimension in C's (D, H, W) form."""

    nd: int
    batched: bool
    N: int
    C_in: int
    C_out: int
    groups: int
    in_size: tuple
    out_size: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad0: tuple
    pad1: tuple
    pad_mode: int = 0
    activation: int = 0
    algorithm: int = 0
    dtype: np.dtype = DTYPES[0]
    alpha: float = 0.0     # the activation's parameter (leaky_relu's slope)
    layout: int = 0        # 0 channels first, 1 channels last (x and the result)

    def c_desc(self) -> tuple:
        """The fields of fc_conv_desc, in order, 1-D and 2-D lifted to 3-D."""
        return self._desc

    @functools.cached_property     # specs are cached and reused: computed once
    def _desc(self) -> tuple:
        lift = lambda t, fill: (fill,) * (3 - self.nd) + tuple(t)  # noqa: E731
        return (self.N, self.C_in, self.C_out, self.groups,
                *lift(self.in_size, 1), *lift(self.out_size, 1), *lift(self.kernel, 1),
                *lift(self.stride, 1), *lift(self.dilation, 1),
                *lift(self.pad0, 0), *lift(self.pad1, 0),
                self.pad_mode, self.activation, self.alpha, self.layout)

    @functools.cached_property
    def out_shape(self) -> tuple:
        shape = (*self.out_size, self.C_out) if self.layout else (self.C_out, *self.out_size)
        return (self.N, *shape) if self.batched else shape

    @functools.cached_property
    def empty(self) -> bool:
        return self.N == 0 or self.C_out == 0 or 0 in self.out_size


# ---------------------------------------------------------------- scalars

def _is_int(v) -> bool:
    return type(v) is int or (isinstance(v, numbers.Integral) and not isinstance(v, bool))


def _type_name(v) -> str:
    return type(v).__name__


def int_arg(v, name: str, *, minimum: int | None = None) -> int:
    """An int (or an integer NumPy scalar): anything else, bool included, is a
    TypeError; an int below minimum is a ValueError."""
    if not _is_int(v):
        raise TypeError(f"{name} must be an int, got {_type_name(v)} {v!r}")
    v = operator.index(v)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def float_arg(v, name: str) -> float:
    """A real number (int, float, NumPy scalar): a str or bool is a TypeError."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_type_name(v)} {v!r}")
    return float(v)


def tuple_arg(v, nd: int, name: str, *, minimum: int) -> tuple:
    """An int or a tuple of one int per spatial dimension."""
    if _is_int(v):
        vals = (operator.index(v),) * nd
    elif isinstance(v, (tuple, list)):
        if not all(_is_int(e) for e in v):
            raise TypeError(f"{name} must be an int or a tuple of {nd} ints, got {v!r}")
        if len(v) != nd:
            raise ValueError(f"{name} must be an int or a tuple of {nd} ints, got {len(v)} "
                             f"values: {v!r}")
        vals = tuple(operator.index(e) for e in v)
    else:
        raise TypeError(f"{name} must be an int or a tuple of {nd} ints, got "
                        f"{_type_name(v)} {v!r}")
    if any(e < minimum for e in vals):
        raise ValueError(f"{name} must be >= {minimum} in every dimension, got {v!r}")
    return vals


def layout_arg(v) -> int:
    """"NCHW" (channels first: (N, C, *spatial); also "NCL", "NCDHW") or "NHWC"
    (channels last: (N, *spatial, C); also "NLC", "NDHWC"); None: channels first."""
    if v is None:
        return 0
    if not isinstance(v, str):
        raise TypeError(f"layout must be a str ('NCHW' or 'NHWC') or None, got {_type_name(v)} {v!r}")
    if v.lower() in LAYOUTS:
        return LAYOUTS[v.lower()]
    raise ValueError(f"layout must be 'NCHW' (channels first) or 'NHWC' (channels last); got {v!r}")


def activation_arg(v, name: str = "activation") -> tuple[int, float]:
    """An activation: None, one of ACTIVATIONS' names, or ("leaky_relu", slope);
    returns (its fc_act code, its parameter)."""
    if type(v) is tuple and len(v) == 2 and v[0] == "leaky_relu":
        slope = v[1]
        if isinstance(slope, bool) or not isinstance(slope, (int, float, np.floating, np.integer)):
            raise TypeError(f"{name}'s negative slope must be a number; got {_type_name(slope)} "
                            f"{slope!r}")
        if not math.isfinite(float(slope)):
            raise ValueError(f"{name}'s negative slope must be finite; got {slope!r}")
        return ACTIVATIONS["leaky_relu"], float(slope)
    if type(v) is tuple:
        raise ValueError(f"{name} with a parameter must be ('leaky_relu', slope); got {v!r}")
    code = choice_arg(v, ACTIVATIONS, name)
    return code, (LEAKY_SLOPE if code == ACTIVATIONS["leaky_relu"] else 0.0)


def choice_arg(v, table: dict, name: str) -> int:
    """table[v] for one of table's names: a name that is not there is a
    ValueError, anything but a str (or None where None is a name) a TypeError."""
    if isinstance(v, str) or (v is None and None in table):
        if v in table:
            return table[v]
        names = ", ".join(repr(k) for k in table)
        raise ValueError(f"{name} must be one of {names}; got {v!r}")
    kinds = "a str or None" if None in table else "a str"
    raise TypeError(f"{name} must be {kinds}, got {_type_name(v)} {v!r}")


# ---------------------------------------------------------------- arrays

class ArrayMeta:
    """An array's shape and dtype, without its data: what the checks read.

    fastconv.dask validates a call on a Dask array by running the in-memory
    checks on it (the same errors, the same messages), never allocating the
    array; ``as_float_array`` checks its dtype and returns it as is."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, index):
        if index is None:      # spatial_input's x[None]: a batch of one
            return ArrayMeta((1,) + self.shape, self.dtype)
        raise TypeError("ArrayMeta has no data; only [None] lifts it to a batch")


def _check_float_dtype(dtype, name: str) -> None:
    if dtype == object or dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {dtype}")
    if dtype.newbyteorder("=") not in DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got dtype {dtype} "
                        "(fastconv never casts silently; convert with .astype)")


def as_float_array(a, name: str) -> np.ndarray:
    """A C-contiguous, native-order float32/float64 ndarray (copies only if needed);
    an ArrayMeta is checked and returned as is."""
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    if type(a) is ArrayMeta:
        _check_float_dtype(a.dtype, name)
        return a  # type: ignore[return-value]
    if hasattr(a, "detach") and hasattr(a, "numpy"):  # a torch tensor
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a)
    except Exception as e:  # noqa: BLE001 - any conversion failure is the caller's type error
        raise TypeError(f"{name} must be an array, got {type(a).__name__}: {e}") from None
    _check_float_dtype(arr.dtype, name)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


def common_dtype(**arrays) -> np.dtype:
    got = {k: v.dtype for k, v in arrays.items() if v is not None}
    dts = set(got.values())
    if len(dts) != 1:
        desc = ", ".join(f"{k} {v}" for k, v in got.items())
        raise TypeError(f"inputs must share one dtype (float32 or float64); got {desc}")
    return dts.pop()


def spatial_input(x: np.ndarray, nd: int, name: str = "x") -> tuple[np.ndarray, bool]:
    """x as a batched (N, C, *spatial) array and whether it was batched."""
    if x.ndim == nd + 2:
        return x, True
    if x.ndim == nd + 1:
        return x[None], False
    raise ValueError(f"{name} must have {nd + 2} dims (N, C, ...) or {nd + 1} (unbatched), "
                     f"got shape {x.shape}")


def check_bias(bias, C_out: int, name: str = "bias"):
    if bias is None:
        return None
    b = as_float_array(bias, name)
    if b.shape != (C_out,):
        raise ValueError(f"{name} must have shape ({C_out},), got {b.shape}")
    return b


def check_out(out, shape: tuple, dtype: np.dtype, *inputs) -> np.ndarray | None:
    """out: anything but an ndarray is a TypeError; an ndarray that does not fit
    the result (shape, dtype, byte order, layout, writeable, overlap) a ValueError
    (docs/API.md), as np.dot's out= does."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"out must have dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous or not out.dtype.isnative:
        raise ValueError("out must be C-contiguous in native byte order")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    for a in inputs:
        if a is not None and np.may_share_memory(out, a):
            raise ValueError("out must not overlap an input")
    return out


def check_residual(residual, spec) -> np.ndarray | None:
    """The residual of a fused epilogue as C reads it: an array of the result's
    shape and dtype (a copy only where it is not C-contiguous, native order);
    batched as the C side's output."""
    if residual is None:
        return None
    r = residual
    if type(r) is ArrayMeta:
        r = as_float_array(r, "residual")
    elif not _ready(r):
        r = np.ascontiguousarray(as_float_array(r, "residual"))
    if r.shape != tuple(spec.out_shape):
        raise ValueError(f"residual must have the result's shape {tuple(spec.out_shape)}, "
                         f"got {r.shape}")
    if r.dtype != spec.dtype:
        raise TypeError(f"residual must have the result's dtype {spec.dtype}, got {r.dtype}")
    return r if spec.batched else r[None]


def check_size(shape, name="result") -> None:
    n = 1
    for s in shape:
        n *= int(s)
        if n > _MAX_ELEMENTS:
            raise ValueError(f"{name} of shape {tuple(shape)} is too large")


# ---------------------------------------------------------------- padding

def parse_padding(padding, nd: int, *, allow_same: bool = True):
    """Return ("same", None) or ("explicit", (before, after)) tuples per dim."""
    if isinstance(padding, str):
        if padding == "valid":
            return "explicit", ((0,) * nd, (0,) * nd)
        if padding == "same" and allow_same:
            return "same", None
        forms = "'valid', 'same'" if allow_same else "'valid'"
        raise ValueError(f"padding must be an int, a tuple, (before, after) pairs or "
                         f"{forms}; got {padding!r}")
    if _is_int(padding):
        p = operator.index(padding)
        if p < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        return "explicit", ((p,) * nd, (p,) * nd)
    if isinstance(padding, (tuple, list)):
        if not all(_is_int(q) for e in padding
                   for q in (e if isinstance(e, (tuple, list)) else (e,))):
            raise TypeError(f"padding must be ints or (before, after) pairs of ints, "
                            f"got {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == nd:
        if all(_is_int(e) for e in padding):
            vals = tuple(operator.index(e) for e in padding)
            if any(v < 0 for v in vals):
                raise ValueError(f"padding must be >= 0, got {padding!r}")
            return "explicit", (vals, vals)
        if all(isinstance(e, (tuple, list)) and len(e) == 2 and all(_is_int(q) for q in e)
               for e in padding):
            before = tuple(operator.index(e[0]) for e in padding)
            after = tuple(operator.index(e[1]) for e in padding)
            if any(v < 0 for v in before + after):
                raise ValueError(f"padding must be >= 0, got {padding!r}")
            return "explicit", (before, after)
    kind = ValueError if isinstance(padding, (tuple, list)) else TypeError
    raise kind(f"padding must be an int, a tuple of {nd} ints, a tuple of {nd} "
               f"(before, after) pairs, 'valid' or 'same'; got {padding!r}")


def resolve_padding(padding, nd, in_size, kernel, stride, dilation):
    kind, pads = parse_padding(padding, nd)
    if kind == "explicit":
        return pads
    before, after = [], []
    for i, k, s, d in zip(in_size, kernel, stride, dilation):
        out = -(-i // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - i, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return tuple(before), tuple(after)


def conv_out_size(in_size, kernel, stride, dilation, pad0, pad1, what="kernel", planes=1):
    """Output sizes; planes (N * C) times the padded input must stay under
    _MAX_PADDED, so that no size product in the kernels can overflow int64
    (a padding of 2**40 is a ValueError here, not a wrapped scratch size)."""
    n = max(int(planes), 1)
    for i, p0, p1 in zip(in_size, pad0, pad1):
        n *= i + p0 + p1
    if n > _MAX_PADDED:
        raise ValueError(f"the padded input ({planes} planes of "
                         f"{tuple(i + a + b for i, a, b in zip(in_size, pad0, pad1))}) is too large")
    out = []
    for dim, (i, k, s, d, p0, p1) in enumerate(zip(in_size, kernel, stride, dilation, pad0, pad1)):
        span = d * (k - 1) + 1
        if i + p0 + p1 < span:
            raise ValueError(
                f"{what} does not fit: the dilated {what} spans {span} along spatial dim {dim} "
                f"but the padded input has {i + p0 + p1} (input {i}, padding {p0}+{p1})")
        out.append((i + p0 + p1 - span) // s + 1)
    return tuple(out)


def moving_stride(stride, out_size, in_size, pad0, pad1, span) -> tuple:
    """The stride, cut to the padded extent where the output has one position:
    a stride that never moves does not change the result, and a huge one would
    only overflow the kernels' index and phase-plane arithmetic.  The cut
    stride still gives that one output (the kernels rely on it)."""
    return tuple(min(s, i + a + b - k + 1) if o == 1 else s
                 for s, o, i, a, b, k in zip(stride, out_size, in_size, pad0, pad1, span))


def check_pad_mode(mode: int, in_size, pad0, pad1):
    for dim, (i, a, b) in enumerate(zip(in_size, pad0, pad1)):
        if mode == PAD_MODES["reflect"] and max(a, b) >= i:
            raise ValueError(f"padding_mode 'reflect' needs padding < input size; spatial dim "
                             f"{dim} has size {i} and padding ({a}, {b})")
        if mode == PAD_MODES["circular"] and max(a, b) > i:
            raise ValueError(f"padding_mode 'circular' needs padding <= input size; spatial dim "
                             f"{dim} has size {i} and padding ({a}, {b})")


# ---------------------------------------------------------------- specs

def weight_arrays(nd, weight, bias, layout):
    """weight (nd + 2 dims) and bias as arrays of one dtype."""
    weight = as_float_array(weight, "weight")
    bias = None if bias is None else as_float_array(bias, "bias")
    common_dtype(weight=weight, bias=bias)
    if weight.ndim != nd + 2:
        raise ValueError(f"weight must have {nd + 2} dims ({layout}, ...), "
                         f"got shape {weight.shape}")
    return weight, bias


def _operands(nd, x, weight, bias, layout):
    """x, weight and bias as arrays of one dtype; x lifted to a batch."""
    x = as_float_array(x, "x")
    weight, bias = weight_arrays(nd, weight, bias, layout)
    dtype = common_dtype(x=x, weight=weight, bias=bias)
    xb, batched = spatial_input(x, nd)
    if any(k < 1 for k in weight.shape[2:]):
        raise ValueError(f"weight kernel size must be >= 1, got {weight.shape[2:]}")
    return xb, batched, weight, bias, dtype

# Validated specs by their arguments, for calls whose arrays need no
# conversion and whose arguments are plain ints, strs, None and tuples of
# them (a repeated call then costs a dict lookup instead of ~30 us of checks).
_SPEC_CACHE: dict = {}
_SPEC_CACHE_MAX = 512
_PLAIN = (int, float, str, type(None))


def _plain(v) -> bool:
    """Keys that mean one thing: 1.0 == 1 and True == 1 as dict keys, so a float
    or bool may not stand where an int is checked (it would find the int's
    spec); the only float is an activation's parameter, ("leaky_relu", 0.1)."""
    t = type(v)
    if t is int or t is str or v is None:
        return True
    if t is not tuple:
        return False
    if len(v) == 2 and type(v[0]) is str:
        return type(v[1]) in _PLAIN
    return all(type(e) is int or (type(e) is tuple and all(type(q) is int for q in e))
               for e in v)


def _ready(a) -> bool:
    """An ndarray used as is: float32/float64, native order, C-contiguous."""
    return (type(a) is np.ndarray and a.dtype in DTYPES and a.dtype.isnative
            and a.flags.c_contiguous)


def _cached(validate, tag, nd, x, weight, bias, *args):
    """validate(nd, x, weight, bias, *args), or the spec it returned before for
    arrays that need no conversion and plain arguments (see _SPEC_CACHE)."""
    key = None
    if (_ready(x) and _ready(weight) and (bias is None or _ready(bias))
            and all(map(_plain, args))):
        key = (tag, nd, x.shape, x.dtype, weight.shape, weight.dtype,
               None if bias is None else (bias.shape, bias.dtype), *args)
        spec = _SPEC_CACHE.get(key)
        if spec is not None:
            return spec, (x if spec.batched else x[None]), weight, bias
    spec, xb, weight, bias = validate(nd, x, weight, bias, *args)
    if key is not None:
        if len(_SPEC_CACHE) >= _SPEC_CACHE_MAX:
            _SPEC_CACHE.clear()
        _SPEC_CACHE[key] = spec
    return spec, xb, weight, bias


def conv_spec(nd, x, weight, bias, stride, padding, dilation, groups,
              padding_mode="zeros", algorithm="auto", activation=None, layout=None):
    """Validate a convolution; returns (spec, x batched, weight, bias)."""
    return _cached(_conv_spec, "C", nd, x, weight, bias, stride, padding, dilation, groups,
                   padding_mode, algorithm, activation, layout)


def channels_split(xb, lay):
    """(N, C, spatial sizes) of a batched x in its layout."""
    if lay:
        N, *in_size, C = xb.shape
        return N, C, in_size
    N, C, *in_size = xb.shape
    return N, C, in_size


def _conv_spec(nd, x, weight, bias, stride, padding, dilation, groups,
               padding_mode, algorithm, activation, layout):
    lay = layout_arg(layout)
    xb, batched, weight, bias, dtype = _operands(nd, x, weight, bias, "C_out, C_in/groups")
    N, C_in, in_size = channels_split(xb, lay)
    C_out, cig, *kernel = weight.shape
    groups = int_arg(groups, "groups", minimum=1)
    if C_in % groups or C_out % groups:
        raise ValueError(f"groups={groups} must divide both the input channels ({C_in}) "
                         f"and the output channels ({C_out})")
    if cig * groups != C_in:
        raise ValueError(f"weight has {cig} input channels per group, but x has {C_in} "
                         f"channels and groups={groups} (expects {C_in // groups})")
    bias = check_bias(bias, C_out)
    stride = tuple_arg(stride, nd, "stride", minimum=1)
    dilation = tuple_arg(dilation, nd, "dilation", minimum=1)
    pmode = choice_arg(padding_mode, PAD_MODES, "padding_mode")
    act, alpha = activation_arg(activation)
    algo = choice_arg(algorithm, ALGORITHMS, "algorithm")
    pad0, pad1 = resolve_padding(padding, nd, in_size, kernel, stride, dilation)
    check_pad_mode(pmode, in_size, pad0, pad1)
    out_size = conv_out_size(in_size, kernel, stride, dilation, pad0, pad1, planes=N * C_in)
    stride = moving_stride(stride, out_size, in_size, pad0, pad1,
                           [d * (k - 1) + 1 for d, k in zip(dilation, kernel)])
    dilation = tuple(1 if k == 1 else d for d, k in zip(dilation, kernel))  # unused: no overflow
    spec = ConvSpec(nd, batched, N, C_in, C_out, groups, tuple(in_size), out_size,
                    tuple(kernel), stride, dilation, pad0, pad1, pmode, act, algo, dtype, alpha, lay)
    if algo and not _core.algo_ok(spec.c_desc(), algo):   # the C planner's own rule
        raise ValueError("algorithm='winograd' needs a 3x3 kernel (2-D, or 3-D 1x3x3) with "
                         f"stride 1 and dilation 1 along H and W; got {nd}-D kernel "
                         f"{tuple(kernel)}, stride {stride}, dilation {dilation}")
    check_size(spec.out_shape)
    return spec, xb, weight, bias


def conv_transpose_spec(nd, x, weight, bias, stride, padding, output_padding, groups,
                        dilation, activation=None, layout=None):
    """Validate a transposed convolution; returns (spec, x batched, weight, bias)."""
    return _cached(_conv_transpose_spec, "T", nd, x, weight, bias, stride, padding,
                   output_padding, groups, dilation, activation, layout)


def _conv_transpose_spec(nd, x, weight, bias, stride, padding, output_padding, groups,
                         dilation, activation, layout):
    lay = layout_arg(layout)
    xb, batched, weight, bias, dtype = _operands(nd, x, weight, bias, "C_in, C_out/groups")
    N, C_in, in_size = channels_split(xb, lay)
    wci, cog, *kernel = weight.shape
    groups = int_arg(groups, "groups", minimum=1)
    if wci != C_in:
        raise ValueError(f"weight has {wci} input channels but x has {C_in}")
    if C_in % groups:
        raise ValueError(f"groups={groups} must divide the input channels ({C_in})")
    C_out = cog * groups
    bias = check_bias(bias, C_out)
    stride = tuple_arg(stride, nd, "stride", minimum=1)
    dilation = tuple_arg(dilation, nd, "dilation", minimum=1)
    opad = tuple_arg(output_padding, nd, "output_padding", minimum=0)
    for op, s, d in zip(opad, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"output_padding must be smaller than either stride or dilation; "
                             f"got output_padding={output_padding!r}, stride={stride}, "
                             f"dilation={dilation}")
    act, alpha = activation_arg(activation)
    _, (pad0, pad1) = parse_padding(padding, nd, allow_same=False)
    out_size = []
    for dim, (i, k, s, d, p0, p1, op) in enumerate(
            zip(in_size, kernel, stride, dilation, pad0, pad1, opad)):
        o = (i - 1) * s - p0 - p1 + d * (k - 1) + op + 1
        if o < 1:
            raise ValueError(f"padding {p0}+{p1} leaves an output size of {o} < 1 along "
                             f"spatial dim {dim}")
        out_size.append(o)
    # the unpadded (full) output bounds every index the scatter computes
    full = N * C_out
    for i, k, s, d, op in zip(in_size, kernel, stride, dilation, opad):
        full *= (i - 1) * s + d * (k - 1) + op + 1
    if full > _MAX_ELEMENTS:
        raise ValueError(f"the transposed convolution's unpadded output is too large "
                         f"(stride {stride}, dilation {dilation})")
    # a stride or (1-tap) dilation that never moves, cut without changing
    # whether output_padding < stride or dilation
    stride = tuple(min(s, o + op + 1) if i == 1 else s
                   for s, i, o, op in zip(stride, in_size, out_size, opad))
    dilation = tuple(min(d, op + 1) if k == 1 else d for d, k, op in zip(dilation, kernel, opad))
    spec = ConvSpec(nd, batched, N, C_in, C_out, groups, tuple(in_size), tuple(out_size),
                    tuple(kernel), stride, dilation, pad0, pad1, 0, act, 0, dtype, alpha, lay)
    check_size(spec.out_shape)
    return spec, xb, weight, bias


def pool_spec(x, kernel_size, stride, padding, name="kernel_size", *, nd=2, dilation=1,
              ceil_mode=False, layout=None):
    """1-D to 3-D pooling with torch's rules (torch.nn.functional's
    max_pool/avg_pool); returns (spec, x batched)."""
    lay = layout_arg(layout)
    x = as_float_array(x, "x")
    xb, batched = spatial_input(x, nd)
    N, C, in_size = channels_split(xb, lay)
    if C == 0 or 0 in in_size:
        raise ValueError(f"x must have non-zero channels and spatial sizes (the batch may be "
                         f"empty), got shape {x.shape}")
    one = lambda v: v[0] if isinstance(v, (tuple, list)) and len(v) == 1 else v  # noqa: E731 - torch's (k,)
    k = tuple_arg(one(kernel_size), nd, name, minimum=1)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else tuple_arg(one(stride), nd, "stride", minimum=1)
    p = tuple_arg(one(padding), nd, "padding", minimum=0)
    dil = tuple_arg(one(dilation), nd, "dilation", minimum=1)
    if type(ceil_mode) is not bool and not isinstance(ceil_mode, (np.bool_, int)):
        raise TypeError(f"ceil_mode must be a bool, got {type(ceil_mode).__name__}")
    if any(pi * 2 > ki for pi, ki in zip(p, k)):
        raise ValueError(f"padding must be at most half of {name}; got padding {p}, "
                         f"{name} {k}")
    check_size((N * C,) + tuple(i + 2 * pi for i, pi in zip(in_size, p)), "the padded input")
    out = []
    for dim, (i, ki, si, pi, di) in enumerate(zip(in_size, k, s, p, dil)):
        span = di * (ki - 1) + 1
        num = i + 2 * pi - span + (si - 1 if ceil_mode else 0)
        o = num // si + 1   # floor, as torch's div_rtn
        if ceil_mode and (o - 1) * si >= i + pi:
            o -= 1          # the last window would start in the padding past the end
        if o < 1:
            raise ValueError(f"{name} {k} (dilation {dil}) with padding {p} leaves no output "
                             f"along spatial dim {dim} of size {i}")
        out.append(o)
    # a stride that never moves, a dilation of one tap: cut (no int64 overflow in C)
    s = tuple(max(1, v) for v in moving_stride(s, out, in_size, p, p,
                                               [di * (ki - 1) + 1 for ki, di in zip(k, dil)]))
    dil = tuple(1 if ki == 1 else di for ki, di in zip(k, dil))
    spec = ConvSpec(nd, batched, N, C, C, C, tuple(in_size), tuple(out), k, s, dil, p, p, 0, 0, 0,
                    x.dtype, 0.0, lay)
    return spec, xb


def kernel_1d(v, C: int, name: str, dtype) -> tuple[np.ndarray, bool]:
    a = as_float_array(v, name)
    if a.dtype != dtype:
        raise TypeError(f"inputs must share one dtype (float32 or float64); got x {dtype}, "
                        f"{name} {a.dtype}")
    if a.ndim == 1 and a.shape[0] >= 1:
        return a, False
    if a.ndim == 2 and a.shape[0] == C and a.shape[1] >= 1:
        return a, True
    raise ValueError(f"{name} must have shape (k,) or ({C}, k), got {a.shape}")


def ceil_div(a, b):
    return -(-a // b)


__all__ = ["ConvSpec", "conv_spec", "conv_transpose_spec", "pool_spec", "check_out", "check_residual",
           "activation_arg",
           "as_float_array", "common_dtype"]
