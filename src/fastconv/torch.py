"""The PyTorch bridge (issue 28): autograd-aware convolutions on fastconv's
kernels, under ``torch.nn.functional``'s names and signatures, and
``torch.nn`` modules built on them, so that a torch model trains on the CPU
with fastconv computing every convolution, forward and backward.

Optional: ``pip install "fastconv[torch]"``.  ``import fastconv`` never
imports torch; ``import fastconv.torch`` does.

Functions: :func:`conv1d`, :func:`conv2d`, :func:`conv3d`,
:func:`conv_transpose1d`, :func:`conv_transpose2d`, :func:`conv_transpose3d`
(the arguments of their ``torch.nn.functional`` namesakes) and
:func:`involution2d`.  Modules: :class:`Conv1d`, :class:`Conv2d`,
:class:`Conv3d` (subclasses of their ``torch.nn`` namesakes: every argument,
``groups`` for grouped and depthwise convolutions and ``padding_mode``
included, and the same state dict), :class:`ConvTranspose1d`,
:class:`ConvTranspose2d`, :class:`ConvTranspose3d`, and :class:`Involution2d`
(the whole operator with the official state-dict names).

Each function is a custom operator (``torch.library.custom_op``, namespace
``fastconv``) with a fake (shape) implementation and a registered backward,
so ``torch.compile`` keeps it as one node of its graph and autograd calls
fastconv's gradients (:mod:`fastconv.grad`) for the inputs that need one.
The tensors go to NumPy and back without a copy when they are contiguous:
CPU tensors of float32 or float64 only (anything else is refused with an
error saying why).  The gradient ops are differentiable too (each is
linear in its two tensors, its derivatives the forward op and the other
gradient), so double backward (``torch.autograd.grad(..., create_graph=True)``,
gradient penalties, ``torch.autograd.gradgradcheck``) runs on fastconv's
kernels as well.

For example, a convolution and its gradients:

>>> import torch
>>> import fastconv.torch as fct
>>> x = torch.ones(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
>>> w = torch.ones(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
>>> y = fct.conv2d(x, w, padding=1)
>>> y.shape, y[0, 0, 2, 2].item(), y[0, 0, 0, 0].item()
(torch.Size([1, 3, 5, 5]), 18.0, 8.0)
>>> y.sum().backward()
>>> x.grad[0, 0, 2, 2].item(), w.grad[0, 0, 1, 1].item()
(27.0, 25.0)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import _args
from . import grad as _grad
from .functional import (conv1d as _fc_conv1d, conv2d as _fc_conv2d, conv3d as _fc_conv3d,
                         conv_transpose1d as _fc_convt1d, conv_transpose2d as _fc_convt2d,
                         conv_transpose3d as _fc_convt3d, involution2d as _fc_involution2d)

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "involution2d", "Conv1d", "Conv2d", "Conv3d",
           "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Involution2d"]

Tensor = torch.Tensor
_DTYPES = (torch.float32, torch.float64)
_CONV = {1: _fc_conv1d, 2: _fc_conv2d, 3: _fc_conv3d}
_CONVT = {1: _fc_convt1d, 2: _fc_convt2d, 3: _fc_convt3d}


# ---------------------------------------------------------------- tensors <-> arrays

def _check(**tensors: Tensor | None) -> None:
    """Every tensor given: a dense CPU tensor of float32/float64, all of one dtype."""
    dtype = None
    for name, t in tensors.items():
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.device.type != "cpu":
            raise ValueError(f"{name} is on device {t.device}: fastconv.torch computes on the CPU "
                             f"only (move it with .cpu())")
        if t.layout != torch.strided:
            raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}")
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name} must be float32 or float64, got {t.dtype} "
                            f"(fastconv never casts)")
        if dtype is None:
            dtype = t.dtype
        elif t.dtype != dtype:
            raise TypeError(f"{name} is {t.dtype} but the other tensors are {dtype}: "
                            f"all must be of one dtype")


def _np(t: Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().contiguous().numpy()


def _tensor(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _pairs(pad0: Sequence[int], pad1: Sequence[int]) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in zip(pad0, pad1))


def _has(name: str) -> bool:
    return callable(getattr(_grad, name, None))


def _conv_out(in_size, kernel, stride, pad0, pad1, dilation, what="kernel"):
    """Output sizes of a convolution (plain arithmetic: works on symbolic sizes)."""
    out = []
    for dim, (i, k, s, p0, p1, d) in enumerate(zip(in_size, kernel, stride, pad0, pad1, dilation)):
        o = (i + p0 + p1 - d * (k - 1) - 1) // s + 1
        if o < 1:
            raise ValueError(f"{what} does not fit: the dilated {what} spans {d * (k - 1) + 1} along "
                             f"spatial dim {dim} but the padded input has {i + p0 + p1}")
        out.append(o)
    return out


def _convt_out(in_size, kernel, stride, pad0, pad1, output_padding, dilation):
    out = []
    for dim, (i, k, s, p0, p1, op, d) in enumerate(
            zip(in_size, kernel, stride, pad0, pad1, output_padding, dilation)):
        o = (i - 1) * s - p0 - p1 + d * (k - 1) + op + 1
        if o < 1:
            raise ValueError(f"padding {p0}+{p1} leaves an output size of {o} < 1 along "
                             f"spatial dim {dim}")
        out.append(o)
    return out


# ---------------------------------------------------------------- convolution ops

_CONV_ARGS = "int[] stride, int[] pad0, int[] pad1, int[] dilation, int groups"


@torch.library.custom_op("fastconv::conv", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor input, Tensor weight, Tensor? bias, {_CONV_ARGS}) -> Tensor")
def _conv_op(input, weight, bias, stride, pad0, pad1, dilation, groups):
    nd = input.dim() - 2
    return _tensor(_CONV[nd](_np(input), _np(weight), _np(bias), tuple(stride), _pairs(pad0, pad1),
                             tuple(dilation), groups))


@_conv_op.register_fake
def _(input, weight, bias, stride, pad0, pad1, dilation, groups):
    C_out, cig = weight.shape[:2]
    if input.shape[1] != cig * groups or C_out % groups:
        raise ValueError(f"weight {tuple(weight.shape)} does not fit groups={groups} and "
                         f"input {tuple(input.shape)}")
    out = _conv_out(input.shape[2:], weight.shape[2:], stride, pad0, pad1, dilation)
    return input.new_empty([input.shape[0], C_out] + out)


@torch.library.custom_op("fastconv::conv_input_grad", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor grad_output, Tensor weight, int[] input_size, {_CONV_ARGS})"
                                f" -> Tensor")
def _conv_input_grad(grad_output, weight, input_size, stride, pad0, pad1, dilation, groups):
    nd = weight.dim() - 2
    fn = getattr(_grad, f"conv{nd}d_input")
    return _tensor(fn(tuple(input_size), _np(weight), _np(grad_output), tuple(stride),
                      _pairs(pad0, pad1), tuple(dilation), groups))


@_conv_input_grad.register_fake
def _(grad_output, weight, input_size, stride, pad0, pad1, dilation, groups):
    return grad_output.new_empty(list(input_size))


@torch.library.custom_op("fastconv::conv_weight_grad", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor input, Tensor grad_output, int[] weight_size, {_CONV_ARGS})"
                                f" -> Tensor")
def _conv_weight_grad(input, grad_output, weight_size, stride, pad0, pad1, dilation, groups):
    nd = input.dim() - 2
    fn = getattr(_grad, f"conv{nd}d_weight")
    return _tensor(fn(_np(input), tuple(weight_size), _np(grad_output), tuple(stride),
                      _pairs(pad0, pad1), tuple(dilation), groups))


@_conv_weight_grad.register_fake
def _(input, grad_output, weight_size, stride, pad0, pad1, dilation, groups):
    return input.new_empty(list(weight_size))


def _bias_grad(grad_output: Tensor) -> Tensor:
    return grad_output.sum([d for d in range(grad_output.dim()) if d != 1])


def _conv_setup(ctx, inputs, output):
    input, weight, bias, *geom = inputs
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    # keep only what the requested gradients read
    ctx.save_for_backward(input if need_w else None, weight if need_x else None)
    ctx.shapes = (list(input.shape), list(weight.shape), bias is not None)
    ctx.geom = geom


def _conv_backward(ctx, grad_output):
    input, weight = ctx.saved_tensors
    in_size, w_size, has_bias = ctx.shapes
    gx = gw = gb = None
    if ctx.needs_input_grad[0]:
        gx = _conv_input_grad(grad_output, weight, in_size, *ctx.geom)
    if ctx.needs_input_grad[1]:
        gw = _conv_weight_grad(input, grad_output, w_size, *ctx.geom)
    if has_bias and ctx.needs_input_grad[2]:
        gb = _bias_grad(grad_output)
    return gx, gw, gb, None, None, None, None, None


_conv_op.register_autograd(_conv_backward, setup_context=_conv_setup)


# The gradients are linear in each of their two tensors, and each one's
# derivatives are the forward op and the other gradient (the adjoint
# identities <conv_input_grad(gy, w), u> = <gy, conv(u, w)> and
# <conv_weight_grad(x, gy), v> = <gy, conv(x, v)>), so the backward is itself
# differentiable: double backward on the same kernels.

def _bilinear_setup(ctx, inputs, output):
    a, b, size, *geom = inputs
    ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
    ctx.size, ctx.geom = list(a.shape), geom


def _bilinear_setup_b(ctx, inputs, output):
    """and the second tensor's shape (a weight's size; an involution kernel's groups)"""
    _bilinear_setup(ctx, inputs, output)
    ctx.size_b = list(inputs[1].shape)
    ctx.groups = inputs[1].shape[1]


def _bilinear_backward(first, second):
    """d/da and d/db of op(a, b, size, *geom): first(u, b...), second(u, a...)"""
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da = first(ctx, grad, b) if ctx.needs_input_grad[0] else None
        db = second(ctx, grad, a) if ctx.needs_input_grad[1] else None
        return (da, db) + (None,) * (1 + len(ctx.geom))
    return backward


_conv_input_grad.register_autograd(_bilinear_backward(          # (grad_output, weight)
    lambda ctx, u, w: _conv_op(u, w, None, *ctx.geom),
    lambda ctx, u, gy: _conv_weight_grad(u, gy, ctx.size_b, *ctx.geom)),
    setup_context=_bilinear_setup_b)
_conv_weight_grad.register_autograd(_bilinear_backward(         # (input, grad_output)
    lambda ctx, u, gy: _conv_input_grad(gy, u, ctx.size, *ctx.geom),
    lambda ctx, u, x: _conv_op(x, u, None, *ctx.geom)),
    setup_context=_bilinear_setup)


def _conv(nd, input, weight, bias, stride, padding, dilation, groups):
    _check(input=input, weight=weight, bias=bias)
    stride = _args.tuple_arg(stride, nd, "stride", minimum=1)
    dilation = _args.tuple_arg(dilation, nd, "dilation", minimum=1)
    groups = _args.int_arg(groups, "groups", minimum=1)
    if weight.dim() != nd + 2:
        raise ValueError(f"weight must have {nd + 2} dims (C_out, C_in/groups, k...), "
                         f"got shape {tuple(weight.shape)}")
    if input.dim() not in (nd + 1, nd + 2):
        raise ValueError(f"input must have {nd + 1} (unbatched) or {nd + 2} dims, "
                         f"got shape {tuple(input.shape)}")
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != weight.shape[0]):
        raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    kind, pads = _args.parse_padding(padding, nd)
    kernel = tuple(weight.shape[2:])
    if kind == "same":
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions "
                             "(as in torch.nn.functional)")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        pads = (tuple(t // 2 for t in total), tuple(t - t // 2 for t in total))
    batched = input.dim() == nd + 2
    x = input if batched else input.unsqueeze(0)
    y = _conv_op(x, weight, bias, list(stride), list(pads[0]), list(pads[1]), list(dilation), groups)
    return y if batched else y.squeeze(0)


_CONV_DOC = """{nd}-D convolution on fastconv's kernels, as ``torch.nn.functional.conv{nd}d``,
    differentiable with respect to ``input``, ``weight`` and ``bias``.

    Parameters
    ----------
    input : torch.Tensor
        ``(N, C_in, {sp})`` or unbatched ``(C_in, {sp})``; float32 or float64, on the CPU.
    weight : torch.Tensor
        ``(C_out, C_in / groups, {ks})``, of ``input``'s dtype.
    bias : torch.Tensor, optional
        ``(C_out,)``.
    stride, dilation : int or tuple of {nd} ints, default 1
    padding : int, tuple, str, default 0
        An int or a tuple of {nd} ints (zeros on both sides), ``(before, after)``
        pairs, ``"valid"`` (none) or ``"same"`` (stride 1 only; the odd extra
        zero after, as torch pads it).
    groups : int, default 1
        Input and output channels in ``groups`` groups; ``groups == C_in``
        with ``C_out = m * C_in`` is the depthwise convolution.

    Returns
    -------
    torch.Tensor
        ``(N, C_out, {osp})`` (unbatched without N), of ``input``'s dtype.

    Raises
    ------
    TypeError
        A tensor not float32/float64, not dense, or of another dtype than the others.
    ValueError
        A tensor not on the CPU, a shape or argument that does not fit (the
        message names it).

    Examples
    --------
    >>> import torch
    >>> import fastconv.torch as fct
    >>> x = torch.ones({xs}, dtype=torch.float64, requires_grad=True)
    >>> w = torch.ones({ws}, dtype=torch.float64)
    >>> y = fct.conv{nd}d(x, w, stride=2, padding=1)
    >>> tuple(y.shape)
    {ys}
    >>> y.sum().backward(); tuple(x.grad.shape)
    {xs}
"""


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


conv1d.__doc__ = _CONV_DOC.format(nd=1, sp="L", ks="k", osp="L_out", xs="(1, 2, 8)", ws="(4, 2, 3)",
                                  ys="(1, 4, 4)")
conv2d.__doc__ = _CONV_DOC.format(nd=2, sp="H, W", ks="kH, kW", osp="H_out, W_out",
                                  xs="(1, 2, 8, 8)", ws="(4, 2, 3, 3)", ys="(1, 4, 4, 4)")
conv3d.__doc__ = _CONV_DOC.format(nd=3, sp="D, H, W", ks="kD, kH, kW", osp="D_out, H_out, W_out",
                                  xs="(1, 2, 4, 4, 4)", ws="(4, 2, 3, 3, 3)", ys="(1, 4, 2, 2, 2)")


# ---------------------------------------------------------------- transposed convolution ops

_CONVT_ARGS = "int[] stride, int[] pad0, int[] pad1, int[] output_padding, int groups, int[] dilation"


@torch.library.custom_op("fastconv::conv_transpose", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor input, Tensor weight, Tensor? bias, {_CONVT_ARGS}) -> Tensor")
def _convt_op(input, weight, bias, stride, pad0, pad1, output_padding, groups, dilation):
    nd = input.dim() - 2
    return _tensor(_CONVT[nd](_np(input), _np(weight), _np(bias), tuple(stride), _pairs(pad0, pad1),
                              tuple(output_padding), groups, tuple(dilation)))


@_convt_op.register_fake
def _(input, weight, bias, stride, pad0, pad1, output_padding, groups, dilation):
    C_in, cog = weight.shape[:2]
    if input.shape[1] != C_in or C_in % groups:
        raise ValueError(f"weight {tuple(weight.shape)} does not fit groups={groups} and "
                         f"input {tuple(input.shape)}")
    out = _convt_out(input.shape[2:], weight.shape[2:], stride, pad0, pad1, output_padding, dilation)
    return input.new_empty([input.shape[0], cog * groups] + out)


def _pad_to(a: np.ndarray, spatial: Sequence[int]) -> np.ndarray:
    """a's spatial dims cut or zero-extended (at the end) to spatial."""
    a = a[(slice(None), slice(None)) + tuple(slice(0, n) for n in spatial)]
    if tuple(a.shape[2:]) == tuple(spatial):
        return a
    full = np.zeros(a.shape[:2] + tuple(spatial), a.dtype)
    full[(slice(None), slice(None)) + tuple(slice(0, n) for n in a.shape[2:])] = a
    return full


def _grad_sized(output_padding: Sequence[int], stride: Sequence[int]) -> bool:
    """fastconv.grad's transposed gradients take the convolution of grad_output
    to be the input's size, which holds for output_padding < stride; an
    output_padding below the dilation but not the stride makes it longer (by
    output_padding // stride), and the bridge cuts it (or pads the input) itself."""
    return all(o < s for o, s in zip(output_padding, stride))


@torch.library.custom_op("fastconv::conv_transpose_input_grad", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor grad_output, Tensor weight, int[] input_size, {_CONVT_ARGS})"
                                f" -> Tensor")
def _convt_input_grad(grad_output, weight, input_size, stride, pad0, pad1, output_padding, groups,
                      dilation):
    nd = weight.dim() - 2
    pads = _pairs(pad0, pad1)
    name = f"conv_transpose{nd}d_input"
    if _has(name) and _grad_sized(output_padding, stride):
        r = getattr(_grad, name)(tuple(input_size), _np(weight), _np(grad_output), tuple(stride), pads,
                                 tuple(output_padding), groups, tuple(dilation))
    else:   # the adjoint of the transposed convolution is the convolution
        r = _pad_to(_CONV[nd](_np(grad_output), _np(weight), None, tuple(stride), pads,
                              tuple(dilation), groups), input_size[2:])
    return _tensor(r)


@_convt_input_grad.register_fake
def _(grad_output, weight, input_size, stride, pad0, pad1, output_padding, groups, dilation):
    return grad_output.new_empty(list(input_size))


@torch.library.custom_op("fastconv::conv_transpose_weight_grad", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor input, Tensor grad_output, int[] weight_size, {_CONVT_ARGS})"
                                f" -> Tensor")
def _convt_weight_grad(input, grad_output, weight_size, stride, pad0, pad1, output_padding, groups,
                       dilation):
    nd = input.dim() - 2
    pads = _pairs(pad0, pad1)
    name = f"conv_transpose{nd}d_weight"
    if _has(name) and _grad_sized(output_padding, stride):
        r = getattr(_grad, name)(_np(input), tuple(weight_size), _np(grad_output), tuple(stride), pads,
                                 tuple(output_padding), groups, tuple(dilation))
    else:   # the weight gradient of the convolution of grad_output whose output is input
        gy = _np(grad_output)
        out = _conv_out(gy.shape[2:], weight_size[2:], stride, pad0, pad1, dilation)
        r = getattr(_grad, f"conv{nd}d_weight")(gy, tuple(weight_size), _pad_to(_np(input), out),
                                                tuple(stride), pads, tuple(dilation), groups)
    return _tensor(r)


@_convt_weight_grad.register_fake
def _(input, grad_output, weight_size, stride, pad0, pad1, output_padding, groups, dilation):
    return input.new_empty(list(weight_size))


def _convt_backward(ctx, grad_output):
    input, weight = ctx.saved_tensors
    in_size, w_size, has_bias = ctx.shapes
    gx = gw = gb = None
    if ctx.needs_input_grad[0]:
        gx = _convt_input_grad(grad_output, weight, in_size, *ctx.geom)
    if ctx.needs_input_grad[1]:
        gw = _convt_weight_grad(input, grad_output, w_size, *ctx.geom)
    if has_bias and ctx.needs_input_grad[2]:
        gb = _bias_grad(grad_output)
    return gx, gw, gb, None, None, None, None, None, None


_convt_op.register_autograd(_convt_backward, setup_context=_conv_setup)
_convt_input_grad.register_autograd(_bilinear_backward(
    lambda ctx, u, w: _convt_op(u, w, None, *ctx.geom),
    lambda ctx, u, gy: _convt_weight_grad(u, gy, ctx.size_b, *ctx.geom)),
    setup_context=_bilinear_setup_b)
_convt_weight_grad.register_autograd(_bilinear_backward(
    lambda ctx, u, gy: _convt_input_grad(gy, u, ctx.size, *ctx.geom),
    lambda ctx, u, x: _convt_op(x, u, None, *ctx.geom)),
    setup_context=_bilinear_setup)


def _conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    _check(input=input, weight=weight, bias=bias)
    stride = _args.tuple_arg(stride, nd, "stride", minimum=1)
    dilation = _args.tuple_arg(dilation, nd, "dilation", minimum=1)
    opad = _args.tuple_arg(output_padding, nd, "output_padding", minimum=0)
    groups = _args.int_arg(groups, "groups", minimum=1)
    if weight.dim() != nd + 2:
        raise ValueError(f"weight must have {nd + 2} dims (C_in, C_out/groups, k...), "
                         f"got shape {tuple(weight.shape)}")
    if input.dim() not in (nd + 1, nd + 2):
        raise ValueError(f"input must have {nd + 1} (unbatched) or {nd + 2} dims, "
                         f"got shape {tuple(input.shape)}")
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != weight.shape[1] * groups):
        raise ValueError(f"bias must have shape ({weight.shape[1] * groups},), got {tuple(bias.shape)}")
    for op, s, d in zip(opad, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"output_padding must be smaller than either stride or dilation; "
                             f"got output_padding={output_padding!r}, stride={stride}, "
                             f"dilation={dilation}")
    _, pads = _args.parse_padding(padding, nd, allow_same=False)
    batched = input.dim() == nd + 2
    x = input if batched else input.unsqueeze(0)
    y = _convt_op(x, weight, bias, list(stride), list(pads[0]), list(pads[1]), list(opad), groups,
                  list(dilation))
    return y if batched else y.squeeze(0)


_CONVT_DOC = """Transposed {nd}-D convolution on fastconv's kernels, as
    ``torch.nn.functional.conv_transpose{nd}d``, differentiable with respect to
    ``input``, ``weight`` and ``bias``.

    Parameters
    ----------
    input : torch.Tensor
        ``(N, C_in, {sp})`` or unbatched ``(C_in, {sp})``; float32 or float64, on the CPU.
    weight : torch.Tensor
        ``(C_in, C_out / groups, {ks})``, of ``input``'s dtype.
    bias : torch.Tensor, optional
        ``(C_out,)``.
    stride : int or tuple of {nd} ints, default 1
    padding : int, tuple, default 0
        Removed from both ends of each dimension (or ``(before, after)`` pairs).
    output_padding : int or tuple of {nd} ints, default 0
        Added after the last output of each dimension; smaller than the stride
        or the dilation.
    groups : int, default 1
    dilation : int or tuple of {nd} ints, default 1

    Returns
    -------
    torch.Tensor
        ``(N, C_out, {osp})``, ``out = (in - 1) * stride - 2 * padding +
        dilation * (k - 1) + output_padding + 1``.

    Raises
    ------
    TypeError
        A tensor not float32/float64, not dense, or of another dtype than the others.
    ValueError
        A tensor not on the CPU, a shape or argument that does not fit (the
        message names it).

    Examples
    --------
    >>> import torch
    >>> import fastconv.torch as fct
    >>> x = torch.ones({xs}, dtype=torch.float64, requires_grad=True)
    >>> w = torch.ones({ws}, dtype=torch.float64)
    >>> y = fct.conv_transpose{nd}d(x, w, stride=2, padding=1, output_padding=1)
    >>> tuple(y.shape)
    {ys}
    >>> y.sum().backward(); tuple(x.grad.shape)
    {xs}
"""


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


conv_transpose1d.__doc__ = _CONVT_DOC.format(nd=1, sp="L", ks="k", osp="L_out", xs="(1, 4, 4)",
                                             ws="(4, 2, 3)", ys="(1, 2, 8)")
conv_transpose2d.__doc__ = _CONVT_DOC.format(nd=2, sp="H, W", ks="kH, kW", osp="H_out, W_out",
                                             xs="(1, 4, 4, 4)", ws="(4, 2, 3, 3)", ys="(1, 2, 8, 8)")
conv_transpose3d.__doc__ = _CONVT_DOC.format(nd=3, sp="D, H, W", ks="kD, kH, kW",
                                             osp="D_out, H_out, W_out", xs="(1, 4, 2, 2, 2)",
                                             ws="(4, 2, 3, 3, 3)", ys="(1, 2, 4, 4, 4)")


# ---------------------------------------------------------------- involution op

_INV_ARGS = "int kernel_size, int[] stride, int[] pad0, int[] pad1, int[] dilation"


@torch.library.custom_op("fastconv::involution", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor input, Tensor kernel, {_INV_ARGS}) -> Tensor")
def _inv_op(input, kernel, kernel_size, stride, pad0, pad1, dilation):
    return _tensor(_fc_involution2d(_np(input), _np(kernel), kernel_size, tuple(stride),
                                    _pairs(pad0, pad1), tuple(dilation)))


@_inv_op.register_fake
def _(input, kernel, kernel_size, stride, pad0, pad1, dilation):
    N, C = input.shape[:2]
    K = kernel_size
    out = _conv_out(input.shape[2:], (K, K), stride, pad0, pad1, dilation, what="kernel_size")
    if kernel.dim() != 5 or list(kernel.shape[:1]) + list(kernel.shape[2:]) != [N, K * K] + out \
            or C % kernel.shape[1]:
        raise ValueError(f"kernel must have shape (N={N}, G, K*K={K * K}, H_out={out[0]}, "
                         f"W_out={out[1]}) with G dividing C={C}, got {tuple(kernel.shape)}")
    return input.new_empty([N, C] + out)


def _need(name: str) -> Any:
    fn = getattr(_grad, name, None)
    if not callable(fn):
        raise NotImplementedError(f"fastconv.grad.{name} is not in this fastconv build: "
                                  f"the involution's backward needs it")
    return fn


@torch.library.custom_op("fastconv::involution_input_grad", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor grad_output, Tensor kernel, int[] input_size, {_INV_ARGS})"
                                f" -> Tensor")
def _inv_input_grad(grad_output, kernel, input_size, kernel_size, stride, pad0, pad1, dilation):
    fn = _need("involution2d_input")
    return _tensor(fn(tuple(input_size), _np(kernel), _np(grad_output), kernel_size, tuple(stride),
                      _pairs(pad0, pad1), tuple(dilation)))


@_inv_input_grad.register_fake
def _(grad_output, kernel, input_size, kernel_size, stride, pad0, pad1, dilation):
    return grad_output.new_empty(list(input_size))


@torch.library.custom_op("fastconv::involution_kernel_grad", mutates_args=(), device_types="cpu",
                         schema=f"(Tensor input, Tensor grad_output, int groups, {_INV_ARGS})"
                                f" -> Tensor")
def _inv_kernel_grad(input, grad_output, groups, kernel_size, stride, pad0, pad1, dilation):
    fn = _need("involution2d_kernel")
    return _tensor(fn(_np(input), _np(grad_output), kernel_size, groups, tuple(stride),
                      _pairs(pad0, pad1), tuple(dilation)))


@_inv_kernel_grad.register_fake
def _(input, grad_output, groups, kernel_size, stride, pad0, pad1, dilation):
    N, _, Ho, Wo = grad_output.shape
    return input.new_empty([N, groups, kernel_size * kernel_size, Ho, Wo])


def _inv_setup(ctx, inputs, output):
    input, kernel, *geom = inputs
    need_x, need_k = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    ctx.save_for_backward(input if need_k else None, kernel if need_x else None)
    ctx.in_size, ctx.groups, ctx.geom = list(input.shape), kernel.shape[1], geom


def _inv_backward(ctx, grad_output):
    input, kernel = ctx.saved_tensors
    gx = gk = None
    if ctx.needs_input_grad[0]:
        gx = _inv_input_grad(grad_output, kernel, ctx.in_size, *ctx.geom)
    if ctx.needs_input_grad[1]:
        gk = _inv_kernel_grad(input, grad_output, ctx.groups, *ctx.geom)
    return gx, gk, None, None, None, None, None


_inv_op.register_autograd(_inv_backward, setup_context=_inv_setup)
_inv_input_grad.register_autograd(_bilinear_backward(           # (grad_output, kernel)
    lambda ctx, u, k: _inv_op(u, k, *ctx.geom),
    lambda ctx, u, gy: _inv_kernel_grad(u, gy, ctx.groups, *ctx.geom)),
    setup_context=_bilinear_setup_b)
_inv_kernel_grad.register_autograd(_bilinear_backward(          # (input, grad_output)
    lambda ctx, u, gy: _inv_input_grad(gy, u, ctx.size, *ctx.geom),
    lambda ctx, u, x: _inv_op(x, u, *ctx.geom)),
    setup_context=_bilinear_setup)


def involution2d(input: Tensor, kernel: Tensor, kernel_size: int, stride: Any = 1,
                 padding: Any = None, dilation: Any = 1) -> Tensor:
    """Involution (Li et al., CVPR 2021) on fastconv's kernel, as
    :func:`fastconv.involution2d`, differentiable with respect to ``input``
    and ``kernel``.

    ``out[n, c, i, j] = sum over ky, kx of kernel[n, g, ky * K + kx, i, j] *
    xpad[n, c, i * stride + ky * dilation, j * stride + kx * dilation]`` with
    ``g = c // (C // G)``.

    Parameters
    ----------
    input : torch.Tensor
        ``(N, C, H, W)``; float32 or float64, on the CPU.
    kernel : torch.Tensor
        ``(N, G, K * K, H_out, W_out)``, ``G`` dividing ``C``, of ``input``'s dtype.
    kernel_size : int
        K.
    stride, dilation : int or pair of ints, default 1
    padding : int, tuple, str or None, default None
        ``None``: ``dilation * (K - 1) // 2`` on each side (the size kept at
        stride 1); an int, a pair, ``(before, after)`` pairs, ``"valid"``, or
        ``"same"`` (stride 1 only).

    Returns
    -------
    torch.Tensor
        ``(N, C, H_out, W_out)``.

    Raises
    ------
    TypeError
        A tensor not float32/float64, not dense, or of another dtype than the others.
    ValueError
        A tensor not on the CPU, a shape or argument that does not fit.
    NotImplementedError
        The backward, when this fastconv has no ``fastconv.grad.involution2d_input``
        / ``involution2d_kernel``.

    Examples
    --------
    >>> import torch
    >>> import fastconv.torch as fct
    >>> x = torch.ones(1, 4, 6, 6, dtype=torch.float64)
    >>> k = torch.ones(1, 2, 9, 6, 6, dtype=torch.float64)    # G=2, K=3
    >>> y = fct.involution2d(x, k, 3)
    >>> tuple(y.shape), y[0, 0, 2, 2].item(), y[0, 0, 0, 0].item()
    ((1, 4, 6, 6), 9.0, 4.0)
    """
    _check(input=input, kernel=kernel)
    K = _args.int_arg(kernel_size, "kernel_size", minimum=1)
    stride = _args.tuple_arg(stride, 2, "stride", minimum=1)
    dilation = _args.tuple_arg(dilation, 2, "dilation", minimum=1)
    if input.dim() != 4:
        raise ValueError(f"input must have shape (N, C, H, W), got {tuple(input.shape)}")
    if padding is None:
        pads = (tuple(d * (K - 1) // 2 for d in dilation),) * 2
    else:
        kind, pads = _args.parse_padding(padding, 2)
        if kind == "same":
            if any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided involutions")
            total = [d * (K - 1) for d in dilation]
            pads = (tuple(t // 2 for t in total), tuple(t - t // 2 for t in total))
    return _inv_op(input, kernel, K, list(stride), list(pads[0]), list(pads[1]), list(dilation))


# ---------------------------------------------------------------- modules

_MODULE_DOC = """:class:`torch.nn.{name}` computed by :func:`{fn}`: the same arguments
    (``groups`` for grouped and depthwise convolutions; every ``padding_mode``, the
    non-zero ones padded by ``torch.nn.functional.pad`` first, as torch does),
    parameters, initialisation and state dict.

    Examples
    --------
    >>> import torch
    >>> import fastconv.torch as fct
    >>> torch.manual_seed(0) and None
    >>> ref = torch.nn.{name}({args}, dtype=torch.float64)
    >>> m = fct.{name}({args}, dtype=torch.float64)
    >>> m.load_state_dict(ref.state_dict())
    <All keys matched successfully>
    >>> x = torch.rand({xs}, dtype=torch.float64)
    >>> bool(torch.allclose(m(x), ref(x), rtol=1e-12, atol=1e-12))
    True
"""


class Conv1d(torch.nn.Conv1d):
    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv1d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv1d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(torch.nn.Conv2d):
    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class Conv3d(torch.nn.Conv3d):
    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv3d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv3d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def _transposed_forward(m: Any, nd: int, fn: Any, input: Tensor, output_size: Any) -> Tensor:
    if m.padding_mode != "zeros":
        raise ValueError(f"Only `zeros` padding mode is supported for ConvTranspose{nd}d")
    output_padding = m._output_padding(input, output_size, m.stride, m.padding, m.kernel_size, nd,
                                       m.dilation)
    return fn(input, m.weight, m.bias, m.stride, m.padding, output_padding, m.groups, m.dilation)


class ConvTranspose1d(torch.nn.ConvTranspose1d):
    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        return _transposed_forward(self, 1, conv_transpose1d, input, output_size)


class ConvTranspose2d(torch.nn.ConvTranspose2d):
    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        return _transposed_forward(self, 2, conv_transpose2d, input, output_size)


class ConvTranspose3d(torch.nn.ConvTranspose3d):
    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        return _transposed_forward(self, 3, conv_transpose3d, input, output_size)


for _cls, _fn, _a, _xs in ((Conv1d, "conv1d", "2, 4, 3, padding=1", "1, 2, 9"),
                           (Conv2d, "conv2d", "4, 4, 3, padding=1, groups=4", "1, 4, 7, 7"),
                           (Conv3d, "conv3d", "2, 4, 3, padding_mode='circular', padding=1",
                            "1, 2, 5, 5, 5"),
                           (ConvTranspose1d, "conv_transpose1d", "2, 4, 3, stride=2", "1, 2, 5"),
                           (ConvTranspose2d, "conv_transpose2d", "2, 4, 3, stride=2, output_padding=1",
                            "1, 2, 5, 5"),
                           (ConvTranspose3d, "conv_transpose3d", "2, 4, 2, stride=2", "1, 2, 3, 3, 3")):
    _cls.__doc__ = _MODULE_DOC.format(name=_cls.__name__, fn=_fn, args=_a, xs=_xs)
    _cls.__module__ = __name__


class _ConvModule(torch.nn.Module):
    """conv, then bn and activate (or identities): the official ConvModule's names."""

    def __init__(self, c_in: int, c_out: int, *, bias: bool, norm: bool, act: bool,
                 **factory: Any) -> None:
        super().__init__()
        self.conv = Conv2d(c_in, c_out, 1, bias=bias, **factory)
        self.bn = torch.nn.BatchNorm2d(c_out, eps=1e-5, **factory) if norm else torch.nn.Identity()
        self.activate = torch.nn.ReLU() if act else torch.nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.activate(self.bn(self.conv(x)))


class Involution2d(torch.nn.Module):
    """The whole involution operator of Li et al. (CVPR 2021) as a trainable
    torch module, with the official module's state-dict names.

    The kernel branch: average pooling by the stride (when ``stride > 1``),
    ``conv1`` (a 1x1 :class:`Conv2d` ``C -> C / r`` without bias, BatchNorm2d
    (training or running statistics as torch's, eps 1e-5), ReLU), ``conv2`` (a
    1x1 :class:`Conv2d` ``C / r -> K * K * G`` with bias); then
    :func:`involution2d` with padding ``(K - 1) // 2``.  ``G = channels //
    group_channels``.  State dict: ``conv1.conv.weight``,
    ``conv1.bn.{weight, bias, running_mean, running_var, num_batches_tracked}``,
    ``conv2.conv.weight``, ``conv2.conv.bias``: the official checkpoints load
    with ``load_state_dict`` (strict).

    Parameters
    ----------
    channels : int
        C, the input's (and output's) channels.
    kernel_size : int, default 7
        K (odd).
    stride : int, default 1
    group_channels : int, default 16
        Channels per group; must divide ``channels``.
    reduction_ratio : int, default 4
    device, dtype : optional
        As for torch's modules (CPU only for the forward).

    Raises
    ------
    ValueError
        ``group_channels`` not dividing ``channels``, or a ratio that leaves no
        channels.

    Examples
    --------
    >>> import torch
    >>> import fastconv.torch as fct
    >>> torch.manual_seed(0) and None
    >>> m = fct.Involution2d(16, kernel_size=3, group_channels=8).double()
    >>> sorted(m.state_dict())[:3]
    ['conv1.bn.bias', 'conv1.bn.num_batches_tracked', 'conv1.bn.running_mean']
    >>> y = m(torch.rand(2, 16, 8, 8, dtype=torch.float64))
    >>> tuple(y.shape)
    (2, 16, 8, 8)
    >>> y.sum().backward(); tuple(m.conv2.conv.weight.grad.shape)
    (18, 4, 1, 1)
    """

    def __init__(self, channels: int, kernel_size: int = 7, stride: int = 1, group_channels: int = 16,
                 reduction_ratio: int = 4, *, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        C = _args.int_arg(channels, "channels", minimum=1)
        K = _args.int_arg(kernel_size, "kernel_size", minimum=1)
        s = _args.int_arg(stride, "stride", minimum=1)
        gc = _args.int_arg(group_channels, "group_channels", minimum=1)
        r = _args.int_arg(reduction_ratio, "reduction_ratio", minimum=1)
        if C % gc:
            raise ValueError(f"group_channels={gc} must divide channels={C}")
        if C // r < 1:
            raise ValueError(f"reduction_ratio={r} leaves no channels (channels={C})")
        self.channels, self.kernel_size, self.stride, self.group_channels = C, K, s, gc
        self.groups = C // gc
        factory = {"device": device, "dtype": dtype}
        self.avgpool = torch.nn.AvgPool2d(s, s) if s > 1 else torch.nn.Identity()
        self.conv1 = _ConvModule(C, C // r, bias=False, norm=True, act=True, **factory)
        self.conv2 = _ConvModule(C // r, K * K * self.groups, bias=True, norm=False, act=False,
                                 **factory)

    def kernel(self, x: Tensor) -> Tensor:
        """The generated per-pixel filters ``(N, G, K * K, H_out, W_out)``.

        Parameters
        ----------
        x : torch.Tensor
            ``(N, C, H, W)``.

        Returns
        -------
        torch.Tensor
        """
        w = self.conv2(self.conv1(self.avgpool(x)))
        N, _, H, W = w.shape
        return w.view(N, self.groups, self.kernel_size * self.kernel_size, H, W)

    def forward(self, x: Tensor) -> Tensor:
        """The involution of ``x`` with the kernel generated from it.

        Parameters
        ----------
        x : torch.Tensor
            ``(N, C, H, W)``, float32 or float64, on the CPU.

        Returns
        -------
        torch.Tensor
            ``(N, C, H_out, W_out)``.
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must have shape (N, {self.channels}, H, W), got {tuple(x.shape)}")
        return involution2d(x, self.kernel(x), self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"group_channels={self.group_channels}")
