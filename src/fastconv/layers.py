"""Layer objects: weights copied and packed once, applied many times."""
from __future__ import annotations

import threading
from typing import Any, Callable, ClassVar

import numpy as np

from . import _args, _core
from ._core import Plan
from ._typing import (Activation, Algorithm, ArrayLike, FloatArray, IntOrTuple, Layout, Padding,
                      PaddingMode)

_MAX_PACKS = 8     # packed layouts a layer keeps (one per plan key)
_MAX_PLANS = 64    # plans a layer keeps (one per input geometry and ISA level)
from .functional import _conv, _conv_transpose, _result

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


class _Layer:
    """Owns read-only copies of weight and bias and their packings per ISA level.

    ``reuse_output=True``: a call without ``out=`` writes into the array the
    layer returned last for that shape (per thread) instead of a new one --
    fresh outputs cost page faults -- so a result is valid until the layer's
    next call of that shape: copy it to keep it."""
    _nd = 0
    _layout = ""
    _repr_args: tuple[str, ...] = ()
    weight: FloatArray
    bias: FloatArray | None
    reuse_output: bool

    def _own(self, weight, bias):
        w, b = _args.weight_arrays(self._nd, weight, bias, self._layout)
        w, b = w.copy(), None if b is None else b.copy()
        for a in (w, b):
            if a is not None:
                a.setflags(write=False)
        self.weight, self.bias = w, b
        self._finite = _core.all_finite(w)   # decided once: NaN/Inf weights compute the padding
        self._packs = {}        # plan key -> packed weights
        self._plans = {}        # (desc, isa, algorithm) -> the C plan
        self._lock = threading.Lock()
        self._tls = threading.local()   # reuse_output: each thread's kept outputs

    def _reused(self, out, shape, dtype, *inputs):
        """out, or (reuse_output=True) this thread's kept output of that shape:
        a new array is made only for a new shape (at most 4 kept) or where the
        kept one overlaps an input (the layer applied to its own last output)."""
        if out is not None or not self.reuse_output:
            return out
        kept = getattr(self._tls, "outs", None)
        if kept is None:
            kept = self._tls.outs = {}
        y = kept.get(shape)
        if y is None or any(a is not None and np.may_share_memory(y, a) for a in inputs):
            if len(kept) >= 4:
                kept.pop(next(iter(kept)))
            y = kept[shape] = np.empty(shape, dtype)
        return y

    def _packed(self, key, pack):
        """The packing for key, made once (pack() runs under the lock).  At most
        _MAX_PACKS are kept: a layer called on many shapes whose plans differ
        in their packed layout repacks rather than growing without bound."""
        p = self._packs.get(key)
        if p is None:
            with self._lock:
                p = self._packs.get(key)
                if p is None:
                    if len(self._packs) >= _MAX_PACKS:
                        self._packs.pop(next(iter(self._packs)))
                    p = self._packs[key] = pack()
        return p

    forward: ClassVar[Callable[..., FloatArray]]
    forward = lambda self, x, *, residual=None, out=None: self(x, residual=residual, out=out)  # noqa: E731

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._repr_args)
        return (f"{type(self).__name__}(weight={self.weight.shape}, "
                f"bias={self.bias is not None}, {args}, dtype={self.weight.dtype})")


class _ConvNd(_Layer):
    _layout = "C_out, C_in/groups"
    _repr_args = ("stride", "padding", "dilation", "groups", "padding_mode", "algorithm",
                  "activation", "layout")

    def __init__(self, weight: ArrayLike, bias: ArrayLike | None = None, stride: IntOrTuple = 1,
                 padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
                 padding_mode: PaddingMode = "zeros", algorithm: Algorithm = "auto",
                 activation: Activation = None, reuse_output: bool = False,
                 layout: Layout | None = None) -> None:
        self._own(weight, bias)
        self.reuse_output = bool(reuse_output)
        self.layout = layout
        lay = _args.layout_arg(layout)
        w, nd = self.weight, self._nd
        # Check every argument now with a probe input, so that a bad layer
        # fails at construction, not at its first call.
        dil = _args.tuple_arg(dilation, nd, "dilation", minimum=1)
        cin = (w.shape[1] * _args.int_arg(groups, "groups", minimum=1),)
        sp = tuple(d * (k - 1) + 1 for d, k in zip(dil, w.shape[2:]))
        probe = np.zeros((1,) + (sp + cin if lay else cin + sp), w.dtype)
        _args.conv_spec(nd, probe, w, self.bias, stride, 0, dilation, groups, "zeros",
                        algorithm, activation, layout)
        _args.choice_arg(padding_mode, _args.PAD_MODES, "padding_mode")
        _args.parse_padding(padding, nd)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.padding_mode, self.algorithm, self.activation = padding_mode, algorithm, activation

    def _spec(self, x):
        return _args.conv_spec(self._nd, x, self.weight, self.bias, self.stride, self.padding,
                               self.dilation, self.groups, self.padding_mode, self.algorithm,
                               self.activation, self.layout)

    def _plan_for(self, spec):
        """The C plan for this input geometry at the ISA level in force (made once)."""
        desc, isa = spec.c_desc(), _core.get_isa()
        pl = self._plans.get((desc, isa, spec.algorithm))
        if pl is None:
            pl = _core.plan(desc, spec.algorithm, int(spec.dtype.itemsize == 8),
                            finite=self._finite)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[(desc, isa, spec.algorithm)] = pl
        return pl

    def plan(self, x: ArrayLike | tuple[int, ...]) -> Plan | None:
        """What this layer runs on input x (an array, or its shape): the
        algorithm, the implementation, the input's preparation, the ISA level,
        whether the weights are packed, and why.  ``print(layer.plan(x))``."""
        if isinstance(x, tuple) and all(isinstance(v, int) for v in x):
            x = np.empty(x, self.weight.dtype)
        spec = self._spec(x)[0]
        if spec.empty or spec.C_in == 0:
            return None
        return self._plan_for(spec)

    def __call__(self, x: ArrayLike, *, residual: ArrayLike | None = None,
                 out: FloatArray | None = None) -> FloatArray:
        """activation(conv(x) + bias + residual); residual (the result's shape)
        may be out itself."""
        spec, xb, w, b = self._spec(x)
        if spec.empty or spec.C_in == 0:
            return _conv(self._nd, x, w, b, self.stride, self.padding, self.dilation,
                         self.groups, self.padding_mode, self.algorithm, self.activation, out,
                         residual, self.layout)
        rb = _args.check_residual(residual, spec)
        y, yb = _result(spec, self._reused(out, spec.out_shape, spec.dtype, x, rb), x)
        pl = self._plan_for(spec)
        if pl.packs:
            packed = self._packed(pl.key, lambda: _core.plan_pack(pl, w))
            _core.plan_run(pl, xb, packed, b, yb, packed=True, r=rb)
        else:
            _core.plan_run(pl, xb, w, b, yb, r=rb)
        return y


class Conv1d(_ConvNd):
    """1-D convolution layer; weight (C_out, C_in/groups, k)."""
    _nd = 1


class Conv2d(_ConvNd):
    """2-D convolution layer; weight (C_out, C_in/groups, kH, kW)."""
    _nd = 2


class Conv3d(_ConvNd):
    """3-D convolution layer; weight (C_out, C_in/groups, kD, kH, kW)."""
    _nd = 3


class _ConvTransposeNd(_Layer):
    _layout = "C_in, C_out/groups"
    _repr_args = ("stride", "padding", "output_padding", "groups", "dilation", "activation",
                  "layout")

    def __init__(self, weight: ArrayLike, bias: ArrayLike | None = None, stride: IntOrTuple = 1,
                 padding: Padding = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                 dilation: IntOrTuple = 1, *, activation: Activation = None,
                 reuse_output: bool = False, layout: Layout | None = None) -> None:
        self._own(weight, bias)
        self.reuse_output = bool(reuse_output)
        self.layout = layout
        w, nd = self.weight, self._nd
        probe = np.zeros((1,) + ((64,) * nd + (w.shape[0],) if _args.layout_arg(layout)
                                 else (w.shape[0],) + (64,) * nd), w.dtype)
        _args.conv_transpose_spec(nd, probe, w, self.bias, stride, 0, output_padding, groups,
                                  dilation, activation, layout)
        _args.parse_padding(padding, nd, allow_same=False)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.groups, self.dilation, self.activation = groups, dilation, activation

    def __call__(self, x: ArrayLike, *, residual: ArrayLike | None = None,
                 out: FloatArray | None = None) -> FloatArray:
        """activation(conv_transpose(x) + bias + residual); residual (the
        result's shape) may be out itself."""
        spec, xb, w, b = _args.conv_transpose_spec(
            self._nd, x, self.weight, self.bias, self.stride, self.padding,
            self.output_padding, self.groups, self.dilation, self.activation, self.layout)
        if spec.empty or spec.C_in == 0 or 0 in spec.in_size:
            return _conv_transpose(self._nd, x, w, b, self.stride, self.padding,
                                   self.output_padding, self.groups, self.dilation,
                                   self.activation, out, residual, self.layout)
        rb = _args.check_residual(residual, spec)
        y, yb = _result(spec, self._reused(out, spec.out_shape, spec.dtype, x, rb), x)
        packed = self._packed(_core.get_isa(), lambda: _core.conv_transpose_pack(spec.c_desc(), w))
        _core.conv_transpose_packed(spec.c_desc(), xb, packed, b, yb, rb)
        return y


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution layer; weight (C_in, C_out/groups, k)."""
    _nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution layer; weight (C_in, C_out/groups, kH, kW)."""
    _nd = 2


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution layer; weight (C_in, C_out/groups, kD, kH, kW)."""
    _nd = 3
