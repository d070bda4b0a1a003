"""The other ops' gradients in fastconv.grad (issue 28): padding modes,
transposed convolution, depthwise / pointwise / separable /
depthwise-separable, pooling, unpooling and the bias, each against torch's
autograd in float64 (rel_err <= 1e-10) on every ISA level, and float32 at
1e-4; where torch is absent, the adjoint identity <f(x), g> = <x, f^T(g)> for
the linear ops."""
import numpy as np
import pytest

import fastconv as fc
from fastconv import grad
from helpers import assert_close, rand

torch = pytest.importorskip("torch", reason="the oracle is torch's autograd (pip install torch)")
F = torch.nn.functional


def _autograd(fn, arrays, seed=0):
    """fn(*tensors) -> y; returns (y, g, grads of every array) for a random g."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    g = torch.from_numpy(np.random.default_rng(seed).standard_normal(tuple(y.shape)))
    y.backward(g)
    return y.detach().numpy(), g.numpy(), [t.grad.numpy() for t in ts]


def _tpad(pad):
    out = []
    for a, b in reversed(pad):
        out += [a, b]
    return out


MODE_CASES = [  # nd, x, w, stride, dilation, groups, (before, after) pads
    (1, (2, 3, 9), (4, 3, 3), 2, 1, 1, [(2, 1)]),
    (2, (1, 4, 7, 8), (6, 2, 3, 2), (2, 1), (1, 2), 2, [(1, 2), (0, 1)]),
    (2, (2, 3, 6, 6), (3, 1, 3, 3), 1, 1, 3, [(1, 1), (1, 1)]),
    (3, (1, 2, 5, 4, 6), (3, 2, 3, 2, 3), (1, 2, 2), 1, 1, [(1, 0), (1, 1), (2, 1)]),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", MODE_CASES, ids=[f"{c[0]}d-{i}" for i, c in enumerate(MODE_CASES)])
def test_conv_padding_modes(case, mode, isa, rng):
    nd, xs, ws, s, d, g, pad = case
    x, w = rand(rng, xs), rand(rng, ws)
    conv = getattr(F, f"conv{nd}d")
    _, gy, (gx_ref, gw_ref) = _autograd(
        lambda tx, tw: conv(F.pad(tx, _tpad(pad), mode=mode), tw, stride=s, dilation=d, groups=g), [x, w])
    kw = dict(stride=s, padding=tuple(pad), dilation=d, groups=g, padding_mode=mode)
    assert_close(getattr(grad, f"conv{nd}d_input")(x.shape, w, gy, **kw), gx_ref)
    assert_close(getattr(grad, f"conv{nd}d_weight")(x, w.shape, gy, **kw), gw_ref)


def test_padding_mode_errors(rng):
    x, w = rand(rng, (1, 2, 4, 4)), rand(rng, (2, 2, 3, 3))
    gy = rand(rng, (1, 2, 4, 4))
    with pytest.raises(ValueError, match="padding_mode"):
        grad.conv2d_input(x.shape, w, gy, padding=1, padding_mode="mirror")
    with pytest.raises(ValueError, match="reflect"):
        grad.conv2d_weight(x, w.shape, rand(rng, (1, 2, 10, 10)), padding=4, padding_mode="reflect")


T_CASES = [  # nd, x, w, kwargs
    (1, (2, 3, 7), (3, 2, 5), dict(stride=3, padding=2, output_padding=2)),
    (2, (2, 4, 5, 6), (4, 3, 4, 3), dict(stride=2, padding=1, output_padding=1)),
    (2, (1, 6, 5, 5), (6, 2, 3, 3), dict(stride=2, padding=1, groups=3, dilation=2)),
    (2, (1, 8, 4, 4), (8, 4, 4, 4), dict(stride=2, padding=1)),                      # DCGAN
    (3, (1, 2, 3, 4, 3), (2, 3, 2, 3, 2), dict(stride=(2, 1, 2))),
]


@pytest.mark.parametrize("case", T_CASES, ids=[f"{c[0]}d-{i}" for i, c in enumerate(T_CASES)])
def test_conv_transpose(case, isa, rng):
    nd, xs, ws, kw = case
    x, w = rand(rng, xs), rand(rng, ws)
    _, gy, (gx_ref, gw_ref) = _autograd(lambda a, b: getattr(F, f"conv_transpose{nd}d")(a, b, **kw), [x, w])
    assert_close(getattr(grad, f"conv_transpose{nd}d_input")(x.shape, w, gy, **kw), gx_ref)
    assert_close(getattr(grad, f"conv_transpose{nd}d_weight")(x, w.shape, gy, **kw), gw_ref)
    assert_close(grad.conv_bias(gy), gy.sum(axis=(0,) + tuple(range(2, gy.ndim))))


def test_conv_transpose_errors(rng):
    x, w = rand(rng, (1, 2, 4, 4)), rand(rng, (2, 3, 3, 3))
    with pytest.raises(ValueError, match="grad_output"):
        grad.conv_transpose2d_input(x.shape, w, rand(rng, (1, 3, 7, 7)))
    with pytest.raises(ValueError, match="grad_output"):
        grad.conv_transpose2d_weight(x, w.shape, rand(rng, (1, 3, 6, 7)), stride=1)


@pytest.mark.parametrize("m", [1, 2])
@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=(1, 2), dilation=2)])
def test_depthwise_and_pointwise(m, kw, isa, rng):
    C = 5
    x, w, pw = rand(rng, (2, C, 9, 8)), rand(rng, (C * m, 1, 3, 3)), rand(rng, (7, C * m))
    _, gy, (gx_ref, gw_ref) = _autograd(lambda a, b: F.conv2d(a, b, groups=C, **kw), [x, w])
    assert_close(grad.depthwise_conv2d_input(x.shape, w, gy, **kw), gx_ref)
    assert_close(grad.depthwise_conv2d_weight(x, w.shape, gy, **kw), gw_ref)
    h = fc.depthwise_conv2d(x, w, **kw)
    _, gy, (gh_ref, gp_ref) = _autograd(lambda a, b: F.conv2d(a, b[:, :, None, None]), [h, pw])
    assert_close(grad.pointwise_conv2d_input(h.shape, pw, gy), gh_ref)
    assert_close(grad.pointwise_conv2d_weight(h, pw.shape, gy), gp_ref)
    assert grad.pointwise_conv2d_weight(h, pw.shape + (1, 1), gy).shape == pw.shape + (1, 1)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_separable(shared, mode, isa, rng):
    x = rand(rng, (2, 4, 9, 10))
    row = rand(rng, (5,) if shared else (4, 5))
    col = rand(rng, (3,) if shared else (4, 3))
    b = rand(rng, (4,))

    def f(tx, tr, tc, tb):
        r = tr.expand(4, 5) if shared else tr
        c = tc.expand(4, 3) if shared else tc
        k = (c[:, :, None] * r[:, None, :])[:, None]
        xp = F.pad(tx, [2, 2, 1, 1], mode="constant" if mode == "zeros" else mode)
        return F.conv2d(xp, k, tb, stride=(1, 2), groups=4)

    y, gy, refs = _autograd(f, [x, row, col, b])
    assert_close(fc.separable_conv2d(x, row, col, b, (1, 2), (1, 2), padding_mode=mode), y)
    got = grad.separable_conv2d_backward(x, row, col, gy, (1, 2), (1, 2), padding_mode=mode)
    for name, ref in zip(["x", "row", "col", "bias"], refs):
        assert_close(got[name], ref, what=name)


@pytest.mark.parametrize("act", [None, "relu", "relu6"])
def test_depthwise_separable(act, isa, rng):
    x, dw, pw = rand(rng, (2, 6, 9, 8)), rand(rng, (12, 1, 3, 3), scale=2), rand(rng, (5, 12))
    db = rand(rng, (12,))
    acts = {None: lambda t: t, "relu": F.relu, "relu6": F.relu6}

    def f(tx, tdw, tpw, tdb):
        h = acts[act](F.conv2d(tx, tdw, tdb, stride=2, padding=1, dilation=2, groups=6))
        return F.conv2d(h, tpw[:, :, None, None])

    _, gy, refs = _autograd(f, [x, dw, pw, db])
    got = grad.depthwise_separable_conv2d_backward(x, dw, pw, gy, db, 2, 1, 2, depthwise_activation=act)
    for name, ref in zip(["x", "depthwise_weight", "pointwise_weight", "depthwise_bias"], refs):
        assert_close(got[name], ref, what=name)
    assert_close(got["pointwise_bias"], gy.sum(axis=(0, 2, 3)))
    with pytest.raises(ValueError, match="depthwise_activation"):
        grad.depthwise_separable_conv2d_backward(x, dw, pw, gy, db, 2, 1, 2, depthwise_activation="tanh")


POOL = [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
        dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
        dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kw", POOL, ids=range(len(POOL)))
def test_pooling(nd, kw, isa, rng):
    x = rand(rng, (2, 3) + (7, 8, 5)[:nd])
    _, gy, (ref,) = _autograd(lambda t: getattr(F, f"max_pool{nd}d")(t, **kw), [x])
    assert_close(getattr(grad, f"max_pool{nd}d_input")(x, gy, **kw), ref)
    _, idx = getattr(fc, f"max_pool{nd}d")(x, return_indices=True, **kw)
    assert_close(getattr(grad, f"max_pool{nd}d_input")(x, gy, indices=idx, **kw), ref)
    for cip in (True, False):
        for div in ((None,) if nd == 1 else (None, 5)):
            extra = {} if nd == 1 else dict(divisor_override=div)
            _, gy, (ref,) = _autograd(
                lambda t: getattr(F, f"avg_pool{nd}d")(t, count_include_pad=cip, **extra, **kw), [x])
            got = getattr(grad, f"avg_pool{nd}d_input")(x.shape, gy, count_include_pad=cip,
                                                       divisor_override=div, **kw)
            assert_close(got, ref, what=f"avg cip={cip} div={div}")


def test_pooling_float32_and_errors(rng):
    x = rand(rng, (1, 2, 6, 6), np.float32)
    _, gy, (ref,) = _autograd(lambda t: F.max_pool2d(t, 2), [x.astype(np.float64)])
    assert_close(grad.max_pool2d_input(x, gy.astype(np.float32), 2), ref, np.float32)
    with pytest.raises(ValueError, match="grad_output"):
        grad.max_pool2d_input(x, np.zeros((1, 2, 2, 2), np.float32), 2)
    with pytest.raises(ValueError, match="grad_output"):
        grad.avg_pool2d_input(x.shape, np.zeros((1, 2, 4, 3)), 2)
    with pytest.raises(TypeError, match="grad_output"):
        grad.avg_pool2d_input(x.shape, np.zeros((1, 2, 3, 3), np.int32), 2)
    with pytest.raises(ValueError, match="indices"):
        grad.max_pool2d_input(x, np.zeros((1, 2, 3, 3), np.float32), 2,
                              indices=np.full((1, 2, 3, 3), 99))


def test_unpool_and_global_pool(rng):
    x = rand(rng, (2, 3, 6, 8))
    y, idx = fc.max_pool2d(x, 2, return_indices=True)
    _, gy, (ref,) = _autograd(lambda t: F.max_unpool2d(t, torch.from_numpy(idx), 2), [y])
    assert_close(grad.max_unpool2d_input(gy, idx), ref)
    _, gy, (ref,) = _autograd(lambda t: t.mean(dim=(2, 3), keepdim=True), [x])
    assert_close(grad.global_avg_pool_input(x.shape, gy), ref)
    assert_close(grad.global_avg_pool_input(x.shape, gy[:, :, 0, 0]), ref)


ACTS = [None, "relu", "relu6", ("leaky_relu", 0.2), "hardswish", "sigmoid", "tanh", "silu", "gelu"]


def _torch_act(act):
    if act is None:
        return lambda t: t
    if isinstance(act, tuple):
        return lambda t: F.leaky_relu(t, act[1])
    return {"relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish, "sigmoid": torch.sigmoid,
            "tanh": torch.tanh, "silu": F.silu, "gelu": F.gelu}[act]


@pytest.mark.parametrize("act", ACTS, ids=str)
def test_activation_backward(act, rng):
    # the kinks and the pieces' ends, and random values
    z = np.concatenate([np.array([-3.0, 0.0, 3.0, 6.0, -6.0, 1e-9]), rand(rng, 200, scale=4)])
    _, gy, (ref,) = _autograd(_torch_act(act), [z])
    assert_close(grad.activation_backward(z, gy, act), ref)
    got32 = grad.activation_backward(z.astype(np.float32), gy.astype(np.float32), act)
    assert_close(got32, ref, np.float32)


LAYER_CASES = [  # class, x (one or a sequence of shapes), w, kwargs
    ("Conv2d", [(2, 4, 9, 8), (1, 4, 6, 7), (4, 9, 9)], (6, 2, 3, 3),
     dict(stride=2, padding=1, groups=2)),
    ("Conv2d", [(1, 3, 8, 8)], (5, 3, 3, 3), dict(padding="same", padding_mode="reflect")),
    ("Conv1d", [(2, 3, 11), (1, 3, 5)], (4, 3, 3), dict(padding=1, dilation=2, padding_mode="circular")),
    ("Conv3d", [(1, 2, 4, 5, 4)], (3, 2, 3, 3, 3), dict(padding=1)),
    ("ConvTranspose2d", [(1, 4, 5, 5), (2, 4, 3, 4)], (4, 3, 4, 4), dict(stride=2, padding=1)),
    ("ConvTranspose1d", [(2, 3, 6)], (3, 2, 3), dict(stride=2, output_padding=1)),
    # the weight gradient's forms through a layer on a sequence of shapes: depthwise (one
    # image on a small plane as a forward convolution, a batch on the inner products,
    # unbatched) and the GEMM, with padding modes
    ("Conv2d", [(1, 6, 7, 7), (2, 6, 10, 9), (6, 5, 5)], (6, 1, 3, 3),
     dict(padding=1, groups=6, padding_mode="replicate")),
    ("Conv2d", [(2, 8, 12, 12), (1, 8, 20, 17)], (40, 8, 3, 3), dict(padding=1, padding_mode="reflect")),
]


def _torch_layer(name, kw, tx, tw, tb):
    nd = int(name[-2])
    pm = kw.get("padding_mode", "zeros")
    k = {a: v for a, v in kw.items() if a != "padding_mode"}
    if name.startswith("ConvTranspose"):
        return getattr(F, f"conv_transpose{nd}d")(tx, tw, tb, **k)
    if pm != "zeros":
        pad = k.pop("padding")
        ks = tw.shape[2:]
        pads = [(d * (n - 1) // 2, d * (n - 1) - d * (n - 1) // 2) for n in ks
                for d in [k.get("dilation", 1)]] if pad == "same" else [(pad, pad)] * nd
        tx = F.pad(tx, _tpad(pads), mode=pm)
    return getattr(F, f"conv{nd}d")(tx, tw, tb, **k)


@pytest.mark.parametrize("act", [None, "relu", "silu"], ids=str)
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] + str(i) for i, c in enumerate(LAYER_CASES)])
def test_layer_backward(case, act, isa, rng):
    name, shapes, ws, kw = case
    w, b = rand(rng, ws), rand(rng, (ws[1] * kw.get("groups", 1) if "Transpose" in name else ws[0],))
    layer = getattr(fc, name)(w, b, activation=act, **kw)
    for shape in shapes:          # one layer object over a sequence of shapes
        x = rand(rng, shape)
        y = layer(x)
        res = rand(rng, y.shape)
        ta = _torch_act(act)
        yr, gy, (gx, gw, gb, gr) = _autograd(
            lambda tx, tw, tb, tr: ta(_torch_layer(name, kw, tx, tw, tb) + tr), [x, w, b, res])
        g = layer.backward(x, gy, residual=res)
        for got, ref, what in [(g.input, gx, "input"), (g.weight, gw, "weight"), (g.bias, gb, "bias"),
                               (g.residual, gr, "residual")]:
            assert_close(got, ref, what=f"{name} {shape} {what}")
        if act in (None, "relu"):         # the derivative read from the output
            g2 = layer.backward(x, gy, residual=res, output=layer(x, residual=res))
            assert_close(g2.input, gx)
    with pytest.raises(ValueError, match="grad_output"):
        layer.backward(x, np.zeros((1, 1)))


@pytest.mark.parametrize("cls", ["Conv2d", "ConvTranspose2d"])
def test_layer_backward_channels_last(cls, isa, rng):
    w, b = rand(rng, (4, 4, 3, 3)), rand(rng, (4,))
    kw = dict(stride=2, padding=1)
    first = getattr(fc, cls)(w, b, activation="relu6", **kw)
    last = getattr(fc, cls)(w, b, activation="relu6", layout="NHWC", **kw)
    x = rand(rng, (2, 4, 7, 6))
    gy = rand(rng, first(x).shape)
    ref = first.backward(x, gy)
    got = last.backward(np.moveaxis(x, 1, -1), np.moveaxis(gy, 1, -1))
    assert_close(got.input, np.moveaxis(ref.input, 1, -1))
    assert_close(got.weight, ref.weight)
    assert_close(got.bias, ref.bias)


def test_layer_backward_float32(rng):
    w = rand(rng, (8, 3, 3, 3))
    x = rand(rng, (2, 3, 10, 10))
    _, gy, (gx, gw) = _autograd(lambda a, b: F.conv2d(a, b, padding=1), [x, w])
    g = fc.Conv2d(w.astype(np.float32), padding=1).backward(x.astype(np.float32), gy.astype(np.float32))
    assert g.bias is None and g.residual is None
    assert_close(g.input, gx, np.float32)
    assert_close(g.weight, gw, np.float32)


def test_thread_count_does_not_change_gradients(rng, restore_threads):
    x = rand(rng, (3, 5, 17, 13))
    w = rand(rng, (10, 1, 3, 3))
    y = fc.conv2d(x, w, padding=1, groups=5)
    gy = rand(rng, y.shape)
    gp = rand(rng, fc.max_pool2d(x, 3, 2, 1).shape)
    z = rand(rng, (40000,))

    def all_grads():
        return (grad.conv2d_input(x.shape, w, gy, padding=1, groups=5),
                grad.conv2d_weight(x, w.shape, gy, padding=1, groups=5),
                grad.max_pool2d_input(x, gp, 3, 2, 1), grad.avg_pool2d_input(x.shape, gp, 3, 2, 1),
                grad.activation_backward(z, z, "gelu"))
    fc.set_num_threads(1)
    one = all_grads()
    for n in (2, 7):
        fc.set_num_threads(n)
        for a, b in zip(one, all_grads()):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
