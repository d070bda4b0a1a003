"""Layer objects: weights copied and packed once, applied many times."""
from __future__ import annotations

import threading

import numpy as np

from . import _args, _core
from .functional import _conv_transpose, _fill_empty, _result

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


class _ConvNd:
    _nd = 0

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                 padding_mode="zeros", algorithm="auto", activation=None):
        w = np.array(_args.as_float_array(weight, "weight"), copy=True)
        b = None if bias is None else np.array(_args.as_float_array(bias, "bias"), copy=True)
        _args.common_dtype(weight=w, bias=b)
        nd = self._nd
        if w.ndim != nd + 2:
            raise ValueError(f"weight must have {nd + 2} dims (C_out, C_in/groups, ...), "
                             f"got shape {w.shape}")
        # Check every argument now with a probe input just large enough, so a
        # bad layer fails at construction, not at its first call.
        probe = np.zeros((1, w.shape[1] * _args.int_arg(groups, "groups", minimum=1))
                         + (1,) * nd, w.dtype)
        try:
            _args.conv_spec(nd, probe, w, b, stride, 0, dilation, groups, "zeros", "auto",
                            activation)
        except ValueError as e:
            if "does not fit" not in str(e):
                raise
        _args.choice_arg(padding_mode, _args.PAD_MODES, "padding_mode")
        _args.choice_arg(algorithm, _args.ALGORITHMS, "algorithm")
        _args.parse_padding(padding, nd)
        w.setflags(write=False)
        if b is not None:
            b.setflags(write=False)
        self.weight, self.bias = w, b
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.padding_mode, self.algorithm, self.activation = padding_mode, algorithm, activation
        self._packs = {}   # (algorithm code, ISA) -> packed weights
        self._lock = threading.Lock()

    def _packed(self, spec):
        algo = spec.algorithm
        if algo == 0:
            algo = _args.ALGORITHMS[_core.choose_algo(spec.c_desc(), int(spec.dtype.itemsize == 8))]
        key = (algo, _core.get_isa())
        p = self._packs.get(key)
        if p is None:
            with self._lock:
                p = self._packs.get(key)
                if p is None:
                    p = _core.conv_pack(spec.c_desc(), algo, self.weight)
                    self._packs[key] = p
        return algo, p

    def __call__(self, x, *, out=None):
        spec, xb, w, b = _args.conv_spec(self._nd, x, self.weight, self.bias, self.stride,
                                         self.padding, self.dilation, self.groups,
                                         self.padding_mode, self.algorithm, self.activation)
        y, yb = _result(spec, out, x)
        if spec.empty or spec.C_in == 0:
            _fill_empty(spec, yb, b)
            if yb.size and spec.activation:
                np.clip(yb, 0, 6 if spec.activation == 2 else None, out=yb)
            return y
        algo, packed = self._packed(spec)
        _core.conv_packed(spec.c_desc(), algo, xb, packed, b, yb)
        return y

    forward = __call__

    def __repr__(self):
        return (f"{type(self).__name__}(weight={self.weight.shape}, bias={self.bias is not None}, "
                f"stride={self.stride}, padding={self.padding!r}, dilation={self.dilation}, "
                f"groups={self.groups}, padding_mode={self.padding_mode!r}, "
                f"algorithm={self.algorithm!r}, dtype={self.weight.dtype})")


class Conv1d(_ConvNd):
    """1-D convolution layer; weight (C_out, C_in/groups, k)."""
    _nd = 1


class Conv2d(_ConvNd):
    """2-D convolution layer; weight (C_out, C_in/groups, kH, kW)."""
    _nd = 2


class Conv3d(_ConvNd):
    """3-D convolution layer; weight (C_out, C_in/groups, kD, kH, kW)."""
    _nd = 3


class _ConvTransposeNd:
    _nd = 0

    def __init__(self, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                 dilation=1, *, activation=None):
        w = np.array(_args.as_float_array(weight, "weight"), copy=True)
        b = None if bias is None else np.array(_args.as_float_array(bias, "bias"), copy=True)
        _args.common_dtype(weight=w, bias=b)
        nd = self._nd
        if w.ndim != nd + 2:
            raise ValueError(f"weight must have {nd + 2} dims (C_in, C_out/groups, ...), "
                             f"got shape {w.shape}")
        probe = np.zeros((1, w.shape[0]) + (64,) * nd, w.dtype)
        _args.conv_transpose_spec(nd, probe, w, b, stride, 0, output_padding, groups, dilation,
                                  activation)
        _args.parse_padding(padding, nd, allow_same=False)
        w.setflags(write=False)
        if b is not None:
            b.setflags(write=False)
        self.weight, self.bias = w, b
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.groups, self.dilation, self.activation = groups, dilation, activation
        self._packs = {}   # ISA -> packed weights
        self._lock = threading.Lock()

    def __call__(self, x, *, out=None):
        spec, xb, w, b = _args.conv_transpose_spec(
            self._nd, x, self.weight, self.bias, self.stride, self.padding,
            self.output_padding, self.groups, self.dilation, self.activation)
        if spec.empty or spec.C_in == 0 or 0 in spec.in_size:
            return _conv_transpose(self._nd, x, w, b, self.stride, self.padding,
                                   self.output_padding, self.groups, self.dilation,
                                   self.activation, out)
        y, yb = _result(spec, out, x)
        isa = _core.get_isa()
        packed = self._packs.get(isa)
        if packed is None:
            with self._lock:
                packed = self._packs.get(isa)
                if packed is None:
                    packed = self._packs[isa] = _core.conv_transpose_pack(spec.c_desc(), w)
        _core.conv_transpose_packed(spec.c_desc(), xb, packed, b, yb)
        return y

    forward = __call__

    def __repr__(self):
        return (f"{type(self).__name__}(weight={self.weight.shape}, bias={self.bias is not None}, "
                f"stride={self.stride}, padding={self.padding!r}, "
                f"output_padding={self.output_padding}, groups={self.groups}, "
                f"dilation={self.dilation}, dtype={self.weight.dtype})")


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution layer; weight (C_in, C_out/groups, k)."""
    _nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution layer; weight (C_in, C_out/groups, kH, kW)."""
    _nd = 2


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution layer; weight (C_in, C_out/groups, kD, kH, kW)."""
    _nd = 3
