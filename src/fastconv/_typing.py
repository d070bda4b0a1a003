"""Type aliases of the public API's arguments and results (for annotations).

Every alias names what the argument checks in ``_args`` accept, no more: a
value a type checker passes is one the call takes (shapes and ranges aside).
"""
from __future__ import annotations

from typing import Any, Literal, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

#: Anything ``numpy.asarray`` turns into a float32 or float64 array (an
#: ndarray, a nested list, a memoryview, a torch CPU tensor).
ArrayLike = npt.ArrayLike
#: A result: a new (or the ``out=``) C-contiguous float32 or float64 array.
FloatArray = npt.NDArray[np.floating[Any]]
#: The int64 positions that ``max_pool*d(..., return_indices=True)`` returns.
IndexArray = npt.NDArray[np.int64]

#: One int for every spatial dimension, or a tuple (list) of one int per dimension.
IntOrTuple = Union[int, Tuple[int, ...], Sequence[int]]
#: A convolution's padding: an int, one int per spatial dimension, one
#: ``(before, after)`` pair per spatial dimension, ``"valid"`` or ``"same"``.
Padding = Union[int, Tuple[int, ...], Sequence[int], Sequence[Tuple[int, int]],
                Sequence[Sequence[int]], Literal["valid", "same"]]
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
Algorithm = Literal["auto", "direct", "gemm", "winograd"]
ActivationName = Literal["relu", "relu6", "leaky_relu", "hardswish", "sigmoid", "tanh",
                         "silu", "gelu"]
#: None, an activation's name, or ``("leaky_relu", negative_slope)``.
Activation = Union[None, ActivationName, Tuple[Literal["leaky_relu"], float]]
#: Channels first (the default) or channels last; the names are case-insensitive.
Layout = Literal["NCHW", "NCL", "NCDHW", "channels_first", "nchw", "ncl", "ncdhw",
                 "NHWC", "NLC", "NDHWC", "channels_last", "nhwc", "nlc", "ndhwc"]

__all__ = ["ArrayLike", "FloatArray", "IndexArray", "IntOrTuple", "Padding", "PaddingMode",
           "Algorithm", "ActivationName", "Activation", "Layout"]
