"""Folding an inference-mode BatchNorm into the convolution before it."""
from __future__ import annotations

import numpy as np

from . import _args
from ._typing import ArrayLike, FloatArray


def fold_batchnorm(weight: ArrayLike, bias: ArrayLike | None, running_mean: ArrayLike,
                   running_var: ArrayLike, gamma: ArrayLike | None = None,
                   beta: ArrayLike | None = None, eps: float = 1e-5, *,
                   transposed: bool = False, groups: int = 1
                   ) -> tuple[FloatArray, FloatArray]:
    """The weights and bias of ``bn(conv(x))`` as one convolution, for a BatchNorm in
    inference mode (its running statistics).

    ``bn(z) = gamma * (z - mean) / sqrt(var + eps) + beta`` after
    ``z = conv(x) + bias`` is the convolution with weights
    ``weight * gamma / sqrt(var + eps)`` (per output channel) and bias
    ``(bias - mean) * gamma / sqrt(var + eps) + beta``.

    Parameters
    ----------
    weight : array_like
        A convolution's ``(C_out, C_in / groups, *k)``, or with
        ``transposed=True`` a transposed convolution's ``(C_in, C_out / groups,
        *k)`` (its output channels on the second axis, per group). float32 or
        float64.
    bias : array_like or None
        ``(C_out,)``, or None (zero).
    running_mean, running_var : array_like
        ``(C_out,)``: the BatchNorm's running statistics.
    gamma, beta : array_like, optional
        ``(C_out,)``: its affine weight (default 1) and bias (default 0).
    eps : float, default 1e-5
        Finite and >= 0.
    transposed : bool, default False
        ``weight`` is a transposed convolution's.
    groups : int, default 1
        The convolution's groups (matters for ``transposed=True``).

    Returns
    -------
    weight, bias : tuple of numpy.ndarray
        New arrays of the weight's dtype (computed in float64).

    Raises
    ------
    TypeError
        Arrays that are not numbers of float32 or float64, running statistics
        missing, or an ``eps`` that is not a number.
    ValueError
        Shapes that do not match, or ``running_var + eps`` not positive.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> w = np.ones((4, 3, 3, 3), np.float32)
    >>> wf, bf = fc.fold_batchnorm(w, None, np.full(4, 2.0), np.full(4, 3.0), eps=1.0)
    >>> float(wf[0, 0, 0, 0]), float(bf[0])
    (0.5, -1.0)
    >>> wf.dtype, wf.shape
    (dtype('float32'), (4, 3, 3, 3))
    """
    w = _args.as_float_array(weight, "weight")
    groups = _args.int_arg(groups, "groups", minimum=1)
    if w.ndim < 3:
        raise ValueError(f"weight must have at least 3 dims (out, in, *kernel), got shape {w.shape}")
    if w.shape[0] % groups:
        raise ValueError(f"weight's first dim ({w.shape[0]}) must be divisible by groups ({groups})")
    C_out = w.shape[1] * groups if transposed else w.shape[0]

    def vec(v, name, default):
        if v is None:
            return np.full(C_out, default, np.float64)
        a = _args.as_float_array(v, name)
        if a.shape != (C_out,):
            raise ValueError(f"{name} must have shape ({C_out},), got {a.shape}")
        return a.astype(np.float64)

    if running_mean is None or running_var is None:
        raise TypeError("running_mean and running_var are required")
    mean, var = vec(running_mean, "running_mean", 0.0), vec(running_var, "running_var", 1.0)
    g, bt = vec(gamma, "gamma", 1.0), vec(beta, "beta", 0.0)
    b = vec(bias, "bias", 0.0)
    eps = _args.float_arg(eps, "eps")
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    denom = var + eps
    if np.any(denom <= 0) or np.any(np.isnan(denom)):
        raise ValueError("running_var + eps must be > 0 in every channel")
    scale = g / np.sqrt(denom)
    w64 = w.astype(np.float64)
    if transposed:
        Cig, Cog = w.shape[0] // groups, w.shape[1]
        s = scale.reshape(groups, 1, Cog, *([1] * (w.ndim - 2)))
        wf = (w64.reshape(groups, Cig, Cog, *w.shape[2:]) * s).reshape(w.shape)
    else:
        wf = w64 * scale.reshape(C_out, *([1] * (w.ndim - 1)))
    bf = (b - mean) * scale + bt
    return wf.astype(w.dtype), bf.astype(w.dtype)
