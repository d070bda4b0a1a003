"""Calls the annotations must reject: scripts/typecheck.sh requires mypy to
report an error on every line marked ``# error`` here, and on no other line.
(Each of these also fails at run time, with the TypeError or ValueError the
docstrings name.)"""
from __future__ import annotations

import numpy as np

import fastconv as fc

x = np.zeros((1, 4, 8, 8), np.float32)
w = np.zeros((4, 4, 3, 3), np.float32)

fc.conv2d(x, w, padding="full")                          # error
fc.conv2d(x, w, padding_mode="mirror")                   # error
fc.conv2d(x, w, algorithm="fft")                         # error
fc.conv2d(x, w, activation="softmax")                    # error
fc.conv2d(x, w, activation=("relu", 0.1))                # error
fc.conv2d(x, w, stride="2")                              # error
fc.conv2d(x, w, layout="NWHC")                           # error
fc.depthwise_separable_conv2d(x, w, w, depthwise_activation="gelu")   # error
y: np.ndarray = fc.max_pool2d(x, 2, return_indices=True)  # error
fc.max_pool2d(x, 2, return_indices=True).shape           # error
fc.set_num_threads("4")                                  # error
fc.Conv2d(w)(x, out=[0.0])                               # error
fc.conv_plan(x, w).algorithm                             # error
s: int = fc.show_config()                                # error
fc.Involution2d(16, layout="NCWH")                       # error
