"""fastconv: every convolution of deep learning and image processing, for NumPy,
computed by hand-written C loops on their own thread pool, with SIMD.

Functions (``torch.nn.functional``'s arguments and rules, on NumPy arrays):
``conv1d``/``conv2d``/``conv3d``, ``conv_transpose1d``/``2d``/``3d``,
``depthwise_conv2d``, ``pointwise_conv2d``, ``separable_conv2d``,
``depthwise_separable_conv2d``, ``involution2d``, ``max_pool1d``/``2d``/``3d``,
``avg_pool1d``/``2d``/``3d``, ``max_unpool2d``, ``global_avg_pool`` and ``add``.
Layer objects (weights packed once): ``Conv1d``/``2d``/``3d``,
``ConvTranspose1d``/``2d``/``3d``, ``Involution2d``.  What runs and why:
``conv_plan`` and ``Plan``.  ``fold_batchnorm`` folds a BatchNorm into a
convolution.  The machine: ``get_num_threads``, ``set_num_threads``,
``show_config`` (and the environment variables ``FASTCONV_ISA``,
``OMP_NUM_THREADS``, ``FASTCONV_THREADING``).  Every function's help tells
its argument forms; the user guide is at https://fastconv.readthedocs.io
(built from docs/).

Examples
--------
>>> import numpy as np
>>> import fastconv as fc
>>> x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
>>> w = np.ones((8, 3, 3, 3), np.float32)
>>> fc.conv2d(x, w, padding=1, activation="relu").shape
(1, 8, 16, 16)
"""
from __future__ import annotations

import os as _os

from . import _core
from ._config import _register_threadpoolctl, get_num_threads, set_num_threads, show_config
from ._core import Plan
from .batchnorm import fold_batchnorm
from .functional import (add, avg_pool1d, avg_pool2d, avg_pool3d, conv1d, conv_plan, conv2d, conv3d,
                         conv_transpose1d, conv_transpose2d, conv_transpose3d, depthwise_conv2d,
                         depthwise_separable_conv2d, global_avg_pool, involution2d, max_pool1d,
                         max_pool2d, max_pool3d, max_unpool2d, pointwise_conv2d, separable_conv2d)
from . import grad
from .involution import Involution2d
from .layers import (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d,
                     ConvTranspose3d)

__version__ = "0.1.0"

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "depthwise_separable_conv2d",
    "involution2d", "max_pool1d", "max_pool2d", "max_pool3d", "max_unpool2d", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "global_avg_pool", "add", "Involution2d",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "conv_plan", "Plan", "fold_batchnorm", "grad", "get_num_threads", "set_num_threads", "show_config", "__version__",
]

_register_threadpoolctl()

_isa = _os.environ.get("FASTCONV_ISA")
if _isa:
    _core.set_isa(_isa.strip().lower())
del _isa
