"""Shared parts of the public docstrings: the parameter entries and exceptions
that several functions and layers describe in the same words are written once
here, and ``expand`` puts them in place of their ``<<name>>`` markers when a
module is imported, so that ``help()``, the doctests and Sphinx read the whole
text."""
from __future__ import annotations

import re
import textwrap
from typing import Any

SNIPPETS: dict[str, str] = {
    "typeerror": """\
TypeError
    An array that is not float32 or float64 (fastconv never casts), or
    ``x``, ``weight``, ``bias`` and ``residual`` not of one dtype.""",
    "valueerror": """\
ValueError
    A shape that does not fit (wrong number of dims, channels that do not
    match ``groups``, a kernel larger than the padded input), an argument
    out of its range or not among its accepted forms, or a bad ``out``.
    The message names the argument and the value it got.""",
    "x": """\
x : array_like
    The input, ``(N, C_in, L)``, or unbatched without ``N`` (the result is then
    unbatched too); ``(N, L, C_in)`` with ``layout="NLC"``. float32 or float64;
    any array-like (non-contiguous, negatively strided, a torch CPU tensor) is
    accepted and copied only where the kernels need it.""",
    "bias": """\
bias : array_like, optional
    ``(C_out,)``, added to every output of its channel; of ``x``'s dtype.""",
    "dilation": """\
dilation : int or tuple of 1 int, default 1
    The spacing between kernel taps (a dilated or "atrous" convolution), >= 1.""",
    "groups": """\
groups : int, default 1
    Split the channels into this many independent groups; must divide
    both ``C_in`` and ``C_out`` (``groups == C_in``: a depthwise
    convolution).""",
    "padding_mode": """\
padding_mode : {"zeros", "reflect", "replicate", "circular"}, default "zeros"
    The values of the padding, as ``torch.nn.Conv2d`` defines them: zeros,
    the input mirrored without repeating the edge (the padding must then be
    smaller than the input), the edge repeated, or the input wrapped around
    (padding at most the input's size). No padded copy of the input is made
    for zeros on the direct paths.""",
    "algorithm": """\
algorithm : {"auto", "direct", "gemm", "winograd"}, default "auto"
    ``"auto"`` lets fastconv choose, per layer, input size and CPU (see
    Notes); ``"direct"``, ``"gemm"`` (an implicit GEMM on im2col panels) or
    ``"winograd"`` force one. ``"winograd"`` needs a 3x3 kernel (2-D, or 3-D
    with a 1x3x3 kernel) with stride 1 and dilation 1 along H and W; any
    other problem asked for it is a ``ValueError``.""",
    "activation": """\
activation : str, tuple or None, default None
    Applied to ``conv + bias + residual`` as each output is stored (the
    fused epilogue):
    ``None`` (the default), ``"relu"``, ``"relu6"``, ``"leaky_relu"``
    (negative slope 0.01) or ``("leaky_relu", slope)``, ``"hardswish"``,
    ``"sigmoid"``, ``"tanh"``, ``"silu"`` or ``"gelu"`` (the erf form), as
    torch defines them; a NaN passes through each.""",
    "residual": """\
residual : array_like, optional
    An array of the result's shape and dtype added before the activation
    (a ResNet shortcut). It may be ``out`` itself, to accumulate in place.""",
    "layout": """\
layout : str, optional
    ``None``, ``"NCHW"``, ``"NCL"``, ``"NCDHW"`` or ``"channels_first"``
    (the default: channels first), or ``"NHWC"``, ``"NLC"``, ``"NDHWC"``
    or ``"channels_last"``: ``x``, the residual and the result have their
    channels last, ``(N, L, C_in)``. Case-insensitive; the weights
    keep their shape either way.""",
    "out": """\
out : numpy.ndarray, optional
    A preallocated C-contiguous, writeable array of exactly the result's
    shape and dtype, not overlapping an input: the result is written into
    it and it is returned. Anything else is a ``ValueError`` and ``out`` is
    left untouched.""",
    "x_2": """\
x : array_like
    The input, ``(N, C_in, H, W)``, or unbatched without ``N`` (the result is
    then unbatched too); ``(N, H, W, C_in)`` with ``layout="NHWC"``. float32 or
    float64; any array-like (non-contiguous, negatively strided, a torch CPU
    tensor) is accepted and copied only where the kernels need it.""",
    "stride": """\
stride : int or tuple of 2 ints, default 1
    The step of the window; one int for every spatial dimension or one per
    dimension, each >= 1.""",
    "padding": """\
padding : int, tuple or str, default 0
    Zeros (or the ``padding_mode``'s values) added around the input. One of:

    * an int: the same amount before and after every spatial dimension;
    * a tuple of 2 ints: one amount per dimension, before and after;
    * a tuple of 2 ``(before, after)`` pairs: asymmetric padding,
      e.g. ``((1, 0), (2, 1))``;
    * ``"valid"``: no padding;
    * ``"same"``: the output's spatial size is ``ceil(in / stride)``; the
      total padding is split evenly, an odd one's extra element at the end
      (TensorFlow's rule; for stride 1 the output has the input's size, as
      with PyTorch's ``"same"``).""",
    "dilation_2": """\
dilation : int or tuple of 2 ints, default 1
    The spacing between kernel taps (a dilated or "atrous" convolution), >= 1.""",
    "layout_2": """\
layout : str, optional
    ``None``, ``"NCHW"``, ``"NCL"``, ``"NCDHW"`` or ``"channels_first"``
    (the default: channels first), or ``"NHWC"``, ``"NLC"``, ``"NDHWC"``
    or ``"channels_last"``: ``x``, the residual and the result have their
    channels last, ``(N, H, W, C_in)``. Case-insensitive; the weights
    keep their shape either way.""",
    "x_3": """\
x : array_like
    The input, ``(N, C_in, D, H, W)``, or unbatched without ``N`` (the result is
    then unbatched too); ``(N, D, H, W, C_in)`` with ``layout="NDHWC"``. float32
    or float64; any array-like (non-contiguous, negatively strided, a torch CPU
    tensor) is accepted and copied only where the kernels need it.""",
    "dilation_3": """\
dilation : int or tuple of 3 ints, default 1
    The spacing between kernel taps (a dilated or "atrous" convolution), >= 1.""",
    "layout_3": """\
layout : str, optional
    ``None``, ``"NCHW"``, ``"NCL"``, ``"NCDHW"`` or ``"channels_first"``
    (the default: channels first), or ``"NHWC"``, ``"NLC"``, ``"NDHWC"``
    or ``"channels_last"``: ``x``, the residual and the result have their
    channels last, ``(N, D, H, W, C_in)``. Case-insensitive; the weights
    keep their shape either way.""",
    "groups_2": """\
groups : int, default 1
    Independent groups; must divide ``C_in``.""",
    "x_4": """\
x : array_like
    The input, ``(N, C, H, W)``, or unbatched without ``N`` (the result is then
    unbatched too); ``(N, H, W, C)`` with ``layout="NHWC"``. float32 or float64;
    any array-like (non-contiguous, negatively strided, a torch CPU tensor) is
    accepted and copied only where the kernels need it.""",
    "bias_2": """\
bias : array_like, optional
    ``(C,)``.""",
    "x_5": """\
x : array_like
    ``(N, C, L)`` or unbatched without ``N``; ``(N, L, C)`` with
    ``layout="NLC"``. float32 or float64; channels and spatial
    sizes must not be zero (the batch may be).""",
    "kernel_size": """\
kernel_size : int or tuple of 1 int
    The window.""",
    "stride_2": """\
stride : int or tuple of 1 int, optional
    The window's step; default ``kernel_size``.""",
    "padding_2": """\
padding : int or tuple of 1 int, default 0
    Implicit padding on both sides, at most half the window.""",
    "ceil_mode": """\
ceil_mode : bool, default False
    Round the output size up: a last window may run past the input (but
    never starts in the right padding).""",
    "return_indices": """\
return_indices : bool, default False
    Also return where each maximum was.""",
    "layout_4": """\
layout : str, optional
    ``None``/``"NCHW"`` (channels first) or ``"NLC"``/``"NHWC"``
    (channels last; also ``"channels_last"``).""",
    "typeerror_2": """\
TypeError
    An array that is not float32 or float64, or arrays of two dtypes.""",
    "valueerror_2": """\
ValueError
    A shape that does not fit, an argument out of its range or not among
    its accepted forms, or a bad ``out``; the message names the argument.""",
    "x_6": """\
x : array_like
    ``(N, C, H, W)`` or unbatched without ``N``; ``(N, H, W, C)`` with
    ``layout="NHWC"``. float32 or float64; channels and spatial
    sizes must not be zero (the batch may be).""",
    "kernel_size_2": """\
kernel_size : int or tuple of 2 ints
    The window.""",
    "stride_3": """\
stride : int or tuple of 2 ints, optional
    The window's step; default ``kernel_size``.""",
    "padding_3": """\
padding : int or tuple of 2 ints, default 0
    Implicit padding on both sides, at most half the window.""",
    "layout_5": """\
layout : str, optional
    ``None``/``"NCHW"`` (channels first) or ``"NHWC"``
    (channels last; also ``"channels_last"``).""",
    "x_7": """\
x : array_like
    ``(N, C, D, H, W)`` or unbatched without ``N``; ``(N, D, H, W, C)`` with
    ``layout="NDHWC"``. float32 or float64; channels and spatial
    sizes must not be zero (the batch may be).""",
    "kernel_size_3": """\
kernel_size : int or tuple of 3 ints
    The window.""",
    "stride_4": """\
stride : int or tuple of 3 ints, optional
    The window's step; default ``kernel_size``.""",
    "padding_4": """\
padding : int or tuple of 3 ints, default 0
    Implicit padding on both sides, at most half the window.""",
    "layout_6": """\
layout : str, optional
    ``None``/``"NCHW"`` (channels first) or ``"NDHWC"``/``"NHWC"``
    (channels last; also ``"channels_last"``).""",
    "count_include_pad": """\
count_include_pad : bool, default True
    Count the zero padding in each window's divisor (never a window's part
    past the padded input under ``ceil_mode``).""",
    "divisor_override": """\
divisor_override : int, optional
    Divide every sum by this instead (not zero).""",
    "bias_3": """\
bias : array_like, optional
    ``(C_out,)``, of the weight's dtype.""",
    "reuse_output": """\
reuse_output : bool, default False
    A call without ``out=`` writes into the array the layer returned last
    for that output shape (per Python thread; a new one where it would
    overlap the input or residual, at most 4 shapes kept) instead of
    allocating one: fresh outputs cost page faults on every call. A result
    is then valid until the layer's next call of that shape: copy it to
    keep it.""",
    "weight": """\
weight, bias : numpy.ndarray
    Read-only copies of the weights.""",
    "typeerror_3": """\
TypeError
    Weights that are not float32 or float64, or of two dtypes.""",
    "valueerror_3": """\
ValueError
    An argument out of its range or not among its accepted forms.""",
    "bias_4": """\
bias : array_like, optional
    ``(C_out,)``.""",
    "x_8": """\
x : array_like
    The input: ``(N, C_in, *spatial)`` or unbatched without ``N``, or
    channels last when the layer's ``layout`` says so; the layer's dtype.
    Any spatial size the layer accepts; one shape after another is fine.""",
    "residual_2": """\
residual : array_like, optional
    An array of the result's shape and dtype added before the activation;
    it may be ``out`` itself.""",
    "out_2": """\
out : numpy.ndarray, optional
    A C-contiguous array of exactly the result's shape and dtype, written
    and returned (see ``reuse_output`` for the layer's own).""",
    "typeerror_4": """\
TypeError
    ``x`` or ``residual`` not of the weights' dtype.""",
    "valueerror_4": """\
ValueError
    ``x`` of a shape the layer cannot take (channels, too small for the
    kernel), or a bad ``out``.""",
    "para_raises_0": """\
Raises
------
<<typeerror>>
<<valueerror>>""",
    "para_notes_1": """\
Notes
-----
``algorithm="auto"`` chooses, in C, by the layer's shape, the input size
and the CPU: a depthwise kernel when ``groups == C_in``; SIMD direct
convolution for most dense layers (output channels in the vector, no
im2col, taps in the padding skipped); a kernel with pixels in the vector
for 1x1 layers of one group (the NCHW image is already the matrix); a
direct kernel with output pixels in the vector for grouped layers with
few output channels per group; an implicit GEMM for dense layers with few
output channels; and Winograd F(4x4, 3x3) (or F(2x2, 3x3) on small planes)
for 3x3 stride-1 layers with enough channels, and for grouped ones with 8
to 32 channels per group. ``conv_plan`` (or ``layer.plan``) tells which
implementation runs and why.""",
    "para_every_algorithm_gives_th_2": """\
Every algorithm gives the same result within rounding (float64: 1e-10,
float32: 1e-4 of the output's scale; Winograd's float32 error is about
10-30 times the others', within 1e-3). Winograd may spread a NaN or Inf
of the input over its whole output tile (up to 4x4); the other algorithms
make an output non-finite exactly where its receptive field does. Pass
``algorithm="direct"`` for exact NaN locality. NaN and Inf in the weights
propagate as in PyTorch on every path.""",
    "para_with_layout_nhwc_dense_a_3": """\
With ``layout="NHWC"``, dense and grouped convolutions with zero padding
run channels last in the direct tiles, 1x1 convolutions as a GEMM of pixel
rows and depthwise ones on a row kernel; the rest (padding modes, a forced
algorithm other than ``"direct"``, weights with NaN or Inf) run channels
first between two threaded transposes.""",
    "para_a_functional_call_packs__4": """\
A functional call packs the weights on every call (inside the threads
that use them); for repeated calls on the same weights a layer object
(:class:`Conv2d` etc.) packs once and is faster on layers with big weights
and small images.""",
    "para_the_epilogue_activation__5": """\
The epilogue ``activation(result + bias + residual)`` is applied to
each output tile as it is stored on the direct, GEMM and 1x1 paths, so the
output is written once; the other implementations apply it in one threaded
pass over their output.""",
    "para_each_input_value_scatter_6": """\
Each input value scatters ``weight``'s taps, scaled by it, into the output at
``stride`` steps; then the fused epilogue
``activation(result + bias + residual)`` as in :func:`conv2d`.""",
    "para_raises_7": """\
Raises
------
<<typeerror_2>>
<<valueerror_2>>""",
    "para_see_also_8": """\
See Also
--------
max_unpool2d : scatter pooled values back to their positions.""",
    "para_returns_9": """\
Returns
-------
numpy.ndarray
    The pooled array of ``x``'s dtype, each output size
    ``(in + 2 * padding - k) // stride + 1`` (rounded up under
    ``ceil_mode``).""",
    "para_see_also_10": """\
See Also
--------
global_avg_pool : the mean over all spatial positions.""",
    "para_attributes_11": """\
Attributes
----------
<<weight>>""",
    "para_raises_12": """\
Raises
------
<<typeerror_3>>
<<valueerror_3>>""",
    "para_notes_13": """\
Notes
-----
Layers are safe to call from several Python threads at once (the GIL is
released while the kernels run), and may be called on inputs of any shape
they accept, one after the other: each input geometry gets its own plan
(at most 64 kept), and plans of one packed layout share the packed weights
(at most 8 packings kept). ``forward(x, *, residual=None, out=None)`` is
the same as calling the layer.""",
    "para_notes_14": """\
Notes
-----
Safe to call from several Python threads at once. ``forward(x, *,
residual=None, out=None)`` is the same as calling the layer.""",
    "para_the_same_numbers_as_the__15": """\
The same numbers as the functional call with the layer's arguments; the
plan for ``x``'s geometry (and the ISA level in force) is made once, and the
weights packed once per packed layout.""",
    "para_parameters_16": """\
Parameters
----------
<<x_8>>
<<residual_2>>
<<out_2>>""",
    "para_returns_17": """\
Returns
-------
numpy.ndarray
    The result, of the layer's dtype.""",
    "para_raises_18": """\
Raises
------
<<typeerror_4>>
<<valueerror_4>>
""",
}


_MARK = re.compile(r"^( *)<<(\w+)>>$", re.M)


def _fill(doc: str) -> str:
    while True:   # a snippet may hold markers of others
        new = _MARK.sub(lambda m: textwrap.indent(SNIPPETS[m.group(2)], m.group(1)), doc)
        if new == doc:
            return doc
        doc = new


def expand(namespace: dict[str, Any]) -> None:
    """Fill the markers in the docstrings of namespace's functions and classes
    (their methods and properties too).  A marker's indentation is kept: Python
    3.13 dedents docstrings, earlier ones do not."""
    for obj in list(namespace.values()):
        members = [obj] + (list(vars(obj).values()) if isinstance(obj, type) else [])
        for m in members:
            doc = getattr(m, "__doc__", None)
            if (callable(m) or isinstance(m, property)) and isinstance(doc, str) and "<<" in doc:
                m.__doc__ = _fill(doc)
