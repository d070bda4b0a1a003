"""fastconv: every convolution of deep learning and image processing, for NumPy,
computed by hand-written C loops on their own thread pool, with SIMD."""
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
    "conv_plan", "Plan", "fold_batchnorm", "get_num_threads", "set_num_threads", "show_config", "__version__",
]

_register_threadpoolctl()

_isa = _os.environ.get("FASTCONV_ISA")
if _isa:
    _core.set_isa(_isa.strip().lower())
del _isa
