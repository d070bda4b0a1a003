"""The public API as a user calls it, checked by ``mypy --strict`` (scripts/typecheck.sh).

Not a pytest module (it is not named test_*): mypy reads it, and
tests/test_typing.py runs it once so that every call here is also one the
library accepts.  ``assert_type`` fails the type check where an annotation
says less than it should (a max pool's tuple, a plan's str fields).
"""
from __future__ import annotations

import sys
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

import fastconv as fc

if sys.version_info >= (3, 11):
    from typing import assert_type
else:                                    # mypy knows typing_extensions' alias
    from typing_extensions import assert_type

Array = npt.NDArray[np.floating[Any]]


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    b = np.zeros(6, np.float32)

    y: Array = fc.conv2d(x, w, b, padding=1, activation="relu")
    y = fc.conv2d(x, w, padding="same", padding_mode="reflect", algorithm="direct")
    y = fc.conv2d(x, w, padding=((1, 0), (2, 1)), stride=(1, 2), activation=("leaky_relu", 0.2))
    r = fc.conv2d(x, w, padding=1)
    y = fc.conv2d(x, w, b, padding=1, residual=r, out=np.empty_like(r))
    y = fc.conv1d(x[:, :, 0], w[:, :, 0], dilation=2)
    y = fc.conv3d(x[:, :, None], w[:, :, None], padding=(0, 1, 1), layout="NCDHW")
    y = fc.conv2d(x.transpose(0, 2, 3, 1), w, padding=1, layout="NHWC")
    y = fc.conv_transpose2d(x, w.transpose(1, 0, 2, 3), stride=2, padding=1, output_padding=1)
    y = fc.conv_transpose1d(x[:, :, 0], w.transpose(1, 0, 2, 3)[:, :, 0])
    y = fc.conv_transpose3d(x[:, :, None], w.transpose(1, 0, 2, 3)[:, :, None])
    y = fc.depthwise_conv2d(x, rng.standard_normal((4, 1, 3, 3)).astype(np.float32), padding=1)
    y = fc.pointwise_conv2d(x, w[:, :, 0, 0], activation="relu6")
    y = fc.separable_conv2d(x, np.ones(3, np.float32), np.ones(3, np.float32), padding="same",
                            padding_mode="replicate")
    y = fc.depthwise_separable_conv2d(x, rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
                                      w[:, :, 0, 0], padding=1, depthwise_activation="relu6")
    kernel = rng.standard_normal((1, 2, 9, 8, 8)).astype(np.float32)
    y = fc.involution2d(x, kernel, 3, activation="silu")

    p: Array = fc.max_pool2d(x, 2)
    assert_type(fc.max_pool2d(x, 2, return_indices=False), Array)
    pooled, idx = fc.max_pool2d(x, 2, return_indices=True)
    assert_type(idx, npt.NDArray[np.int64])
    assert_type(fc.max_pool2d(x, 2, 2, 0, 1, False, True), tuple[Array, npt.NDArray[np.int64]])
    y = fc.max_unpool2d(pooled, idx, 2)
    p = fc.max_pool1d(x[:, :, 0], 2, ceil_mode=True)
    p = fc.max_pool3d(x[:, :, None], (1, 2, 2))
    p = fc.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    p = fc.avg_pool1d(x[:, :, 0], 2, divisor_override=3)
    p = fc.avg_pool3d(x[:, :, None], (1, 2, 2))
    p = fc.global_avg_pool(x, keepdims=False)
    p = fc.add(x, x, activation="relu")
    p = fc.add(x, activation="leaky_relu", negative_slope=0.1, out=x.copy())

    layer = fc.Conv2d(w, b, padding=1, activation="gelu", reuse_output=True)
    y = layer(x)
    y = layer.forward(x, residual=y)
    assert_type(layer.weight, Array)
    plan = layer.plan(x.shape)
    if plan is not None:
        assert_type(plan, fc.Plan)
        assert_type(plan.algorithm, Literal["direct", "gemm", "winograd"])
        assert_type(plan.reason, str)
        assert_type(plan.packs, bool)
        assert_type(plan.packed_nbytes, int)
        d: dict[str, Any] = plan.as_dict()
    plan2: fc.Plan | None = fc.conv_plan(x, w, padding=1, algorithm="winograd")
    t = fc.ConvTranspose2d(w.transpose(1, 0, 2, 3), stride=2)
    y = t(x)
    y = fc.Conv1d(w[:, :, 0])(x[:, :, 0])
    y = fc.Conv3d(w[:, :, None])(x[:, :, None])
    y = fc.ConvTranspose1d(w.transpose(1, 0, 2, 3)[:, :, 0])(x[:, :, 0])
    y = fc.ConvTranspose3d(w.transpose(1, 0, 2, 3)[:, :, None])(x[:, :, None])

    inv = fc.Involution2d(16, kernel_size=3, group_channels=4, seed=0)
    xi = rng.standard_normal((1, 16, 8, 8))
    y = inv(xi)
    assert_type(inv.kernel(xi), Array)
    state: dict[str, Array] = inv.state_dict()
    inv2: fc.Involution2d = fc.Involution2d.from_state_dict(state, group_channels=4)

    wf, bf = fc.fold_batchnorm(w, b, np.zeros(6), np.ones(6))
    assert_type(wf, Array)
    n: int = fc.get_num_threads()
    fc.set_num_threads(n)
    version: str = fc.__version__
    del y, p, d, plan2, inv2, bf, version


if __name__ == "__main__":
    main()
