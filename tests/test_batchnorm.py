"""fastconv.fold_batchnorm: bn(conv(x)) as one convolution, plain and transposed."""
import numpy as np
import pytest

import fastconv

torch = pytest.importorskip("torch")


def _bn(C, rng):
    bn = torch.nn.BatchNorm2d(C, eps=1e-3).double().eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(rng.standard_normal(C)))
        bn.running_var.copy_(torch.from_numpy(rng.uniform(0.2, 3.0, C)))
        bn.weight.copy_(torch.from_numpy(rng.standard_normal(C)))
        bn.bias.copy_(torch.from_numpy(rng.standard_normal(C)))
    return bn


def _stats(bn):
    return (bn.running_mean.numpy(), bn.running_var.numpy(), bn.weight.detach().numpy(),
            bn.bias.detach().numpy(), bn.eps)


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("with_bias", [True, False])
def test_fold_conv(groups, with_bias):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((12, 6 // groups, 3, 3))
    b = rng.standard_normal(12) if with_bias else None
    x = rng.standard_normal((2, 6, 9, 9))
    bn = _bn(12, rng)
    want = bn(torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                         None if b is None else torch.from_numpy(b), padding=1,
                                         groups=groups)).detach().numpy()
    wf, bf = fastconv.fold_batchnorm(w, b, *_stats(bn)[:4], eps=bn.eps, groups=groups)
    got = fastconv.conv2d(x, wf, bf, padding=1, groups=groups)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # float32 in, float32 out
    wf32, bf32 = fastconv.fold_batchnorm(w.astype(np.float32), None if b is None else b.astype(np.float32),
                                         *_stats(bn)[:4], eps=bn.eps, groups=groups)
    assert wf32.dtype == np.float32 and bf32.dtype == np.float32


@pytest.mark.parametrize("groups", [1, 2])
def test_fold_transposed(groups):
    """A transposed convolution's output channels sit on the weight's second axis, per group."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 10 // groups, 4, 4))       # (C_in, C_out/groups, k, k)
    b = rng.standard_normal(10)
    x = rng.standard_normal((1, 8, 5, 5))
    bn = _bn(10, rng)
    want = bn(torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                                   stride=2, padding=1, groups=groups)).detach().numpy()
    wf, bf = fastconv.fold_batchnorm(w, b, *_stats(bn)[:4], eps=bn.eps, transposed=True, groups=groups)
    got = fastconv.conv_transpose2d(x, wf, bf, stride=2, padding=1, groups=groups)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_fold_defaults_and_errors():
    w = np.ones((4, 2, 1, 1), np.float32)
    mean, var = np.zeros(4, np.float32), np.ones(4, np.float32)
    wf, bf = fastconv.fold_batchnorm(w, None, mean, var, eps=0.0)
    assert np.array_equal(wf, w) and np.array_equal(bf, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="running_var"):
        fastconv.fold_batchnorm(w, None, mean, -np.ones(4, np.float32), eps=0.0)
    with pytest.raises(ValueError, match="shape"):
        fastconv.fold_batchnorm(w, None, np.zeros(3, np.float32), var)
    with pytest.raises(TypeError):
        fastconv.fold_batchnorm(w, None, None, var)
    with pytest.raises(ValueError, match="divisible"):
        fastconv.fold_batchnorm(w, None, mean, var, groups=3)
    with pytest.raises(ValueError, match="eps"):
        fastconv.fold_batchnorm(w, None, mean, var, eps=-1)
