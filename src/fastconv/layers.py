"""Layer objects: weights copied and packed once, applied many times."""
from __future__ import annotations

import threading
from typing import Any, Callable, ClassVar

import numpy as np

from . import _args, _core, _docs
from ._core import Plan
from ._typing import (Activation, Algorithm, ArrayLike, FloatArray, IntOrTuple, Layout, Padding,
                      PaddingMode)

_MAX_PACKS = 8     # packed layouts a layer keeps (one per plan key)
_MAX_PLANS = 64    # plans a layer keeps (one per input geometry and ISA level)
from .functional import _conv, _conv_transpose, _result
from .grad import Gradients, layer_backward

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


class _Layer:
    """Owns read-only copies of weight and bias and their packings per ISA level.

    ``reuse_output=True``: a call without ``out=`` writes into the array the
    layer returned last for that shape (per thread) instead of a new one --
    fresh outputs cost page faults -- so a result is valid until the layer's
    next call of that shape: copy it to keep it."""
    _nd = 0
    _layout = ""
    _repr_args: tuple[str, ...]
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

    # Pickling (a layer shipped to Dask workers, fastconv.dask): the weights and
    # arguments travel; the packings, plans, lock and kept outputs are this
    # process's and are made again where the layer is unpickled.
    _TRANSIENT = ("_packs", "_plans", "_lock", "_tls")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for a in (self.weight, self.bias):
            if a is not None:
                a.setflags(write=False)
        self._packs, self._plans = {}, {}
        self._lock = threading.Lock()
        self._tls = threading.local()

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

    def backward(self, x: ArrayLike, grad_output: ArrayLike, *, residual: ArrayLike | None = None,
                 output: ArrayLike | None = None) -> Gradients:
        """The gradients of this layer's call on ``x``, given the gradient of
        the loss with respect to its output.

        Parameters
        ----------
        x : array_like
            The input the layer was called on (batched or not, in the layer's
            layout).
        grad_output : array_like
            The gradient with respect to the call's output, of its shape.
        residual : array_like, optional
            The residual the call added, if any (its gradient is returned).
        output : array_like, optional
            The call's output: with no activation, ``"relu"`` or ``"relu6"``
            its derivative is read from it; otherwise (and when not given) the
            pre-activation is recomputed with one forward call.

        Returns
        -------
        fastconv.grad.Gradients
            ``(input, weight, bias, residual)``: arrays of the shapes of ``x``,
            the weight, the bias (``None`` without one) and the residual
            (``None`` without one).

        Raises
        ------
        ValueError
            ``grad_output`` not of the call's output shape, or ``x``, ``residual`` or
            ``output`` not fitting the layer.

        Examples
        --------
        >>> import numpy as np
        >>> import fastconv as fc
        >>> layer = fc.Conv2d(np.ones((4, 2, 3, 3)), np.zeros(4), padding=1, activation="relu")
        >>> x = np.ones((1, 2, 5, 5))
        >>> g = layer.backward(x, np.ones((1, 4, 5, 5)))
        >>> g.input.shape, g.weight.shape, g.bias
        ((1, 2, 5, 5), (4, 2, 3, 3), array([25., 25., 25., 25.]))
        """
        return layer_backward(self, x, grad_output, residual=residual, output=output)

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
        """What this layer runs on input ``x``: the algorithm, the implementation, the
        input's preparation, the ISA level, whether the weights are packed, and why.

        Parameters
        ----------
        x : array_like or tuple of int
            An input array, or just its shape (a tuple of ints; the layer's dtype
            is assumed).

        Returns
        -------
        Plan or None
            The plan the next call on such an input runs (made once and kept);
            ``None`` where there is nothing to compute (an empty batch or output).

        Examples
        --------
        >>> import numpy as np
        >>> import fastconv as fc
        >>> layer = fc.Conv2d(np.ones((64, 64, 1, 1), np.float32))
        >>> plan = layer.plan((1, 64, 56, 56))
        >>> plan.algorithm, plan.implementation, plan.packs
        ('direct', 'pointwise-pixels', False)
        >>> print(plan)  # doctest: +ELLIPSIS
        direct -> pointwise-pixels on ... (float32), input: none, weights: as given; why: ...
        """
        if isinstance(x, tuple) and all(isinstance(v, int) for v in x):
            x = np.empty(x, self.weight.dtype)
        spec = self._spec(x)[0]
        if spec.empty or spec.C_in == 0:
            return None
        return self._plan_for(spec)

    def __call__(self, x: ArrayLike, *, residual: ArrayLike | None = None,
                 out: FloatArray | None = None) -> FloatArray:
        """Apply the layer: ``activation(conv(x) + bias + residual)``.

        <<para_the_same_numbers_as_the__15>>

        <<para_parameters_16>>

        <<para_returns_17>>

        Raises
        ------
        <<typeerror_4>>
        <<valueerror_4>>
        """
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
    """1-D convolution layer: the weights copied, checked and packed once,
    applied to many inputs.

    Calling the layer computes what :func:`conv1d` computes with the same
    arguments, without repacking the weights: faster on repeated calls,
    markedly on layers with big weights and small images. Every argument is
    checked at construction, so a bad layer fails there.

    Parameters
    ----------
    weight : array_like
        ``(C_out, C_in / groups, k)``, float32 or float64 (the layer's
        dtype; inputs must have it). Copied: changing the caller's array
        afterwards does not change the layer.
    <<bias_3>>
    stride, padding, dilation, groups, padding_mode, algorithm, activation
        As for :func:`conv1d`: ``padding`` an int, a tuple, ``(before,
        after)`` pairs, ``"valid"`` or ``"same"``; ``padding_mode`` one of
        ``"zeros"``, ``"reflect"``, ``"replicate"``, ``"circular"``;
        ``algorithm`` one of ``"auto"``, ``"direct"``, ``"gemm"``,
        ``"winograd"``; ``activation`` ``None``, a name or
        ``("leaky_relu", slope)``.
    <<reuse_output>>
    layout : str, optional
        ``None``/``"NCHW"`` (channels first) or ``"NLC"``/``"NHWC"``/
        ``"channels_last"``: inputs and results channels last.

    <<para_attributes_11>>

    <<para_raises_12>>

    See Also
    --------
    conv1d : the functional form.
    conv_plan : the plan of a functional call.

    <<para_notes_13>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> layer = fc.Conv1d(np.ones((8, 4, 3), np.float32), padding=1, activation="relu")
    >>> layer(np.ones((2, 4, 32), np.float32)).shape
    (2, 8, 32)
    """
    _nd = 1


class Conv2d(_ConvNd):
    """2-D convolution layer: the weights copied, checked and packed once,
    applied to many inputs.

    Calling the layer computes what :func:`conv2d` computes with the same
    arguments, without repacking the weights: faster on repeated calls,
    markedly on layers with big weights and small images. Every argument is
    checked at construction, so a bad layer fails there.

    Parameters
    ----------
    weight : array_like
        ``(C_out, C_in / groups, kH, kW)``, float32 or float64 (the layer's
        dtype; inputs must have it). Copied: changing the caller's array
        afterwards does not change the layer.
    <<bias_3>>
    stride, padding, dilation, groups, padding_mode, algorithm, activation
        As for :func:`conv2d`: ``padding`` an int, a tuple, ``(before,
        after)`` pairs, ``"valid"`` or ``"same"``; ``padding_mode`` one of
        ``"zeros"``, ``"reflect"``, ``"replicate"``, ``"circular"``;
        ``algorithm`` one of ``"auto"``, ``"direct"``, ``"gemm"``,
        ``"winograd"``; ``activation`` ``None``, a name or
        ``("leaky_relu", slope)``.
    <<reuse_output>>
    layout : str, optional
        ``None``/``"NCHW"`` (channels first) or ``"NHWC"``/
        ``"channels_last"``: inputs and results channels last.

    <<para_attributes_11>>

    <<para_raises_12>>

    See Also
    --------
    conv2d : the functional form.
    conv_plan : the plan of a functional call.

    <<para_notes_13>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> w = np.ones((16, 8, 3, 3), np.float32)
    >>> layer = fc.Conv2d(w, np.zeros(16, np.float32), padding=1, activation="relu")
    >>> layer
    Conv2d(weight=(16, 8, 3, 3), bias=True, stride=1, padding=1, dilation=1, groups=1, padding_mode='zeros', algorithm='auto', activation='relu', layout=None, dtype=float32)
    >>> x = np.ones((1, 8, 32, 32), np.float32)
    >>> y = layer(x)
    >>> y.shape, float(y[0, 0, 5, 5])
    ((1, 16, 32, 32), 72.0)
    >>> layer(np.ones((1, 8, 20, 24), np.float32)).shape    # another input size
    (1, 16, 20, 24)
    >>> z = layer(x, residual=y)                            # relu(conv(x) + b + y)
    >>> float(z[0, 0, 5, 5])
    144.0
    >>> layer.plan(x).algorithm in ("direct", "gemm", "winograd")
    True
    """
    _nd = 2


class Conv3d(_ConvNd):
    """3-D convolution layer: the weights copied, checked and packed once,
    applied to many inputs.

    Calling the layer computes what :func:`conv3d` computes with the same
    arguments, without repacking the weights: faster on repeated calls,
    markedly on layers with big weights and small images. Every argument is
    checked at construction, so a bad layer fails there.

    Parameters
    ----------
    weight : array_like
        ``(C_out, C_in / groups, kD, kH, kW)``, float32 or float64 (the layer's
        dtype; inputs must have it). Copied: changing the caller's array
        afterwards does not change the layer.
    <<bias_3>>
    stride, padding, dilation, groups, padding_mode, algorithm, activation
        As for :func:`conv3d`: ``padding`` an int, a tuple, ``(before,
        after)`` pairs, ``"valid"`` or ``"same"``; ``padding_mode`` one of
        ``"zeros"``, ``"reflect"``, ``"replicate"``, ``"circular"``;
        ``algorithm`` one of ``"auto"``, ``"direct"``, ``"gemm"``,
        ``"winograd"``; ``activation`` ``None``, a name or
        ``("leaky_relu", slope)``.
    <<reuse_output>>
    layout : str, optional
        ``None``/``"NCHW"`` (channels first) or ``"NDHWC"``/``"NHWC"``/
        ``"channels_last"``: inputs and results channels last.

    <<para_attributes_11>>

    <<para_raises_12>>

    See Also
    --------
    conv3d : the functional form.
    conv_plan : the plan of a functional call.

    <<para_notes_13>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> layer = fc.Conv3d(np.ones((8, 4, 3, 3, 3), np.float32), padding=1)
    >>> layer(np.ones((1, 4, 4, 8, 8), np.float32)).shape
    (1, 8, 4, 8, 8)
    """
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
        """Apply the layer: ``activation(conv_transpose(x) + bias + residual)``.

        <<para_the_same_numbers_as_the__15>>

        <<para_parameters_16>>

        <<para_returns_17>>

        Raises
        ------
        <<typeerror_4>>
        <<valueerror_4>>
        """
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
    """Transposed 1-D convolution layer: the weights copied and packed once.

    Calling the layer computes what :func:`conv_transpose1d` computes with
    the same arguments; the packed weights are kept per ISA level.

    Parameters
    ----------
    weight : array_like
        ``(C_in, C_out / groups, k)``, float32 or float64; copied.
    <<bias_4>>
    stride, padding, output_padding, groups, dilation, activation
        As for :func:`conv_transpose1d` (``padding``: an int, a tuple,
        ``(before, after)`` pairs or ``"valid"``).
    <<reuse_output>>
    layout : str, optional
        ``None``/``"NCHW"`` or ``"NLC"``/``"NHWC"``/``"channels_last"``.

    <<para_attributes_11>>

    <<para_raises_12>>

    <<para_notes_14>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> up = fc.ConvTranspose1d(np.ones((8, 4, 4), np.float32), stride=2, padding=1)
    >>> up(np.ones((1, 8, 16), np.float32)).shape
    (1, 4, 32)
    """
    _nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution layer: the weights copied and packed once.

    Calling the layer computes what :func:`conv_transpose2d` computes with
    the same arguments; the packed weights are kept per ISA level.

    Parameters
    ----------
    weight : array_like
        ``(C_in, C_out / groups, kH, kW)``, float32 or float64; copied.
    <<bias_4>>
    stride, padding, output_padding, groups, dilation, activation
        As for :func:`conv_transpose2d` (``padding``: an int, a tuple,
        ``(before, after)`` pairs or ``"valid"``).
    <<reuse_output>>
    layout : str, optional
        ``None``/``"NCHW"`` or ``"NHWC"``/``"channels_last"``.

    <<para_attributes_11>>

    <<para_raises_12>>

    <<para_notes_14>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> up = fc.ConvTranspose2d(np.ones((8, 4, 4, 4), np.float32), stride=2, padding=1,
    ...                         activation="relu")
    >>> up(np.ones((1, 8, 8, 8), np.float32)).shape
    (1, 4, 16, 16)
    """
    _nd = 2


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution layer: the weights copied and packed once.

    Calling the layer computes what :func:`conv_transpose3d` computes with
    the same arguments; the packed weights are kept per ISA level.

    Parameters
    ----------
    weight : array_like
        ``(C_in, C_out / groups, kD, kH, kW)``, float32 or float64; copied.
    <<bias_4>>
    stride, padding, output_padding, groups, dilation, activation
        As for :func:`conv_transpose3d` (``padding``: an int, a tuple,
        ``(before, after)`` pairs or ``"valid"``).
    <<reuse_output>>
    layout : str, optional
        ``None``/``"NCHW"`` or ``"NDHWC"``/``"NHWC"``/``"channels_last"``.

    <<para_attributes_11>>

    <<para_raises_12>>

    <<para_notes_14>>

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> up = fc.ConvTranspose3d(np.ones((8, 4, 2, 2, 2), np.float32), stride=2)
    >>> up(np.ones((1, 8, 2, 4, 4), np.float32)).shape
    (1, 4, 4, 8, 8)
    """
    _nd = 3


_docs.expand(globals())
