"""The convolutions' gradients (fastconv.grad, issue 28's first part): the
adjoint identities against the forward op, with no other library
(<conv(x, w), g> = <x, conv_input(g)> = <w, conv_weight(x, g)>), and torch's
own torch.nn.grad where torch is installed, on every ISA level."""
import numpy as np
import pytest

import fastconv
from fastconv import grad
from helpers import rand

CASES = [  # nd, x shape, w shape, kwargs
    (2, (2, 6, 9, 11), (8, 6, 3, 3), dict(padding=1)),
    (2, (1, 4, 10, 10), (6, 4, 3, 3), dict(stride=2)),                  # a row no window reads
    (2, (1, 4, 12, 12), (4, 4, 3, 3), dict(stride=2, padding=1, dilation=2)),
    (2, (2, 8, 7, 7), (8, 1, 3, 3), dict(padding=1, groups=8)),         # depthwise
    (2, (1, 8, 6, 6), (12, 2, 3, 3), dict(padding=((1, 0), (0, 2)), groups=4)),
    (2, (1, 3, 8, 8), (5, 3, 3, 3), dict(padding="same", stride=2)),
    (2, (1, 16, 5, 5), (32, 16, 1, 1), {}),
    (1, (2, 3, 20), (4, 3, 5), dict(stride=3, padding=2)),
    (3, (1, 2, 5, 6, 4), (3, 2, 3, 3, 3), dict(padding=1, stride=(1, 2, 1))),
]


def _fwd(nd, x, w, kw):
    return getattr(fastconv, f"conv{nd}d")(x, w, **kw)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}d-{i}" for i, c in enumerate(CASES)])
def test_adjoint_identities(case, isa, rng):
    nd, xs, ws, kw = case
    x, w = rand(rng, xs), rand(rng, ws)
    y = _fwd(nd, x, w, kw)
    g = rand(rng, y.shape)
    gx = getattr(grad, f"conv{nd}d_input")(x.shape, w, g, **kw)
    gw = getattr(grad, f"conv{nd}d_weight")(x, w.shape, g, **kw)
    assert gx.shape == x.shape and gw.shape == w.shape
    lhs = float(np.vdot(y, g))
    assert np.isclose(lhs, float(np.vdot(x, gx)), rtol=1e-10, atol=1e-9)
    assert np.isclose(lhs, float(np.vdot(w, gw)), rtol=1e-10, atol=1e-9)
    # and exactly: the input gradient is linear in g, element by element
    e = np.zeros_like(g)
    e.flat[g.size // 3] = 1.0
    col = getattr(grad, f"conv{nd}d_input")(x.shape, w, e, **kw)
    for i in range(0, x.size, max(1, x.size // 7)):
        d = np.zeros_like(x)
        d.flat[i] = 1.0
        assert np.isclose(_fwd(nd, d, w, kw).flat[g.size // 3], col.flat[i], atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}d-{i}" for i, c in enumerate(CASES)])
def test_matches_torch_nn_grad(case, rng):
    torch = pytest.importorskip("torch")
    nd, xs, ws, kw = case
    if kw.get("padding") == "same" and kw.get("stride", 1) != 1 or isinstance(kw.get("padding"), tuple) \
            and isinstance(kw["padding"][0], tuple):
        pytest.skip("torch has no such padding form")
    x, w = rand(rng, xs), rand(rng, ws)
    y = _fwd(nd, x, w, kw)
    g = rand(rng, y.shape)
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    ty = getattr(torch.nn.functional, f"conv{nd}d")(tx, tw, **kw)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(getattr(grad, f"conv{nd}d_input")(x.shape, w, g, **kw),
                               tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(getattr(grad, f"conv{nd}d_weight")(x, w.shape, g, **kw),
                               tw.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_float32_and_errors(rng):
    x, w = rand(rng, (1, 4, 8, 8), np.float32), rand(rng, (6, 4, 3, 3), np.float32)
    g = rand(rng, (1, 6, 8, 8), np.float32)
    assert grad.conv2d_input(x.shape, w, g, padding=1).dtype == np.float32
    assert grad.conv2d_weight(x, w.shape, g, padding=1).dtype == np.float32
    assert grad.conv2d_input((8, 8), w, g, padding=1).shape == x.shape    # spatial size only
    with pytest.raises(ValueError, match="grad_output must have shape"):
        grad.conv2d_input(x.shape, w, g, padding=0)
    with pytest.raises(TypeError, match="input_size"):
        grad.conv2d_input("1,4,8,8", w, g)
    with pytest.raises(TypeError):
        grad.conv2d_weight(x, w.shape, g.astype(np.float64), padding=1)
