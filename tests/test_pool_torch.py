"""The six pooling ops on PyTorch's own OpInfo sample inputs (the samples
torch's test suite runs its pooling kernels on): every sample, float32 and
float64, values and indices as torch's.  Needs torch and expecttest (the test
extras); skipped without them."""
import warnings

import numpy as np
import pytest

import fastconv

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")

OPS = ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d")


def _samples(name, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_methods_invocations import op_db
    ops = [o for o in op_db if o.name == f"nn.functional.{name}"]
    assert ops, name
    return list(ops[0].sample_inputs("cpu", dtype, requires_grad=False))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=("f32", "f64"))
@pytest.mark.parametrize("name", OPS)
def test_opinfo_samples(name, dtype):
    samples = _samples(name, dtype)
    assert samples
    fn, ref = getattr(fastconv, name), getattr(torch.nn.functional, name)
    fails = []
    for s in samples:
        want = ref(s.input, *s.args, **s.kwargs)
        x = s.input.detach().numpy()
        try:
            got = fn(x, *s.args, **s.kwargs)
        except Exception as e:   # noqa: BLE001 - reported with the sample below
            fails.append(f"{tuple(s.input.shape)} {s.args} {s.kwargs}: {type(e).__name__}: {e}")
            continue
        if isinstance(want, tuple):
            (want, wi), (got, gi) = want, got
            if not np.array_equal(gi, wi.numpy()):
                fails.append(f"{tuple(s.input.shape)} {s.args} {s.kwargs}: indices differ")
        tol = 0 if name.startswith("max") else (1e-6 if dtype == torch.float32 else 1e-13)
        w = want.numpy()
        if got.shape != w.shape or not np.allclose(got, w, rtol=tol, atol=tol, equal_nan=True):
            fails.append(f"{tuple(s.input.shape)} {s.args} {s.kwargs}: values differ "
                         f"(shapes {got.shape} / {w.shape})")
    assert not fails, f"{len(fails)} of {len(samples)} samples fail; first: " + "\n".join(fails[:5])
