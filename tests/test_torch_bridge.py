"""fastconv.torch, the PyTorch bridge (issue 28, part C): autograd-aware ops
and modules on fastconv's kernels.

- every op passes torch.autograd.gradcheck in float64 on tiny shapes (stride,
  every padding form, dilation, groups and depthwise, 1-D to 3-D, transposed
  with output_padding, involution) and torch.library.opcheck (schema, fake
  shapes, autograd registration, AOT dispatch);
- forward and gradients equal torch.nn.functional's (the official unfold
  formulation for involution) at rel_err 1e-10 (float64) / 1e-4 (float32);
- double backward (gradgradcheck) through the gradient ops' own derivatives;
- only the gradients asked for are computed; the modules load torch's state
  dicts (Involution2d the official module's, strict);
- torch.compile (fullgraph) runs them, forward and backward;
- a few SGD steps of a RedNet-style and a MobileNetV2-style network, float64,
  give the pure-torch model's losses at rtol 1e-9.
"""
import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402

import fastconv  # noqa: E402
import fastconv.torch as fct  # noqa: E402
import torch_nets  # noqa: E402

F = torch.nn.functional
HAS_INV_GRAD = all(callable(getattr(fastconv.grad, n, None))
                   for n in ("involution2d_input", "involution2d_kernel"))
needs_inv_grad = pytest.mark.skipif(
    not HAS_INV_GRAD, reason="fastconv.grad.involution2d_input/_kernel not in this fastconv yet")


def rel_err(a, b):
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).abs().max() / b.pow(2).mean().sqrt().clamp_min(1e-300)).item()


def tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-4


def rand(*shape, dtype=torch.float64, grad=True, seed=None):
    g = torch.Generator().manual_seed(seed if seed is not None else hash(shape) % 2**31)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(grad)


def official_involution(x, kernel, K, stride=1, padding=None, dilation=1):
    """The unfold formulation (any padding/dilation): the oracle."""
    N, C, H, W = x.shape
    G, Ho, Wo = kernel.shape[1], kernel.shape[3], kernel.shape[4]
    if padding is None:
        padding = dilation * (K - 1) // 2
    cols = F.unfold(x, K, dilation, padding, stride).view(N, G, C // G, K * K, Ho, Wo)
    return (kernel.unsqueeze(2) * cols).sum(3).view(N, C, Ho, Wo)


# ------------------------------------------------------------------ gradcheck, float64, tiny

CONV_CASES = [  # (nd, x shape, w shape, kwargs)
    (2, (1, 2, 5, 5), (3, 2, 3, 3), dict(padding=1)),
    (2, (2, 2, 5, 6), (2, 2, 3, 2), dict(stride=2, padding=(1, 0))),
    (2, (1, 2, 6, 5), (2, 2, 3, 3), dict(dilation=2, padding="same")),
    (2, (1, 2, 5, 5), (2, 2, 2, 2), dict(padding="same")),          # even kernel: the extra pad after
    (2, (1, 2, 5, 5), (2, 2, 3, 3), dict(padding="valid", stride=(1, 2))),
    (2, (1, 2, 4, 4), (2, 2, 3, 3), dict(padding=((1, 0), (0, 2)))),
    (2, (1, 4, 5, 5), (4, 2, 3, 3), dict(groups=2, padding=1)),
    (2, (1, 3, 5, 5), (6, 1, 3, 3), dict(groups=3, padding=1, stride=2)),  # depthwise, multiplier 2
    (2, (2, 5, 5), (3, 2, 3, 3), dict(padding=1)),                  # unbatched
    (1, (2, 3, 7), (2, 3, 3), dict(stride=2, dilation=2, padding=2)),
    (1, (1, 4, 6), (4, 1, 3), dict(groups=4, padding="same")),
    (3, (1, 2, 4, 4, 3), (2, 2, 2, 3, 2), dict(stride=(1, 2, 1), padding=1)),
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("nd,xs,ws,kw", CONV_CASES)
def test_gradcheck_conv(nd, xs, ws, kw, bias):
    x, w = rand(*xs), rand(*ws)
    b = rand(ws[0]) if bias else None
    fn = getattr(fct, f"conv{nd}d")
    assert torch.autograd.gradcheck(lambda x, w, b: fn(x, w, b, **kw), (x, w, b))


CONVT_CASES = [
    (2, (1, 2, 3, 3), (2, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    (2, (1, 4, 3, 2), (4, 1, 2, 3), dict(stride=(2, 1), groups=2)),
    (2, (1, 2, 3, 3), (2, 2, 3, 3), dict(dilation=2, output_padding=1)),   # output_padding < dilation
    (2, (1, 3, 3, 3), (3, 1, 3, 3), dict(groups=3, stride=2, padding=1)),  # depthwise
    (2, (2, 3, 3), (2, 2, 3, 3), dict(stride=2)),                           # unbatched
    (1, (2, 2, 4), (2, 3, 3), dict(stride=3, padding=1, output_padding=2)),
    (3, (1, 2, 2, 3, 2), (2, 2, 2, 2, 3), dict(stride=2, padding=(0, 1, 1), output_padding=(1, 0, 1))),
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("nd,xs,ws,kw", CONVT_CASES)
def test_gradcheck_conv_transpose(nd, xs, ws, kw, bias):
    x, w = rand(*xs), rand(*ws)
    b = rand(ws[1] * kw.get("groups", 1)) if bias else None
    fn = getattr(fct, f"conv_transpose{nd}d")
    assert torch.autograd.gradcheck(lambda x, w, b: fn(x, w, b, **kw), (x, w, b))


INV_CASES = [  # (x shape, G, K, kwargs, output size)
    ((1, 4, 5, 5), 2, 3, {}, (5, 5)),
    ((1, 4, 6, 6), 1, 3, dict(stride=2), (3, 3)),
    ((2, 2, 5, 4), 2, 3, dict(dilation=2), (5, 4)),
    ((1, 4, 5, 5), 4, 2, dict(padding="valid"), (4, 4)),
    ((1, 2, 4, 5), 1, 3, dict(padding=((1, 0), (2, 1)), stride=(1, 2)), (3, 3)),
]


@needs_inv_grad
@pytest.mark.parametrize("xs,G,K,kw,out", INV_CASES)
def test_gradcheck_involution(xs, G, K, kw, out):
    x, k = rand(*xs), rand(xs[0], G, K * K, *out)
    assert torch.autograd.gradcheck(lambda x, k: fct.involution2d(x, k, K, **kw), (x, k))


def test_involution_forward_tiny():
    """Without the gradients the forward still matches the unfold formulation."""
    for xs, G, K, kw, out in INV_CASES:
        if "padding" in kw:
            continue
        x, k = rand(*xs, grad=False), rand(xs[0], G, K * K, *out, grad=False)
        assert rel_err(fct.involution2d(x, k, K, **kw), official_involution(x, k, K, **kw)) <= 1e-12


def _sym(padding):
    """((p, p), (q, q)) -> (p, q): the unfold oracle pads symmetrically"""
    assert all(a == b for a, b in padding)
    return tuple(a for a, _ in padding)


def _ref_involution_input(input_size, kernel, grad_output, kernel_size, stride=1, padding=None,
                          dilation=1):
    """fold, the adjoint of unfold, of kernel * grad_output (plain torch, no autograd:
    a custom op's implementation runs below it)"""
    N, C, H, W = input_size
    k, gy = torch.from_numpy(kernel), torch.from_numpy(grad_output)
    G, K2, Ho, Wo = k.shape[1:]
    cols = (k.unsqueeze(2) * gy.view(N, G, C // G, 1, Ho, Wo)).reshape(N, C * K2, Ho * Wo)
    return F.fold(cols, (H, W), kernel_size, dilation, _sym(padding), stride).numpy()


def _ref_involution_kernel(input, grad_output, kernel_size, groups, stride=1, padding=None, dilation=1):
    x, gy = torch.from_numpy(input), torch.from_numpy(grad_output)
    N, C = x.shape[:2]
    Ho, Wo = gy.shape[2:]
    cols = F.unfold(x, kernel_size, dilation, _sym(padding), stride).view(
        N, groups, C // groups, kernel_size ** 2, Ho, Wo)
    return (cols * gy.view(N, groups, C // groups, 1, Ho, Wo)).sum(2).numpy()


def test_involution_backward_wiring(monkeypatch):
    """The bridge's involution backward with the gradients' documented
    signatures filled in by the unfold oracle's autograd: the arguments it
    passes (sizes, groups, stride, padding pairs, dilation) and the shapes it
    expects, checked whether or not fastconv's own gradients are in."""
    monkeypatch.setattr(fastconv.grad, "involution2d_input", _ref_involution_input, raising=False)
    monkeypatch.setattr(fastconv.grad, "involution2d_kernel", _ref_involution_kernel, raising=False)
    for xs, G, K, kw, out in INV_CASES[:3]:
        x, k = rand(*xs), rand(xs[0], G, K * K, *out)
        assert torch.autograd.gradcheck(lambda x, k: fct.involution2d(x, k, K, **kw), (x, k))
    ref, ours = _curves("rednet", steps=2, K=3)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=0)


def test_opcheck_every_op():
    """Schema, fake (shape) implementations, autograd registration and AOT
    dispatch of each custom op, by torch's own checker."""
    cases = [
        (torch.ops.fastconv.conv, (rand(1, 2, 5, 5), rand(4, 1, 3, 3), rand(4), [2, 1], [1, 0], [1, 2],
                                   [1, 2], 2)),
        (torch.ops.fastconv.conv_transpose, (rand(1, 2, 3, 3), rand(2, 2, 3, 3), None, [2, 2], [1, 1],
                                             [1, 1], [1, 0], 1, [1, 1])),
        (torch.ops.fastconv.conv_input_grad, (rand(1, 4, 3, 3), rand(4, 2, 3, 3), [1, 2, 5, 5], [2, 2],
                                              [1, 1], [1, 1], [1, 1], 1)),
        (torch.ops.fastconv.conv_weight_grad, (rand(1, 2, 5, 5), rand(1, 4, 3, 3), [4, 2, 3, 3], [2, 2],
                                               [1, 1], [1, 1], [1, 1], 1)),
        (torch.ops.fastconv.conv_transpose_input_grad, (rand(1, 2, 6, 6), rand(3, 2, 3, 3), [1, 3, 3, 3],
                                                        [2, 2], [1, 1], [1, 1], [1, 1], 1, [1, 1])),
        (torch.ops.fastconv.conv_transpose_weight_grad, (rand(1, 3, 3, 3), rand(1, 2, 6, 6), [3, 2, 3, 3],
                                                         [2, 2], [1, 1], [1, 1], [1, 1], 1, [1, 1])),
    ]
    if HAS_INV_GRAD:
        cases.append((torch.ops.fastconv.involution, (rand(1, 4, 5, 5), rand(1, 2, 9, 5, 5), 3, [1, 1],
                                                      [1, 1], [1, 1], [1, 1])))
    for op, args in cases:
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor",
                                                    "test_autograd_registration",
                                                    "test_aot_dispatch_dynamic"))


# ------------------------------------------------------------------ against torch, bigger shapes

def _compare(ours, ref, inputs, dtype):
    """forward, then the gradients of every input for one random upstream gradient"""
    y, yr = ours(*inputs), ref(*inputs)
    assert y.dtype == dtype and y.shape == yr.shape
    assert rel_err(y, yr) <= tol(dtype)
    gy = torch.randn(yr.shape, generator=torch.Generator().manual_seed(7), dtype=dtype)
    live = [t for t in inputs if t is not None]
    g = torch.autograd.grad(y, live, gy)
    gr = torch.autograd.grad(yr, live, gy)
    for a, b in zip(g, gr):
        assert rel_err(a, b) <= tol(dtype)


BIG_CONV = [
    (2, (2, 16, 14, 14), (32, 16, 3, 3), dict(stride=2, padding=1)),
    (2, (2, 32, 15, 15), (32, 1, 3, 3), dict(padding=1, groups=32)),          # depthwise
    (2, (2, 32, 15, 15), (32, 1, 5, 5), dict(stride=2, padding=2, groups=32)),
    (2, (2, 24, 12, 12), (48, 4, 3, 3), dict(padding="same", dilation=2, groups=6)),
    (2, (2, 24, 9, 9), (40, 24, 1, 1), {}),                                    # pointwise
    (1, (2, 16, 40), (24, 8, 5), dict(stride=3, padding=2, groups=2)),
    (3, (1, 8, 7, 8, 6), (12, 8, 3, 3, 3), dict(padding=1, stride=(2, 1, 1))),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("nd,xs,ws,kw", BIG_CONV)
def test_conv_against_torch(nd, xs, ws, kw, dtype):
    x, w, b = rand(*xs, dtype=dtype), rand(*ws, dtype=dtype), rand(ws[0], dtype=dtype)
    ours, ref = getattr(fct, f"conv{nd}d"), getattr(F, f"conv{nd}d")
    _compare(lambda x, w, b: ours(x, w, b, **kw), lambda x, w, b: ref(x, w, b, **kw), (x, w, b), dtype)


BIG_CONVT = [
    (2, (2, 16, 7, 7), (16, 8, 4, 4), dict(stride=2, padding=1)),
    (2, (2, 16, 7, 7), (16, 8, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    (1, (2, 8, 20), (8, 6, 5), dict(stride=2, dilation=2, output_padding=1)),
    (3, (1, 8, 4, 5, 4), (8, 4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("nd,xs,ws,kw", BIG_CONVT)
def test_conv_transpose_against_torch(nd, xs, ws, kw, dtype):
    x, w = rand(*xs, dtype=dtype), rand(*ws, dtype=dtype)
    b = rand(ws[1] * kw.get("groups", 1), dtype=dtype)
    ours, ref = getattr(fct, f"conv_transpose{nd}d"), getattr(F, f"conv_transpose{nd}d")
    _compare(lambda x, w, b: ours(x, w, b, **kw), lambda x, w, b: ref(x, w, b, **kw), (x, w, b), dtype)


@needs_inv_grad
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("K,stride,G", [(7, 1, 4), (3, 2, 2), (5, 1, 1)])
def test_involution_against_unfold(K, stride, G, dtype):
    x = rand(2, 16, 14, 14, dtype=dtype)
    k = rand(2, G, K * K, 14 // stride, 14 // stride, dtype=dtype)
    _compare(lambda x, k: fct.involution2d(x, k, K, stride),
             lambda x, k: official_involution(x, k, K, stride), (x, k), dtype)


# ------------------------------------------------------------------ only the gradients asked for

def test_only_requested_gradients(monkeypatch):
    """the gradients of the tensors that require one (ctx.needs_input_grad), no others"""
    def refuse(*a, **k):
        raise AssertionError("a gradient nobody asked for was computed")

    x, w = rand(1, 2, 6, 6), rand(3, 2, 3, 3)
    with monkeypatch.context() as m:
        m.setattr(fastconv.grad, "conv2d_weight", refuse)
        fct.conv2d(x, w.detach(), padding=1).sum().backward()
        assert x.grad is not None
    with monkeypatch.context() as m:
        m.setattr(fastconv.grad, "conv2d_input", refuse)
        fct.conv2d(x.detach(), w, padding=1).sum().backward()     # a first layer's case
        assert w.grad is not None
    with monkeypatch.context() as m:                              # the bias alone
        for name in ("conv2d_weight", "conv_transpose2d_input", "conv_transpose2d_weight"):
            m.setattr(fastconv.grad, name, refuse, raising=False)
        m.setitem(fct._CONV, 2, refuse)
        b = rand(3)
        fct.conv_transpose2d(x.detach(), w.detach().transpose(0, 1), b, padding=1).sum().backward()
        assert b.grad is not None


@pytest.mark.parametrize("nd,xs,ws,kw", [CONV_CASES[1], CONV_CASES[7], CONV_CASES[9]])
def test_gradgradcheck_conv(nd, xs, ws, kw):
    """double backward: the gradient ops have their own registered derivatives"""
    x, w, b = rand(*xs), rand(*ws), rand(ws[0])
    fn = getattr(fct, f"conv{nd}d")
    assert torch.autograd.gradgradcheck(lambda x, w, b: fn(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("nd,xs,ws,kw", [CONVT_CASES[0], CONVT_CASES[2], CONVT_CASES[5]])
def test_gradgradcheck_conv_transpose(nd, xs, ws, kw):
    x, w = rand(*xs), rand(*ws)
    fn = getattr(fct, f"conv_transpose{nd}d")
    assert torch.autograd.gradgradcheck(lambda x, w: fn(x, w, None, **kw), (x, w))


@needs_inv_grad
def test_gradgradcheck_involution():
    x, k = rand(1, 4, 5, 5), rand(1, 2, 9, 3, 3)
    assert torch.autograd.gradgradcheck(lambda x, k: fct.involution2d(x, k, 3, stride=2), (x, k))


# ------------------------------------------------------------------ errors

def test_errors():
    x, w = rand(1, 2, 5, 5, grad=False), rand(3, 2, 3, 3, grad=False)
    with pytest.raises(TypeError, match="input must be float32 or float64"):
        fct.conv2d(x.to(torch.int32), w)
    with pytest.raises(TypeError, match="weight is torch.float32"):
        fct.conv2d(x, w.float())
    with pytest.raises(TypeError, match="torch.Tensor"):
        fct.conv2d(x.numpy(), w)
    with pytest.raises(ValueError, match="CPU"):
        fct.conv2d(x.to("meta"), w.to("meta"))
    with pytest.raises(ValueError, match="strided"):
        fct.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="stride"):
        fct.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="groups"):
        fct.conv2d(x, w, groups=2)
    with pytest.raises(ValueError, match="weight must have 4 dims"):
        fct.conv2d(x, w[0])
    with pytest.raises(ValueError, match="output_padding"):
        fct.conv_transpose2d(x, w.transpose(0, 1), output_padding=1)
    with pytest.raises(ValueError, match="kernel"):
        fct.involution2d(x, rand(1, 1, 9, 4, 4, grad=False), 3)
    with pytest.raises(ValueError, match="padding"):
        fct.conv2d(x, w, padding=-1)


# ------------------------------------------------------------------ modules

MODULES = [
    ("Conv1d", (4, 6, 3), dict(padding=1, stride=2), (2, 4, 11)),
    ("Conv2d", (4, 8, 3), dict(padding=1, groups=4), (2, 4, 9, 9)),                # grouped
    ("Conv2d", (8, 8, 3), dict(padding=1, groups=8, stride=2, bias=False), (2, 8, 9, 9)),  # depthwise
    ("Conv2d", (4, 6, 3), dict(padding="same", padding_mode="reflect"), (2, 4, 7, 8)),
    ("Conv2d", (4, 6, (3, 2)), dict(padding=(1, 2), padding_mode="replicate"), (2, 4, 7, 8)),
    ("Conv3d", (2, 4, 3), dict(padding=1, padding_mode="circular"), (1, 2, 5, 4, 5)),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2), (2, 4, 7)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 5)),
    ("ConvTranspose3d", (4, 2, 2), dict(stride=2), (1, 4, 3, 2, 3)),
]


@pytest.mark.parametrize("name,args,kw,xs", MODULES)
def test_modules_load_torch_state_dicts(name, args, kw, xs):
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(*args, **kw, dtype=torch.float64)
    m = getattr(fct, name)(*args, **kw, dtype=torch.float64)
    assert isinstance(m, getattr(torch.nn, name))
    m.load_state_dict(ref.state_dict(), strict=True)
    x = rand(*xs)
    _compare(lambda x: m(x), lambda x: ref(x), (x,), torch.float64)
    gm = torch.autograd.grad(m(x).sum(), list(m.parameters()))
    gr = torch.autograd.grad(ref(x).sum(), list(ref.parameters()))
    for a, b in zip(gm, gr):
        assert rel_err(a, b) <= 1e-10


def test_conv_transpose_module_output_size():
    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, dtype=torch.float64)
    m = fct.ConvTranspose2d(3, 2, 3, stride=2, padding=1, dtype=torch.float64)
    m.load_state_dict(ref.state_dict())
    x = rand(1, 3, 4, 4)
    assert rel_err(m(x, output_size=[8, 8]), ref(x, output_size=[8, 8])) <= 1e-12


def test_involution_module_loads_official_state_dict():
    from torch_official import official_involution as official

    torch.manual_seed(1)
    C, K, s, gc = 16, 7, 2, 4
    src = fct.Involution2d(C, K, s, gc).double()   # random weights in the official names
    with torch.no_grad():
        src.conv1.bn.running_mean.uniform_(-0.5, 0.5)
        src.conv1.bn.running_var.uniform_(0.5, 1.5)
    sd = {k: v.numpy() for k, v in src.state_dict().items() if "num_batches" not in k}
    ref = official(sd, C, K, s, gc)
    m = fct.Involution2d(C, K, s, gc).double()
    m.load_state_dict(ref.state_dict(), strict=True)
    assert set(m.state_dict()) == set(ref.state_dict())
    m.eval()
    x = rand(2, C, 12, 12, grad=False)
    assert rel_err(m(x), ref(x)) <= 1e-10
    # and the NumPy inference module agrees with it on the same state dict
    inf = fastconv.Involution2d.from_state_dict(sd, stride=s, group_channels=gc)
    assert rel_err(torch.from_numpy(inf(x.numpy())), ref(x)) <= 1e-10


def test_involution_module_errors():
    with pytest.raises(ValueError, match="group_channels"):
        fct.Involution2d(12, 3, group_channels=8)
    with pytest.raises(ValueError, match="reduction_ratio"):
        fct.Involution2d(4, 3, group_channels=4, reduction_ratio=8)
    with pytest.raises(ValueError, match="x must have shape"):
        fct.Involution2d(8, 3, group_channels=4)(rand(1, 4, 5, 5, grad=False, dtype=torch.float32))


# ------------------------------------------------------------------ torch.compile

def _net(x, w1, w2, k):
    y = torch.relu(fct.conv2d(x, w1, None, 1, 1))
    y = fct.conv2d(y, w2, None, 2, 1, 1, 4)                     # depthwise, strided
    y = fct.conv_transpose2d(y, w2, None, 2, 1, 1, 4)
    if k is not None:
        y = fct.involution2d(y, k, 3)
    return y.square().sum()


def _chain(x, w1, w2, k):
    """the bridge's ops alone: inductor compiles no kernel of its own for it (quick)"""
    y = fct.conv2d(x, w1, None, 1, 1)
    y = fct.conv_transpose2d(fct.conv2d(y, w2, None, 2, 1, 1, 4), w2, None, 2, 1, 1, 4)
    return y if k is None else fct.involution2d(y, k, 3)


@pytest.mark.parametrize("backend,fn", [("aot_eager", _net), ("inductor", _chain)])
def test_torch_compile_fullgraph(backend, fn):
    """one graph (fullgraph=True), forward and backward, the eager numbers"""
    torch._dynamo.reset()
    x, w1, w2 = rand(2, 3, 8, 8), rand(4, 3, 3, 3), rand(4, 1, 3, 3)
    k = rand(2, 2, 9, 8, 8) if HAS_INV_GRAD else None
    inputs = [t for t in (x, w1, w2, k) if t is not None]
    ref = fn(x, w1, w2, k)
    gy = torch.ones_like(ref)
    gref = torch.autograd.grad(ref, inputs, gy)
    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    out = compiled(x, w1, w2, k)
    g = torch.autograd.grad(out, inputs, gy)
    assert rel_err(out, ref) <= 1e-12
    for a, b in zip(g, gref):
        assert rel_err(a, b) <= 1e-12


def test_torch_compile_module():
    torch._dynamo.reset()
    torch.manual_seed(0)
    ref, m = torch_nets.pair("mobilenet", fct, torch.float64, blocks=((8, 2, 2),), width=8, last=16)
    x = rand(2, 3, 16, 16, grad=False)
    cm = torch.compile(m, backend="aot_eager")      # fullgraph=False: module hooks may break graphs
    assert rel_err(cm(x), ref(x)) <= 1e-10


# ------------------------------------------------------------------ training curves, float64

def _curves(kind, steps=4, **kw):
    ref, fc = torch_nets.pair(kind, fct, torch.float64, **kw)
    g = torch.Generator().manual_seed(3)
    data = [(torch.randn(4, 3, 16, 16, generator=g, dtype=torch.float64),
             torch.randint(0, 10, (4,), generator=g)) for _ in range(steps)]
    curves = []
    for model in (ref, fc):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        curves.append([torch_nets.train_step(model, opt, x, t) for x, t in data])
    # and the trained parameters still agree
    for (n, a), b in zip(ref.state_dict().items(), fc.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-12, msg=n)
    return curves


def test_training_curve_mobilenet_v2_style():
    ref, ours = _curves("mobilenet")
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=0)
    assert ref[-1] != ref[0]


@needs_inv_grad
def test_training_curve_rednet_style():
    ref, ours = _curves("rednet", K=3)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=0)
    assert ref[-1] != ref[0]


def test_importing_fastconv_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, fastconv; assert 'torch' not in sys.modules, 'fastconv imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
