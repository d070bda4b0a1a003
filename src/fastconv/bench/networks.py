"""Whole networks end to end: ``python -m fastconv bench --networks``.

Each network is written once, as a function over an *ops* object, and run
by two backends: one builds and runs it as a torch ``nn.Module`` (random
weights, eval mode: the PyTorch eager peer, and the graph exported to ONNX
Runtime), the other runs the same weights as fastconv layer objects, as a
user would write it: BatchNorm folded into the convolutions
(``fastconv.fold_batchnorm``), the activation and the residual add fused
into the convolution (``residual=``), pooling and glue in fastconv's C ops,
every layer writing into its own kept output (``reuse_output=True``).  No
weights are downloaded; torchvision is not needed.
"""
from __future__ import annotations

import io
import math
import time
import warnings

import numpy as np

NETWORKS = ("resnet50", "mobilenet_v2", "rednet50", "dcgan", "c3d")
INPUTS = {   # name -> input shape without the batch
    "resnet50": (3, 224, 224), "mobilenet_v2": (3, 224, 224), "rednet50": (3, 224, 224),
    "dcgan": (100, 1, 1), "c3d": (3, 16, 112, 112),
}
TITLES = {"resnet50": "ResNet-50", "mobilenet_v2": "MobileNetV2", "rednet50": "RedNet-50 (involution)",
          "dcgan": "DCGAN generator (64x64)", "c3d": "C3D, blocks 1-2 (16x112x112)"}


# ---------------------------------------------------------------- the networks

def _bottleneck_stages(ops, x, mid_conv):
    """ResNet-50's four stages of bottlenecks ([3, 4, 6, 3]); mid_conv builds
    the 3x3 (ResNet) or the involution (RedNet) of each block."""
    for si, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
        for bi in range(blocks):
            stride = 2 if bi == 0 and si > 0 else 1
            name = f"s{si}b{bi}"
            cout = width * 4
            idn = ops.conv(name + "down", x, cout, 1, stride) if bi == 0 else x
            h = ops.conv(name + "c1", x, width, 1, act="relu")
            h = mid_conv(ops, name, h, width, stride)
            x = ops.conv(name + "c3", h, cout, 1, act="relu", residual=idn)
    return x


def resnet50(ops, x):
    x = ops.conv("stem", x, 64, 7, 2, 3, act="relu")
    x = ops.maxpool(x, 3, 2, 1)
    x = _bottleneck_stages(ops, x, lambda o, n, h, w, s: o.conv(n + "c2", h, w, 3, s, 1, act="relu"))
    return ops.linear("fc", ops.gap(x), 1000)


def rednet50(ops, x):
    """RedNet-50 (Li et al., CVPR 2021): ResNet-50 whose bottleneck 3x3
    convolutions are 7x7 involutions (16 channels a group, reduction 4); the
    stem here a 7x7 convolution."""
    x = ops.conv("stem", x, 64, 7, 2, 3, act="relu")
    x = ops.maxpool(x, 3, 2, 1)
    x = _bottleneck_stages(ops, x, lambda o, n, h, w, s: o.involution(n + "inv", h, w, 7, s))
    return ops.linear("fc", ops.gap(x), 1000)


def mobilenet_v2(ops, x):
    x = ops.conv("stem", x, 32, 3, 2, 1, act="relu6")
    cin = 32
    setting = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
               (6, 160, 3, 2), (6, 320, 1, 1))
    i = 0
    for t, c, n, s in setting:
        for j in range(n):
            stride = s if j == 0 else 1
            h = x
            hid = cin * t
            if t != 1:
                h = ops.conv(f"b{i}e", h, hid, 1, act="relu6")
            h = ops.conv(f"b{i}d", h, hid, 3, stride, 1, groups=hid, act="relu6")
            res = x if stride == 1 and cin == c else None
            x = ops.conv(f"b{i}p", h, c, 1, residual=res)
            cin = c
            i += 1
    x = ops.conv("last", x, 1280, 1, act="relu6")
    return ops.linear("fc", ops.gap(x), 1000)


def dcgan(ops, z):
    x = ops.convt("g0", z, 512, 4, 1, 0, act="relu")
    x = ops.convt("g1", x, 256, 4, 2, 1, act="relu")
    x = ops.convt("g2", x, 128, 4, 2, 1, act="relu")
    x = ops.convt("g3", x, 64, 4, 2, 1, act="relu")
    return ops.convt("g4", x, 3, 4, 2, 1, act="tanh", bn=False)


def c3d(ops, x):
    x = ops.conv("conv1", x, 64, 3, 1, 1, act="relu", bn=False, bias=True)
    x = ops.maxpool(x, (1, 2, 2), (1, 2, 2))
    x = ops.conv("conv2", x, 128, 3, 1, 1, act="relu", bn=False, bias=True)
    return ops.maxpool(x, 2, 2)


BUILDERS = {"resnet50": resnet50, "mobilenet_v2": mobilenet_v2, "rednet50": rednet50,
            "dcgan": dcgan, "c3d": c3d}


# ---------------------------------------------------------------- torch backend

def torch_net(name, seed=0):
    """The network as a torch nn.Module (float32, eval, random weights and
    BatchNorm statistics)."""
    import torch
    nn = torch.nn
    F = torch.nn.functional
    acts = {None: lambda v: v, "relu": F.relu, "relu6": F.relu6, "tanh": torch.tanh}

    class Ops:
        def __init__(self, mods):
            self.m = mods

        def _get(self, key, make):
            if key not in self.m:
                self.m[key] = make()
            return self.m[key]

        def conv(self, key, x, cout, k, s=1, p=0, groups=1, act=None, residual=None, bn=True,
                 bias=False):
            nd = x.dim() - 2
            Conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[nd - 1]
            BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[nd - 1]
            conv = self._get(key, lambda: Conv(x.shape[1], cout, k, s, p, groups=groups, bias=bias))
            y = conv(x)
            if bn:
                y = self._get(key + "_bn", lambda: BN(cout))(y)
            if residual is not None:
                y = y + residual
            return acts[act](y)

        def convt(self, key, x, cout, k, s=1, p=0, act=None, bn=True):
            conv = self._get(key, lambda: nn.ConvTranspose2d(x.shape[1], cout, k, s, p, bias=not bn))
            y = conv(x)
            if bn:
                y = self._get(key + "_bn", lambda: nn.BatchNorm2d(cout))(y)
            return acts[act](y)

        def involution(self, key, x, C, K, s, gc=16, r=4):
            G = C // gc
            red = self._get(key + "_red", lambda: nn.Conv2d(C, C // r, 1, bias=False))
            rbn = self._get(key + "_rbn", lambda: nn.BatchNorm2d(C // r))
            span = self._get(key + "_span", lambda: nn.Conv2d(C // r, K * K * G, 1))
            bn = self._get(key + "_bn", lambda: nn.BatchNorm2d(C))
            h = F.avg_pool2d(x, s, s) if s > 1 else x
            w = span(F.relu(rbn(red(h))))
            n, _, hh, ww = w.shape
            w = w.view(n, G, 1, K * K, hh, ww)
            u = F.unfold(x, K, 1, (K - 1) // 2, s).view(n, G, gc, K * K, hh, ww)
            return F.relu(bn((w * u).sum(dim=3).view(n, C, hh, ww)))

        def maxpool(self, x, k, s, p=0):
            return (F.max_pool1d, F.max_pool2d, F.max_pool3d)[x.dim() - 3](x, k, s, p)

        def gap(self, x):
            return x.mean(dim=tuple(range(2, x.dim())))

        def linear(self, key, x, cout):
            return self._get(key, lambda: nn.Linear(x.shape[1], cout))(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.mods = nn.ModuleDict()
            self.ops = Ops(self.mods)

        def forward(self, x):
            return BUILDERS[name](self.ops, x)

    torch.manual_seed(seed)
    net = Net()
    with torch.no_grad():
        net(torch.zeros((1,) + INPUTS[name]))
        g = torch.Generator().manual_seed(seed)
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                # statistics of a trained network's scale; a positive scale
                # (the RedNet rewrite below relies on it)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)):
                fan = m.weight[0].numel() if not isinstance(m, nn.ConvTranspose2d) else \
                    m.weight.shape[0] * m.weight[0, 0].numel() / max(1, m.stride[0] ** 2)
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.01)
        for key, m in net.mods.items():
            if key.endswith("_span"):
                # the involution's kernels near an average over the 7x7 window
                # (random ones make the activations grow block after block)
                m.weight.mul_(0.02)
                m.bias.copy_(1.0 / 49 + torch.randn(m.bias.shape, generator=g) * 0.005)
    return net.eval()


# ---------------------------------------------------------------- fastconv backend

def _np(t):
    return t.detach().cpu().numpy().astype(np.float32)


class FastconvNet:
    """The torch network's weights as fastconv layers; call as net(x)."""

    def __init__(self, tnet, name, layout=None):
        self.name = name
        self.mods = tnet.mods
        self.layers = {}
        self.bufs = {}
        self.layout = layout            # None: channels first; "NHWC": channels last end to end
        self.cl = layout is not None

    def _out(self, key, shape):
        b = self.bufs.get(key)
        if b is None or b.shape != shape:
            b = self.bufs[key] = np.empty(shape, np.float32)
        return b

    def __call__(self, x):
        """x in the network's layout ((N, H, W, C) when channels last)."""
        return BUILDERS[self.name](self, x)

    def to_layout(self, x):
        """An (N, C, ...) input in the network's layout."""
        return np.ascontiguousarray(np.moveaxis(x, 1, -1)) if self.cl else x

    def from_layout(self, y):
        """The network's output channels first (as torch gives it)."""
        return np.moveaxis(y, -1, 1) if self.cl and y.ndim > 2 else y

    def _folded(self, key, bn, **kw):
        """The module's weights and bias, its BatchNorm (if any) folded in."""
        import fastconv
        m = self.mods[key]
        w, b = _np(m.weight), None if m.bias is None else _np(m.bias)
        if not bn:
            return w, b
        bnm = self.mods[key + "_bn"]
        return fastconv.fold_batchnorm(w, b, _np(bnm.running_mean), _np(bnm.running_var),
                                       _np(bnm.weight), _np(bnm.bias), bnm.eps, **kw)

    # ops
    def conv(self, key, x, cout, k, s=1, p=0, groups=1, act=None, residual=None, bn=True, bias=False):
        import fastconv
        lay = self.layers.get(key)
        if lay is None:
            w, b = self._folded(key, bn, groups=groups)
            Conv = (fastconv.Conv1d, fastconv.Conv2d, fastconv.Conv3d)[w.ndim - 3]
            lay = self.layers[key] = Conv(w, b, s, p, groups=groups, activation=act, reuse_output=True,
                                          layout=self.layout)
        return lay(x, residual=residual)

    def convt(self, key, x, cout, k, s=1, p=0, act=None, bn=True):
        import fastconv
        lay = self.layers.get(key)
        if lay is None:
            w, b = self._folded(key, bn, transposed=True)
            lay = self.layers[key] = fastconv.ConvTranspose2d(w, b, s, p, activation=act,
                                                              reuse_output=True, layout=self.layout)
        return lay(x)

    def maxpool(self, x, k, s, p=0):
        import fastconv
        return (fastconv.max_pool1d, fastconv.max_pool2d, fastconv.max_pool3d)[x.ndim - 3](
            x, k, s, p, layout=self.layout)

    def gap(self, x):
        import fastconv
        return fastconv.global_avg_pool(x, keepdims=False, layout=self.layout)

    def linear(self, key, x, cout):
        """A 1x1 Conv1d on (N, C, 1): fastconv's own threads (a NumPy matmul
        would wake OpenBLAS's, which then spin on the cores the next call's
        threads need: measured 2x slower convolutions after it)."""
        import fastconv
        lay = self.layers.get(key)
        if lay is None:
            m = self.mods[key]
            lay = self.layers[key] = fastconv.Conv1d(_np(m.weight)[:, :, None], _np(m.bias),
                                                     reuse_output=True)
        y = lay(x[:, :, None])
        return y[:, :, 0]


class _RedNetFastconv(FastconvNet):
    """RedNet: the involution from fastconv's ops.  The BatchNorm after it
    (scale a > 0, shift t) is split, once, on the weights: a goes into the
    block's c1 convolution that produces the involution's input (relu(a z) =
    a relu(z)), 1/a into the reducing 1x1 of the kernel branch, which reads
    that input; t and the ReLU are the involution's epilogue."""

    def conv(self, key, x, cout, k, s=1, p=0, groups=1, act=None, residual=None, bn=True, bias=False):
        import fastconv
        if key.endswith("c1") and key not in self.layers:
            inv = key[:-2] + "inv"
            a = self._bn_scale(inv)
            w, b = self._folded(key, True)
            w, b = w * a[:, None, None, None], b * a
            self.layers[key] = fastconv.Conv2d(w, b, s, p, groups=groups, activation=act,
                                               reuse_output=True, layout=self.layout)
        return super().conv(key, x, cout, k, s, p, groups, act, residual, bn, bias)

    def _bn_scale(self, inv):
        bn = self.mods[inv + "_bn"]
        return _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)

    def involution(self, key, x, C, K, s, gc=16, r=4):
        import fastconv
        st = self.layers.get(key)
        if st is None:
            bn = self.mods[key + "_bn"]
            a = self._bn_scale(key)
            t = _np(bn.bias) - _np(bn.running_mean) * a
            if not (a > 0).all():
                raise ValueError("the involution rewrite needs a positive BatchNorm scale")
            red, rbn, span = self.mods[key + "_red"], self.mods[key + "_rbn"], self.mods[key + "_span"]
            wr = _np(red.weight) / a[None, :, None, None]
            wr, br = fastconv.fold_batchnorm(wr, None, _np(rbn.running_mean), _np(rbn.running_var),
                                             _np(rbn.weight), _np(rbn.bias), rbn.eps)
            st = self.layers[key] = dict(
                red=fastconv.Conv2d(wr, br, activation="relu", reuse_output=True, layout=self.layout),
                span=fastconv.Conv2d(_np(span.weight), _np(span.bias), reuse_output=True,
                                     layout=self.layout),
                bias=t.astype(np.float32),
                G=C // gc)
        h = fastconv.avg_pool2d(x, s, s, layout=self.layout) if s > 1 else x
        h = st["red"](h)
        kern = st["span"](h)
        if self.cl:
            n, hh, ww, _ = kern.shape
            kern, shape = kern.reshape(n, hh, ww, st["G"], K * K), (n, hh, ww, C)
        else:
            n, _, hh, ww = kern.shape
            kern, shape = kern.reshape(n, st["G"], K * K, hh, ww), (n, C, hh, ww)
        return fastconv.involution2d(x, kern, K, s, bias=st["bias"], activation="relu",
                                     layout=self.layout, out=self._out(key, shape))


def fastconv_net(tnet, name, layout=None):
    """The network on fastconv layers; layout="NHWC": channels last end to end
    (input and every activation (N, H, W, C))."""
    return (_RedNetFastconv if name == "rednet50" else FastconvNet)(tnet, name, layout)


# ---------------------------------------------------------------- ONNX Runtime

def ort_session(tnet, name, threads):
    import onnxruntime as ort
    import torch
    f = io.BytesIO()
    x = torch.zeros((1,) + INPUTS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tnet, (x,), f, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(f.getvalue(), so, providers=["CPUExecutionProvider"])
    return lambda a: sess.run(None, {"x": a})[0]


# ---------------------------------------------------------------- timing

def _time(fn, seconds, min_runs=5, max_runs=200):
    """Median and minimum of fn() in ms: a pause (the previous block's
    library's threads stop spinning), 2 warm-up calls, then runs until
    seconds have passed (at least min_runs)."""
    time.sleep(0.3)
    fn()
    fn()
    t = []
    start = time.perf_counter()
    while len(t) < max_runs and (len(t) < min_runs or time.perf_counter() - start < seconds):
        a = time.perf_counter()
        fn()
        t.append(time.perf_counter() - a)
    return float(np.median(t)) * 1e3, float(np.min(t)) * 1e3, len(t)


def _rel(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(a - ref)) / (np.sqrt(np.mean(ref * ref)) or 1.0))


IMPLS = ("fastconv", "nhwc", "torch", "ort")


def run(names=NETWORKS, threads=(1, 2), batches=(1, 8), seconds=1.0, impls=IMPLS, progress=print):
    """Rows of {network, batch, threads, <impl>: (median, min, runs), agree}."""
    import torch

    import fastconv
    rows = []
    for name in names:
        tnet = torch_net(name)
        fnet = fastconv_net(tnet, name)
        fnhwc = fastconv_net(tnet, name, "NHWC")
        t64 = torch_net(name).double()   # the same weights (same seed) in float64
        rng = np.random.default_rng(1)
        sessions = {}
        for batch in batches:
            x = rng.standard_normal((batch,) + INPUTS[name]).astype(np.float32)
            with torch.no_grad():
                ref = t64(torch.from_numpy(x.astype(np.float64))).numpy()
            for nt in threads:
                row = {"network": name, "batch": batch, "threads": nt}
                fastconv.set_num_threads(nt)
                torch.set_num_threads(nt)
                y = np.array(fnet(x), copy=True)
                row["agree"] = _rel(y, ref)
                if "fastconv" in impls:
                    row["fastconv"] = _time(lambda: fnet(x), seconds)
                if "nhwc" in impls:
                    xl = fnhwc.to_layout(x)
                    row["agree_nhwc"] = _rel(fnhwc.from_layout(fnhwc(xl)), ref)
                    row["nhwc"] = _time(lambda: fnhwc(xl), seconds)
                if "torch" in impls:
                    xt = torch.from_numpy(x)
                    with torch.no_grad():
                        row["agree_torch"] = _rel(tnet(xt).numpy(), ref)
                        row["torch"] = _time(lambda: tnet(xt), seconds)
                if "ort" in impls and name != "rednet50":
                    try:
                        if nt not in sessions:
                            sessions[nt] = ort_session(tnet, name, nt)
                        s = sessions[nt]
                        row["agree_ort"] = _rel(s(x), ref)
                        row["ort"] = _time(lambda: s(x), seconds)
                    except Exception as e:  # noqa: BLE001 - reported in the table
                        row["ort_error"] = f"{type(e).__name__}: {e}"[:120]
                rows.append(row)
                if progress:
                    progress(format_row(row))
    return rows


def format_row(r):
    def cell(k):
        v = r.get(k)
        return f"{v[0]:.2f}" if v else "-"
    def ratio(a, b):
        a, b = r.get(a), r.get(b)
        return f"{a[0] / b[0]:.2f}x" if a and b else "-"
    peer = "ort" if r.get("ort") else "torch"   # RedNet: no ONNX Runtime (no involution op)
    agree = max(r.get("agree", 0.0), r.get("agree_nhwc", 0.0))
    return (f"| {TITLES[r['network']]} | {r['batch']} | {r['threads']} | {cell('fastconv')} | "
            f"{cell('nhwc')} | {cell('torch')} | {cell('ort')} | {ratio('torch', 'fastconv')} | "
            f"{ratio(peer, 'fastconv')} | {ratio(peer, 'nhwc')} | {agree:.1e} |")


HEADER = ("| network | batch | threads | fastconv NCHW ms | fastconv NHWC ms | PyTorch ms | "
          "ONNX Runtime ms | PyTorch / fastconv NCHW | peer / fastconv NCHW | peer / fastconv NHWC | "
          "fastconv vs float64 |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
