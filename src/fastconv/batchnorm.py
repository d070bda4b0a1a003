"""Folding an inference-mode BatchNorm into the convolution before it."""
from __future__ import annotations

import numpy as np

from . import _args


def fold_batchnorm(weight, bias, running_mean, running_var, gamma=None, beta=None, eps=1e-5, *,
                   transposed: bool = False, groups: int = 1):
    """The weights and bias of ``bn(conv(x))`` as one convolution, for a
    BatchNorm in inference mode (its running statistics):
    ``y = gamma * (conv(x) + bias - mean) / sqrt(var + eps) + beta``.

    weight: a convolution's (C_out, C_in/groups, *k), or with ``transposed=True``
    a transposed convolution's (C_in, C_out/groups, *k) (its output channels on
    the second axis, per group); bias (C_out,) or None; the statistics and
    ``gamma`` (default 1) / ``beta`` (default 0) of shape (C_out,).  Returns
    ``(weight, bias)`` of the input's dtype (computed in float64), new arrays."""
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
