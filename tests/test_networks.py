"""The networks of ``bench --networks`` built from fastconv layers agree with
the same torch modules run in float64 (to 1e-4 of the output's rms), called
twice (the layers' kept outputs reused), batch 2.  Needs torch."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastconv.bench import networks as N  # noqa: E402

SMALL = {"c3d": (3, 8, 32, 32), "resnet50": (3, 64, 64), "rednet50": (3, 64, 64),
         "mobilenet_v2": (3, 64, 64), "dcgan": (100, 1, 1)}


@pytest.mark.parametrize("name", N.NETWORKS)
def test_network_agrees_with_torch_float64(name, monkeypatch):
    monkeypatch.setitem(N.INPUTS, name, SMALL[name])
    tnet = N.torch_net(name)
    fnet = N.fastconv_net(tnet, name)
    fnhwc = N.fastconv_net(tnet, name, "NHWC")
    t64 = N.torch_net(name).double()
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((2,) + SMALL[name]).astype(np.float32)
        with torch.no_grad():
            ref = t64(torch.from_numpy(x.astype(np.float64))).numpy()
        y = np.array(fnet(x), copy=True)
        assert y.shape == ref.shape
        err = N._rel(y, ref)
        assert err <= 1e-4, f"{name}: {err:.2e}"
        yl = np.array(fnhwc.from_layout(fnhwc(fnhwc.to_layout(x))), copy=True)
        assert yl.shape == ref.shape
        err = N._rel(yl, ref)
        assert err <= 1e-4, f"{name} channels last: {err:.2e}"
