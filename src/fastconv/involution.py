"""Involution2d: the whole operator of Li et al. (CVPR 2021), inference mode.

Kernel generation runs on fastconv's own ops: average pooling by the stride,
a 1x1 convolution C -> C/r with the BatchNorm (running statistics) folded in
and a fused ReLU, a 1x1 convolution C/r -> K*K*G, then involution2d.  The two
1x1 convolutions are layer objects (weights packed once per dtype), and the
validated problem descriptions of the pooling and the involution are kept per
input shape, so a call costs the C work plus one check of x.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _args, _core
from ._grad_involution import involution2d_input, involution2d_kernel
from ._typing import ArrayLike, FloatArray, Layout
from .grad import conv2d_input, conv2d_weight
from .layers import Conv2d

__all__ = ["Involution2d"]

_KEYS = ("conv1.conv.weight", "conv1.bn.weight", "conv1.bn.bias", "conv1.bn.running_mean",
         "conv1.bn.running_var", "conv2.conv.weight", "conv2.conv.bias")
BN_EPS = 1e-5


def _as_np(v, name):
    if hasattr(v, "detach") and hasattr(v, "numpy"):
        v = v.detach().cpu().numpy()
    try:
        a = np.asarray(v)
    except Exception as e:  # noqa: BLE001
        raise TypeError(f"state_dict[{name!r}] is not an array: {e}") from None
    if a.dtype.kind not in "fiu":
        raise TypeError(f"state_dict[{name!r}] must be numeric, got dtype {a.dtype}")
    return a.astype(np.float64)


class Involution2d:
    """The whole involution operator of Li et al. (CVPR 2021), in inference mode:
    the kernel generated from ``x``, then :func:`involution2d`.

    Kernel generation runs on fastconv's own ops: average pooling by the
    stride (when ``stride > 1``), a 1x1 convolution ``C -> C / r`` with the
    BatchNorm (running statistics, eps 1e-5) folded in and a fused ReLU, and a
    1x1 convolution ``C / r -> K * K * G`` with a bias; then
    ``involution2d(x, kernel, K, stride)`` with padding ``(K - 1) // 2``.
    ``G = channels // group_channels``.

    Parameters
    ----------
    channels : int
        C, the input's (and output's) channels.
    kernel_size : int, default 7
        K.
    stride : int, default 1
        The involution's stride (and the kernel branch's pooling).
    group_channels : int, default 16
        Channels per group; must divide ``channels``.
    reduction_ratio : int, default 4
        r: the kernel branch's bottleneck has ``channels // r`` channels.
    seed : int, numpy.random.Generator or None, optional
        The random initial weights (PyTorch's default initialisation of a
        convolution); load trained ones with :meth:`from_state_dict`.
    layout : str, optional
        ``None``/``"NCHW"``, or ``"NHWC"``: ``x`` and the result
        ``(N, H, W, C)``, the kernel generated channels last too.

    Attributes
    ----------
    channels, kernel_size, stride, group_channels, groups : int
        The operator's geometry.

    Raises
    ------
    ValueError
        ``group_channels`` not dividing ``channels``, or a ratio that leaves no
        channel.

    Notes
    -----
    Works on float32 and float64 inputs: the weights are kept in float64 and
    cast once per dtype. The two 1x1 convolutions are :class:`Conv2d` layer
    objects (weights packed once per dtype), and the validated problems are
    kept per input shape, so a call costs the C work plus one check of ``x``.
    ``forward`` is the same as calling the layer.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> inv = fc.Involution2d(64, kernel_size=7, stride=1, seed=0)
    >>> inv
    Involution2d(channels=64, kernel_size=7, stride=1, group_channels=16)
    >>> x = np.ones((1, 64, 14, 14), np.float32)
    >>> inv(x).shape, inv(x).dtype
    ((1, 64, 14, 14), dtype('float32'))
    >>> inv.kernel(x).shape                                 # (N, G, K*K, H, W)
    (1, 4, 49, 14, 14)
    >>> fc.Involution2d(64, 3, stride=2, seed=0)(x).shape
    (1, 64, 7, 7)
    """

    channels: int
    kernel_size: int
    stride: int
    group_channels: int
    groups: int
    layout: Layout | None

    def __init__(self, channels: int, kernel_size: int = 7, stride: int = 1,
                 group_channels: int = 16, reduction_ratio: int = 4, *,
                 seed: int | np.random.SeedSequence | np.random.Generator | None = None,
                 layout: Layout | None = None) -> None:
        C = _args.int_arg(channels, "channels", minimum=1)
        K = _args.int_arg(kernel_size, "kernel_size", minimum=1)
        gc = _args.int_arg(group_channels, "group_channels", minimum=1)
        r = _args.int_arg(reduction_ratio, "reduction_ratio", minimum=1)
        if C % gc:
            raise ValueError(f"group_channels={gc} must divide channels={C}")
        if C // r < 1:
            raise ValueError(f"reduction_ratio={r} leaves no channels (channels={C})")
        G, Cr = C // gc, C // r
        rng = np.random.default_rng(seed)
        # PyTorch's default init for a conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        b1, b2 = 1 / math.sqrt(C), 1 / math.sqrt(Cr)
        sd = {
            "conv1.conv.weight": rng.uniform(-b1, b1, (Cr, C, 1, 1)),
            "conv1.bn.weight": np.ones(Cr), "conv1.bn.bias": np.zeros(Cr),
            "conv1.bn.running_mean": np.zeros(Cr), "conv1.bn.running_var": np.ones(Cr),
            "conv2.conv.weight": rng.uniform(-b2, b2, (K * K * G, Cr, 1, 1)),
            "conv2.conv.bias": rng.uniform(-b2, b2, (K * K * G,)),
        }
        self._setup(sd, K, stride, gc, layout)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], *, stride: int = 1,
                        group_channels: int = 16,
                        layout: Layout | None = None) -> Involution2d:
        """An :class:`Involution2d` with trained weights, under the official
        repository's key names.

        Parameters
        ----------
        state_dict : mapping of str to array_like
            ``conv1.conv.weight`` ``(C/r, C, 1, 1)``, ``conv1.bn.weight``,
            ``conv1.bn.bias``, ``conv1.bn.running_mean``, ``conv1.bn.running_var``
            (each ``(C/r,)``), ``conv2.conv.weight`` ``(K*K*G, C/r, 1, 1)`` and
            ``conv2.conv.bias``; NumPy arrays, torch tensors or anything
            ``numpy.asarray`` takes. Other keys are ignored.
        stride : int, default 1
        group_channels : int, default 16
        layout : str, optional
            As for the constructor. ``channels`` and ``kernel_size`` are inferred
            from the weights.

        Returns
        -------
        Involution2d

        Raises
        ------
        ValueError
            A key missing, or weights of inconsistent shapes.
        TypeError
            ``state_dict`` not a mapping, or a value that is not a numeric array.

        Examples
        --------
        >>> import numpy as np
        >>> import fastconv as fc
        >>> sd = fc.Involution2d(32, kernel_size=3, group_channels=8, seed=1).state_dict()
        >>> fc.Involution2d.from_state_dict(sd, group_channels=8)
        Involution2d(channels=32, kernel_size=3, stride=1, group_channels=8)
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping of names to arrays, got "
                            f"{type(state_dict).__name__}")
        missing = [k for k in _KEYS if k not in state_dict]
        if missing:
            raise ValueError(f"state_dict lacks {missing} (needs {list(_KEYS)})")
        sd = {k: _as_np(state_dict[k], k) for k in _KEYS}
        w1, w2 = sd["conv1.conv.weight"], sd["conv2.conv.weight"]
        if w1.ndim != 4 or w1.shape[2:] != (1, 1):
            raise ValueError(f"conv1.conv.weight must be (C/r, C, 1, 1), got {w1.shape}")
        C = w1.shape[1]
        gc = _args.int_arg(group_channels, "group_channels", minimum=1)
        if C % gc:
            raise ValueError(f"group_channels={gc} must divide channels={C}")
        G = C // gc
        if w2.ndim != 4 or w2.shape[1:] != (w1.shape[0], 1, 1) or w2.shape[0] % G:
            raise ValueError(f"conv2.conv.weight must be (K*K*G, {w1.shape[0]}, 1, 1) with "
                             f"G={G}, got {w2.shape}")
        K = math.isqrt(w2.shape[0] // G)
        if K * K * G != w2.shape[0]:
            raise ValueError(f"conv2.conv.weight has {w2.shape[0]} output channels, not K*K*G "
                             f"for G={G}")
        self = cls.__new__(cls)
        self._setup(sd, K, stride, gc, layout)
        return self

    def _setup(self, sd, K, stride, gc, layout):
        self._lay = _args.layout_arg(layout)
        self.layout = layout
        Cr = sd["conv1.conv.weight"].shape[0]
        for k in _KEYS[1:5]:
            if sd[k].shape != (Cr,):
                raise ValueError(f"{k} must have shape ({Cr},), got {sd[k].shape}")
        if sd["conv2.conv.bias"].shape != (sd["conv2.conv.weight"].shape[0],):
            raise ValueError("conv2.conv.bias must have one value per conv2 output channel")
        self.channels = sd["conv1.conv.weight"].shape[1]
        self.kernel_size = K
        self.stride = _args.int_arg(stride, "stride", minimum=1)
        self.group_channels = gc
        self.groups = self.channels // gc
        self._sd = {k: v.copy() for k, v in sd.items()}
        # BatchNorm (running statistics) folded into conv1: scale rows, add a bias.
        scale = sd["conv1.bn.weight"] / np.sqrt(sd["conv1.bn.running_var"] + BN_EPS)
        w1 = sd["conv1.conv.weight"][:, :, 0, 0] * scale[:, None]
        b1 = sd["conv1.bn.bias"] - sd["conv1.bn.running_mean"] * scale
        self._f64 = (w1, b1, sd["conv2.conv.weight"][:, :, 0, 0], sd["conv2.conv.bias"])
        self._by_dtype = {}
        self._plans = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """The weights and geometry (pickling, e.g. to Dask workers); the layers
        per dtype, the checked problems and the lock are made again."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_by_dtype", "_plans", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._by_dtype, self._plans = {}, {}
        self._lock = threading.Lock()

    def state_dict(self) -> dict[str, FloatArray]:
        """The weights under the official repository's key names.

        Returns
        -------
        dict of str to numpy.ndarray
            float64 copies: ``conv1.conv.weight``, ``conv1.bn.weight``,
            ``conv1.bn.bias``, ``conv1.bn.running_mean``, ``conv1.bn.running_var``,
            ``conv2.conv.weight``, ``conv2.conv.bias``.
        """
        return {k: v.copy() for k, v in self._sd.items()}

    def _layers(self, dtype):
        """The two 1x1 convolutions as layer objects in dtype (made once)."""
        w = self._by_dtype.get(dtype)
        if w is None:
            with self._lock:
                w = self._by_dtype.get(dtype)
                if w is None:
                    w1, b1, w2, b2 = (np.ascontiguousarray(a, dtype=dtype) for a in self._f64)
                    w = self._by_dtype[dtype] = (
                        Conv2d(w1[:, :, None, None], b1, activation="relu", layout=self.layout),
                        Conv2d(w2[:, :, None, None], b2, layout=self.layout))
        return w

    _MAX_PLANS = 32

    def _plan(self, x):
        """(pooling desc or None, pooled shape, involution desc, output shape) for
        x's shape and dtype, checked once."""
        key = (x.shape, x.dtype)
        p = self._plans.get(key)
        if p is not None:
            return p
        lay = self._lay
        if x.ndim != 4 or x.shape[3 if lay else 1] != self.channels:
            want = f"(N, H, W, {self.channels})" if lay else f"(N, {self.channels}, H, W)"
            raise ValueError(f"x must have shape {want}, got {x.shape}")
        N, C, (H, W) = _args.channels_split(x, lay)
        K, s, pad = self.kernel_size, self.stride, (self.kernel_size - 1) // 2
        osz = _args.conv_out_size((H, W), (K, K), (s, s), (1, 1), (pad, pad), (pad, pad),
                                  what="kernel_size")
        if s > 1 and (H // s, W // s) != osz:
            raise ValueError(f"x of spatial size {(H, W)} gives a pooled kernel map of "
                             f"{(H // s, W // s)} but an involution output of {osz} at "
                             f"stride {s}")
        pool = None
        if s > 1:
            pool = _args.ConvSpec(2, True, N, C, C, C, (H, W), osz, (s, s), (s, s), (1, 1),
                                  (0, 0), (0, 0), 0, 0, 0, x.dtype, 0.0, lay).c_desc()
        inv = _args.ConvSpec(2, True, N, C, C, self.groups, (H, W), osz, (K, K), (s, s),
                             (1, 1), (pad, pad), (pad, pad), 0, 0, 0, x.dtype, 0.0, lay)
        _args.check_size(inv.out_shape, "the output")
        _args.check_size((N, K * K * self.groups) + osz, "the generated kernel")
        p = (pool, inv.out_shape, inv.c_desc(), inv.out_shape)
        with self._lock:
            if len(self._plans) >= self._MAX_PLANS:
                self._plans.clear()
            self._plans[key] = p
        return p

    def _kernel(self, x, plan):
        pool, pooled_shape, _, _ = plan
        conv1, conv2 = self._layers(x.dtype)
        src = x
        if pool is not None:
            src = np.empty(pooled_shape, x.dtype)
            _core.avg_pool(pool, x, src)
        return conv2(conv1(src))

    def kernel(self, x: ArrayLike) -> FloatArray:
        """The involution kernel generated for ``x``.

        Parameters
        ----------
        x : array_like
            ``(N, C, H, W)`` (or ``(N, H, W, C)`` channels last), float32 or float64.

        Returns
        -------
        numpy.ndarray
            ``(N, G, K*K, H_out, W_out)``, or channels last ``(N, H_out, W_out, G,
            K*K)``: what the layer passes to :func:`involution2d`.
        """
        x = _args.as_float_array(x, "x")
        k = self._kernel(x, self._plan(x))
        if self._lay:
            N, H, W, _ = k.shape
            return k.reshape(N, H, W, self.groups, self.kernel_size ** 2)
        N, _, H, W = k.shape
        return k.reshape(N, self.groups, self.kernel_size ** 2, H, W)

    def __call__(self, x: ArrayLike, *, out: FloatArray | None = None) -> FloatArray:
        """Apply the operator: generate the kernel from ``x`` and run the involution.

        Parameters
        ----------
        x : array_like
            ``(N, channels, H, W)`` (or ``(N, H, W, channels)`` channels last),
            float32 or float64; at ``stride > 1`` the pooled size must match the
            involution's output size (``H`` and ``W`` divisible by the stride, for
            odd kernels).
        out : numpy.ndarray, optional
            A C-contiguous array of the result's shape and dtype, written and
            returned.

        Returns
        -------
        numpy.ndarray
            ``(N, channels, H_out, W_out)`` (or channels last), of ``x``'s dtype.

        Raises
        ------
        TypeError
            ``x`` not float32 or float64.
        ValueError
            ``x`` of the wrong channels or a size the stride does not divide, or a
            bad ``out``.
        """
        x = _args.as_float_array(x, "x")
        plan = self._plan(x)
        y = _args.check_out(out, plan[3], x.dtype, x)
        if y is None:
            y = np.empty(plan[3], x.dtype)
        if y.size == 0:
            return y
        _core.involution(plan[2], x, self._kernel(x, plan), y)
        return y

    forward = __call__

    def backward(self, x: ArrayLike, grad_output: ArrayLike) -> tuple[FloatArray, dict[str, FloatArray]]:
        """The gradients of the whole operator (inference mode) at ``x``.

        Through both paths ``x`` takes: the involution's input, and the kernel
        generation (the kernel's gradient, :func:`fastconv.grad.involution2d_kernel`,
        back through the second 1x1 convolution, the ReLU's mask, the first
        1x1 convolution with its BatchNorm in eval mode, and the average pooling).

        Parameters
        ----------
        x : array_like
            The forward's input, as for calling the layer.
        grad_output : array_like
            The gradient of the loss with respect to the layer's output (its
            shape), of ``x``'s dtype.

        Returns
        -------
        grad_input : numpy.ndarray
            Of ``x``'s shape and dtype.
        grads : dict of str to numpy.ndarray
            The parameters' gradients under the official state-dict names, of
            ``x``'s dtype: ``conv1.conv.weight`` ``(C/r, C, 1, 1)`` (of the
            original convolution's weight, the BatchNorm's running statistics
            held fixed), ``conv1.bn.weight``, ``conv1.bn.bias`` ``(C/r,)``,
            ``conv2.conv.weight`` ``(K*K*G, C/r, 1, 1)``, ``conv2.conv.bias``.
            The running statistics get none (eval mode).

        Raises
        ------
        TypeError
            ``x`` or ``grad_output`` not float32 or float64, or of two dtypes.
        ValueError
            ``x`` as for calling the layer; ``grad_output`` not of the output's shape.

        Notes
        -----
        The kernel is generated again from ``x`` (nothing is kept from the
        forward). The involution's gradients are C kernels (no unfold buffer);
        the 1x1 convolutions' are :func:`fastconv.grad.conv2d_input` and
        :func:`fastconv.grad.conv2d_weight` (channels first) or matrix products
        (channels last); the pooling's is a broadcast add.

        Examples
        --------
        >>> import numpy as np
        >>> import fastconv as fc
        >>> inv = fc.Involution2d(32, kernel_size=3, stride=2, group_channels=8, seed=0)
        >>> x = np.ones((1, 32, 8, 8))
        >>> gx, grads = inv.backward(x, np.ones((1, 32, 4, 4)))
        >>> gx.shape
        (1, 32, 8, 8)
        >>> {k: v.shape for k, v in grads.items()}      # doctest: +NORMALIZE_WHITESPACE
        {'conv1.conv.weight': (8, 32, 1, 1), 'conv1.bn.weight': (8,), 'conv1.bn.bias': (8,),
         'conv2.conv.weight': (36, 8, 1, 1), 'conv2.conv.bias': (36,)}
        """
        x = _args.as_float_array(x, "x")
        gy = _args.as_float_array(grad_output, "grad_output")
        dt = _args.common_dtype(x=x, grad_output=gy)
        plan = self._plan(x)
        pool, pooled_shape, _, out_shape = plan
        if gy.shape != tuple(out_shape):
            raise ValueError(f"grad_output must have the output's shape {tuple(out_shape)}, got {gy.shape}")
        lay, K, s, G, C = self._lay, self.kernel_size, self.stride, self.groups, self.channels
        N = x.shape[0]
        conv1, conv2 = self._layers(dt)
        h = x
        if pool is not None:
            h = np.empty(pooled_shape, dt)
            _core.avg_pool(pool, x, h)
        a1 = conv1(h)                      # relu(bn(conv(h))), BN folded
        kern = conv2(a1)                   # (N, G*K*K, Ho, Wo) or channels last
        Ho, Wo = (kern.shape[1:3] if lay else kern.shape[2:])
        kshape = (N, Ho, Wo, G, K * K) if lay else (N, G, K * K, Ho, Wo)
        pad = (K - 1) // 2
        gx = involution2d_input(x.shape, kern.reshape(kshape), gy, K, s, pad, layout=self.layout)
        gk = involution2d_kernel(x, gy, K, G, s, pad, layout=self.layout).reshape(kern.shape)
        del kern
        w1f, _, w2, _ = (np.ascontiguousarray(a, dtype=dt) for a in self._f64)
        Cr = w1f.shape[0]
        if lay:   # channels last: the 1x1 convolutions are products of (pixels, channels) matrices
            gk2, a12, h2 = gk.reshape(-1, gk.shape[-1]), a1.reshape(-1, Cr), h.reshape(-1, C)
            g_w2 = (gk2.T @ a12)[:, :, None, None]
            g_b2 = gk2.sum(axis=0)
            gz1 = gk2 @ w2
            gz1 *= a12 > 0
            g1 = gz1.T @ h2                              # d loss / d (the folded weight)
            gh = (gz1 @ w1f).reshape(h.shape)
            g_beta = gz1.sum(axis=0)
        else:
            g_w2 = conv2d_weight(a1, (K * K * G, Cr, 1, 1), gk)
            g_b2 = gk.sum(axis=(0, 2, 3))
            gz1 = conv2d_input(a1.shape, w2[:, :, None, None], gk)
            gz1 *= a1 > 0
            g1 = conv2d_weight(h, (Cr, C, 1, 1), gz1)[:, :, 0, 0]
            gh = conv2d_input(h.shape, w1f[:, :, None, None], gz1)
            g_beta = gz1.sum(axis=(0, 2, 3))
        sd = self._sd
        std = np.sqrt(sd["conv1.bn.running_var"] + BN_EPS)
        scale = sd["conv1.bn.weight"] / std
        w1 = sd["conv1.conv.weight"][:, :, 0, 0]
        g_gamma = ((g1 * w1).sum(axis=1) - sd["conv1.bn.running_mean"] * g_beta) / std
        g_w1 = (g1 * scale[:, None])[:, :, None, None]
        # the average pooling's gradient: each window's value spread over its s*s inputs
        if pool is None:
            gx += gh
        elif lay:
            gx.reshape(N, Ho, s, Wo, s, C)[...] += gh[:, :, None, :, None, :] / (s * s)
        else:
            gx.reshape(N, C, Ho, s, Wo, s)[...] += gh[:, :, :, None, :, None] / (s * s)
        grads = {"conv1.conv.weight": g_w1, "conv1.bn.weight": g_gamma, "conv1.bn.bias": g_beta,
                 "conv2.conv.weight": g_w2, "conv2.conv.bias": g_b2}
        return gx, {k: np.ascontiguousarray(v, dtype=dt) for k, v in grads.items()}

    def __repr__(self) -> str:
        return (f"Involution2d(channels={self.channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, group_channels={self.group_channels}"
                + (f", layout={self.layout!r})" if self._lay else ")"))
