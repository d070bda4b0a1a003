"""fastconv.grad.involution2d_input / _kernel and Involution2d.backward
(issue 28, part B): against torch's autograd of the official unfold
formulation (float64 references), the adjoint identities (no torch needed),
every ISA level, both layouts, thread counts, NaN masks and bad arguments."""
import numpy as np
import pytest

import fastconv
from fastconv._grad_involution import _geometry
from helpers import DTYPES, assert_close, rand

gi, gkf = fastconv.grad.involution2d_input, fastconv.grad.involution2d_kernel

# (N, C, G, H, W, K, stride, dilation, padding): K 1/3/7, strides 1-3, dilation 2,
# G of 1, some and all channels, odd and prime sizes, channels about the SIMD widths
CASES = [
    (1, 16, 1, 9, 9, 3, 1, 1, None),
    (2, 32, 2, 11, 13, 7, 1, 1, None),
    (1, 16, 16, 10, 7, 3, 2, 1, None),
    (1, 24, 3, 15, 12, 3, 2, 2, None),
    (1, 8, 1, 9, 9, 1, 1, 1, None),
    (1, 40, 5, 8, 20, 7, 2, 1, None),
    (2, 17, 17, 6, 5, 3, 3, 1, ((0, 2), (1, 0))),
    (1, 32, 2, 7, 7, 7, 1, 2, "same"),
    (1, 16, 4, 12, 12, 5, 2, 2, "valid"),
    (1, 48, 3, 5, 33, 7, 1, 1, 1),
    (1, 15, 1, 4, 3, 3, 1, 1, (2, 0)),
    (1, 33, 33, 1, 1, 1, 1, 1, None),
    (1, 64, 4, 13, 11, 7, 2, 1, (4, 2)),
]
IDS = ["x".join(map(str, c[:8])) + f"-p{c[8]}" for c in CASES]


def geometry(case):
    N, C, G, H, W, K, s, d, pad = case
    _, st, dl, p0, p1, osz = _geometry(N, C, H, W, K, s, pad, d)
    return st, dl, p0, p1, osz


def arrays(case, dtype, rng):
    N, C, G, H, W, K = case[:6]
    osz = geometry(case)[4]
    return (rand(rng, (N, C, H, W), dtype), rand(rng, (N, G, K * K) + tuple(osz), dtype),
            rand(rng, (N, C) + tuple(osz), dtype))


def torch_grads(case, x, ker, gy):
    """gx, gk by torch autograd of the official formulation (unfold, multiply, sum), float64."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    N, C, G, H, W, K = case[:6]
    st, dl, p0, p1, osz = geometry(case)
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    kt = torch.from_numpy(ker.astype(np.float64)).requires_grad_()
    u = F.unfold(F.pad(xt, (p0[1], p1[1], p0[0], p1[0])), K, dilation=dl, stride=st)
    y = (kt.unsqueeze(2) * u.view(N, G, C // G, K * K, *osz)).sum(3).view(N, C, *osz)
    y.backward(torch.from_numpy(gy.astype(np.float64)))
    return xt.grad.numpy(), kt.grad.numpy()


def ours(case, x, ker, gy):
    K, s, d, pad = case[5:]
    return (gi(x.shape, ker, gy, K, s, pad, d), gkf(x, gy, K, ker.shape[1], s, pad, d))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_against_torch_autograd(case, dtype, isa, rng):
    x, ker, gy = arrays(case, dtype, rng)
    gx_ref, gk_ref = torch_grads(case, x, ker, gy)
    gx, gk = ours(case, x, ker, gy)
    assert_close(gx, gx_ref, dtype, what="input gradient")
    assert_close(gk, gk_ref, dtype, what="kernel gradient")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_adjoint_identities(case, isa, rng):
    """y = involution2d(x, k) is linear in x and in k: <y, gy> = <x, gx> = <k, gk>."""
    x, ker, gy = arrays(case, np.float64, rng)
    K, s, d, pad = case[5:]
    y = fastconv.involution2d(x, ker, K, s, pad, d)
    gx, gk = ours(case, x, ker, gy)
    lhs = float((y * gy).sum())
    scale = float(np.abs(y).sum() * np.abs(gy).max()) + 1e-300
    assert abs(lhs - float((x * gx).sum())) <= 1e-12 * scale
    assert abs(lhs - float((ker * gk).sum())) <= 1e-12 * scale


@pytest.mark.parametrize("case", CASES[:4] + CASES[6:8], ids=IDS[:4] + IDS[6:8])
def test_channels_last(case, isa, rng):
    x, ker, gy = arrays(case, np.float32, rng)
    K, s, d, pad = case[5:]
    gx, gk = ours(case, x, ker, gy)
    xl, gyl = x.transpose(0, 2, 3, 1).copy(), gy.transpose(0, 2, 3, 1).copy()
    kl = ker.transpose(0, 3, 4, 1, 2).copy()
    gxl = gi(xl.shape, kl, gyl, K, s, pad, d, layout="NHWC")
    gkl = gkf(xl, gyl, K, ker.shape[1], s, pad, d, layout="NHWC")
    np.testing.assert_array_equal(gxl, gx.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(gkl, gk.transpose(0, 3, 4, 1, 2))


@pytest.mark.parametrize("case", [CASES[1], CASES[5], CASES[12]], ids=[IDS[1], IDS[5], IDS[12]])
def test_same_bits_for_any_thread_count(case, isa, rng, restore_threads):
    x, ker, gy = arrays(case, np.float32, rng)
    fastconv.set_num_threads(1)
    one = ours(case, x, ker, gy)
    fastconv.set_num_threads(2)
    two = ours(case, x, ker, gy)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_nonfinite_masks(isa, rng):
    """A NaN in x or the kernel reaches exactly the gradients torch's does."""
    case = CASES[3]
    x, ker, gy = arrays(case, np.float64, rng)
    x[0, 5, 7, 4] = np.nan
    ker[0, 1, 4, 3, 2] = np.inf
    gx_ref, gk_ref = torch_grads(case, x, ker, gy)
    gx, gk = ours(case, x, ker, gy)
    for a, r in ((gx, gx_ref), (gk, gk_ref)):
        np.testing.assert_array_equal(~np.isfinite(a), ~np.isfinite(r))
        m = np.isfinite(r)
        assert_close(np.where(m, a, 0), np.where(m, r, 0), np.float64)


def test_noncontiguous_and_array_like(rng):
    case = CASES[0]
    x, ker, gy = arrays(case, np.float64, rng)
    gx, gk = ours(case, x, ker, gy)
    np.testing.assert_array_equal(gi(list(x.shape), np.asfortranarray(ker), gy[..., ::-1][..., ::-1], 3), gx)
    np.testing.assert_array_equal(gkf(x.tolist(), gy, 3, 1), gk)


def test_empty():
    assert gi((0, 4, 5, 5), np.ones((0, 1, 9, 5, 5)), np.ones((0, 4, 5, 5)), 3).shape == (0, 4, 5, 5)
    assert gkf(np.ones((1, 0, 5, 5)), np.ones((1, 0, 5, 5)), 3, 1).shape == (1, 1, 9, 5, 5)
    assert not gkf(np.ones((1, 0, 5, 5)), np.ones((1, 0, 5, 5)), 3, 1).any()


def test_bad_arguments():
    x, ker, gy = np.ones((1, 8, 6, 6)), np.ones((1, 2, 9, 6, 6)), np.ones((1, 8, 6, 6))
    with pytest.raises(TypeError, match="grad_output"):
        gi(x.shape, ker, gy.astype(np.float32), 3)
    with pytest.raises(TypeError, match="kernel"):
        gi(x.shape, ker.astype(np.int64), gy, 3)
    with pytest.raises(TypeError, match="input_size"):
        gi(5, ker, gy, 3)
    with pytest.raises(ValueError, match="input_size"):
        gi((8, 6, 6), ker, gy, 3)
    with pytest.raises(ValueError, match="kernel must have shape"):
        gi(x.shape, np.ones((1, 2, 9, 5, 6)), gy, 3)
    with pytest.raises(ValueError, match="G=3"):
        gi(x.shape, np.ones((1, 3, 9, 6, 6)), gy, 3)
    with pytest.raises(ValueError, match="grad_output must have shape"):
        gi(x.shape, ker, np.ones((1, 8, 3, 3)), 3)
    with pytest.raises(ValueError, match="kernel_size"):
        gi(x.shape, ker, gy, 0)
    with pytest.raises(ValueError, match="stride"):
        gkf(x, gy, 3, 2, stride=0)
    with pytest.raises(ValueError, match="dilation"):
        gkf(x, gy, 3, 2, dilation=(1, 2, 3))
    with pytest.raises(ValueError, match="padding"):
        gkf(x, gy, 3, 2, padding="bad")
    with pytest.raises(ValueError, match="groups=3"):
        gkf(x, gy, 3, 3)
    with pytest.raises(ValueError, match="groups"):
        gkf(x, gy, 3, 0)
    with pytest.raises(ValueError, match="input must have shape"):
        gkf(x[0], gy, 3, 2)
    with pytest.raises(ValueError, match="grad_output must have shape"):
        gkf(x, gy[:, :, :5], 3, 2)
    with pytest.raises(ValueError, match="kernel_size"):
        gkf(x, gy, 9, 2, padding=0)
    with pytest.raises(TypeError, match="input"):
        gkf(x.astype(np.float32), gy, 3, 2)
    with pytest.raises(ValueError, match="layout"):
        gkf(x, gy, 3, 2, layout="NCDHWX")


# ---------------------------------------------------------------- the module

def module(C, K, s, gc, lay, rng):
    Cr = C // 4
    sd = fastconv.Involution2d(C, K, s, gc, seed=3).state_dict()
    sd["conv1.bn.weight"] = rng.uniform(0.5, 1.5, Cr)
    sd["conv1.bn.bias"] = rng.standard_normal(Cr)
    sd["conv1.bn.running_mean"] = rng.standard_normal(Cr) * 0.1
    sd["conv1.bn.running_var"] = rng.uniform(0.5, 2, Cr)
    return sd, fastconv.Involution2d.from_state_dict(sd, stride=s, group_channels=gc, layout=lay)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("lay", [None, "NHWC"])
@pytest.mark.parametrize("C,K,s,gc,H", [(32, 3, 1, 8, 9), (32, 7, 2, 16, 14), (48, 5, 3, 16, 9),
                                        (16, 1, 1, 16, 5)])
def test_module_backward_vs_torch_official(C, K, s, gc, H, lay, dtype, isa, rng):
    torch = pytest.importorskip("torch")
    from torch_official import official_involution
    sd, inv = module(C, K, s, gc, lay, rng)
    m = official_involution(sd, C, K, s, gc)
    x = rand(rng, (2, C, H, H), dtype)
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    y = m(xt)
    gy = rand(rng, tuple(y.shape), dtype)
    y.backward(torch.from_numpy(gy.astype(np.float64)))
    if lay:
        gx, grads = inv.backward(x.transpose(0, 2, 3, 1), gy.transpose(0, 2, 3, 1))
        gx = gx.transpose(0, 3, 1, 2)
    else:
        gx, grads = inv.backward(x, gy)
    assert_close(gx, xt.grad.numpy(), dtype, what="grad_input")
    params = dict(m.named_parameters())
    assert set(grads) == {"conv1.conv.weight", "conv1.bn.weight", "conv1.bn.bias",
                          "conv2.conv.weight", "conv2.conv.bias"}
    for k, v in grads.items():
        assert_close(v, params[k].grad.numpy(), dtype, what=k)


def test_module_backward_bad_arguments(rng):
    inv = fastconv.Involution2d(16, 3, 1, 8, seed=0)
    x = np.ones((1, 16, 6, 6))
    with pytest.raises(ValueError, match="grad_output"):
        inv.backward(x, np.ones((1, 16, 5, 6)))
    with pytest.raises(TypeError):
        inv.backward(x, np.ones((1, 16, 6, 6), np.float32))
    with pytest.raises(ValueError, match="x must have shape"):
        inv.backward(np.ones((1, 8, 6, 6)), np.ones((1, 8, 6, 6)))
