"""Implementations that the benchmark times: fastconv's own entry points and
every peer library that is installed.

Each implementation is an object with

* ``name`` (the column), ``is_peer`` (False for fastconv's own),
* ``available()`` -> ``(ok, reason)``: the import worked (an absent library is
  skipped, never an error),
* ``setup(threads)``: the library's thread count,
* ``version()``,
* ``build(case, data)`` -> :class:`Runnable` or ``None`` when the library has
  no way to do that case.  Everything that is not the call itself (sessions,
  layer objects, layout changes of the input) happens here, outside the timing.

``Runnable.run()`` does one call; ``Runnable.to_nchw(out)`` turns its result
into a NumPy array in the case's channels-first layout (for ``--check``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .cases import Case

__all__ = ["Runnable", "Impl", "IMPLS", "IMPL_NAMES", "PEER_NAMES", "get_impls"]


@dataclass
class Runnable:
    run: Callable[[], Any]
    to_nchw: Callable[[Any], np.ndarray] = np.asarray
    keep: Any = None        # objects that must stay alive while run() is used


class Impl:
    name = "?"
    module = ""             # what must import for the implementation to exist
    is_peer = True
    description = ""

    def __init__(self):
        self._mod = None
        self._reason = None

    def available(self) -> tuple[bool, str]:
        if self._mod is None and self._reason is None:
            try:
                self._mod = importlib.import_module(self.module)
            except Exception as e:          # ImportError, or a broken install
                self._reason = f"{type(e).__name__}: {e}"
        return self._mod is not None, self._reason or ""

    def version(self) -> str:
        return str(getattr(self._mod, "__version__", "?")) if self._mod else "absent"

    def setup(self, threads: int) -> None:
        pass

    def build(self, case: Case, data: dict) -> Runnable | None:
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


# ---------------------------------------------------------------- fastconv
def _fc_kwargs(case: Case) -> dict:
    return dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
                groups=case.groups)


class Fastconv(Impl):
    """The public functional API: conv{1,2,3}d, conv_transpose{1,2,3}d,
    involution2d, separable_conv2d; the Involution2d module for its cases."""
    name = "fastconv"
    module = "fastconv"
    is_peer = False
    description = "fastconv functional API (algorithm='auto')"

    def setup(self, threads):
        self._mod.set_num_threads(threads)

    def build(self, case, data):
        fc, x = self._mod, data["x"]
        if case.op == "conv":
            f = getattr(fc, f"conv{case.nd}d")
            w, b, kw = data["weight"], data["bias"], _fc_kwargs(case)
            return Runnable(lambda: f(x, w, b, **kw))
        if case.op == "conv_transpose":
            f = getattr(fc, f"conv_transpose{case.nd}d")
            w, b = data["weight"], data["bias"]
            kw = dict(stride=case.stride, padding=case.padding,
                      output_padding=case.output_padding, groups=case.groups,
                      dilation=case.dilation)
            return Runnable(lambda: f(x, w, b, **kw))
        if case.op == "involution":
            f, k = fc.involution2d, data["kernel"]
            K = case.kernel[0]
            return Runnable(lambda: f(x, k, K, stride=case.stride, padding=case.padding,
                                      dilation=case.dilation))
        if case.op == "involution_module":
            layer = fc.Involution2d.from_state_dict(
                data["state_dict"], stride=case.stride[0],
                group_channels=case.in_channels // case.groups)
            return Runnable(lambda: layer(x), keep=layer)
        if case.op == "separable":
            f, row, col = fc.separable_conv2d, data["row"], data["col"]
            return Runnable(lambda: f(x, row, col, stride=case.stride, padding=case.padding))
        return None


class FastconvLayer(Fastconv):
    """Layer objects (weights copied and packed once): Conv{1,2,3}d,
    ConvTranspose{1,2,3}d."""
    name = "fastconv-layer"
    description = "fastconv layer object, e.g. fastconv.Conv2d(w, b, ...)(x)"

    def build(self, case, data):
        fc, x = self._mod, data["x"]
        if case.op == "conv":
            layer = getattr(fc, f"Conv{case.nd}d")(data["weight"], data["bias"],
                                                   **_fc_kwargs(case))
        elif case.op == "conv_transpose":
            layer = getattr(fc, f"ConvTranspose{case.nd}d")(
                data["weight"], data["bias"], stride=case.stride, padding=case.padding,
                output_padding=case.output_padding, groups=case.groups,
                dilation=case.dilation)
        else:
            return None
        return Runnable(lambda: layer(x), keep=layer)


class FastconvOneThread(Fastconv):
    """The functional call on one thread whatever --threads says (run only when
    named in --impls): what a call with threads gains, on a quiet machine or
    under --load."""
    name = "fastconv-1t"
    description = "fastconv functional API on 1 thread"
    default = False

    def setup(self, threads):
        self._threads = threads
        self._mod.set_num_threads(threads)

    def build(self, case, data):
        r = super().build(case, data)
        if r is None:
            return None
        fc, f, threads = self._mod, r.run, self._threads

        def run():
            fc.set_num_threads(1)
            try:
                return f()
            finally:
                fc.set_num_threads(threads)
        r.run = run
        return r


class FastconvWinograd(Fastconv):
    """A layer object with algorithm="winograd" where it applies (3x3, stride 1,
    dilation 1): the filter transform is made once, as a network would."""
    name = "fastconv-winograd"
    description = "fastconv.Conv2d(w, b, ..., algorithm='winograd')(x)"

    def build(self, case, data):
        if not case.winograd_ok:
            return None
        layer = getattr(self._mod, f"Conv{case.nd}d")(data["weight"], data["bias"],
                                                      algorithm="winograd", **_fc_kwargs(case))
        x = data["x"]
        return Runnable(lambda: layer(x), keep=layer)


# ---------------------------------------------------------------- PyTorch
class Torch(Impl):
    name = "torch"
    module = "torch"
    description = ("torch.nn.functional (involution: the published unfold formulation, "
                   "the module as the official one in eval mode; separable: two depthwise "
                   "1-D convs)")

    def setup(self, threads):
        self._mod.set_num_threads(threads)

    def build(self, case, data):
        torch = self._mod
        F = torch.nn.functional
        x = torch.from_numpy(data["x"])
        out = lambda t: t.numpy()                            # noqa: E731
        if case.op in ("conv", "conv_transpose"):
            w = torch.from_numpy(data["weight"])
            b = None if data["bias"] is None else torch.from_numpy(data["bias"])
            if case.op == "conv":
                f = getattr(F, f"conv{case.nd}d")
                call = lambda: f(x, w, b, case.stride, case.padding, case.dilation,  # noqa
                                 case.groups)
            else:
                f = getattr(F, f"conv_transpose{case.nd}d")
                call = lambda: f(x, w, b, case.stride, case.padding,  # noqa: E731
                                 case.output_padding, case.groups, case.dilation)
        elif case.op == "involution":
            k = torch.from_numpy(data["kernel"])
            call = lambda: involution_unfold_torch(x, k, case.kernel[0], case.stride,  # noqa
                                                   case.padding, case.dilation)
        elif case.op == "involution_module":
            m = involution_module_torch(data["state_dict"], case.in_channels, case.kernel[0],
                                        case.stride[0], case.in_channels // case.groups)
            call = lambda: m(x)                                  # noqa: E731
        elif case.op == "separable":
            C = case.in_channels
            row = torch.from_numpy(data["row"]).reshape(1, 1, 1, -1).expand(C, 1, 1, -1)
            col = torch.from_numpy(data["col"]).reshape(1, 1, -1, 1).expand(C, 1, -1, 1)
            row, col = row.contiguous(), col.contiguous()
            ph, pw = case.padding

            def call():
                t = F.conv2d(x, row, None, 1, (0, pw), 1, C)
                return F.conv2d(t, col, None, 1, (ph, 0), 1, C)
        else:
            return None

        def run():
            with torch.inference_mode():
                return call()
        return Runnable(run, out)


def involution_unfold_torch(x, kernel, K, stride, padding, dilation):
    """The official involution forward (Li et al.): unfold, view, multiply by the
    generated kernel, sum over the K*K taps."""
    import torch.nn.functional as F
    N, C, H, W = x.shape
    G, Ho, Wo = kernel.shape[1], kernel.shape[3], kernel.shape[4]
    u = F.unfold(x, K, dilation=dilation, padding=padding, stride=stride)
    u = u.view(N, G, C // G, K * K, Ho, Wo)
    return (kernel.unsqueeze(2) * u).sum(dim=3).view(N, C, Ho, Wo)


def involution_module_torch(state_dict, channels, K, stride, group_channels, reduction=4):
    """The official involution module (Li et al.) in eval mode, in the dtype of
    its weights: avg pool by the stride, conv 1x1 + BatchNorm + ReLU, conv 1x1,
    then the unfold formulation.  Loaded from the official state-dict names."""
    import torch
    nn = torch.nn
    c, cr, g = channels, channels // reduction, channels // group_channels
    pool = nn.AvgPool2d(stride, stride) if stride > 1 else nn.Identity()
    gen = nn.Sequential(nn.Conv2d(c, cr, 1, bias=False), nn.BatchNorm2d(cr), nn.ReLU(),
                        nn.Conv2d(cr, K * K * g, 1))
    names = ("0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
             "3.weight", "3.bias")
    keys = ("conv1.conv.weight", "conv1.bn.weight", "conv1.bn.bias", "conv1.bn.running_mean",
            "conv1.bn.running_var", "conv2.conv.weight", "conv2.conv.bias")
    dtype = torch.from_numpy(np.asarray(state_dict[keys[0]])).dtype
    gen = gen.to(dtype).eval()
    gen.load_state_dict({n: torch.from_numpy(np.asarray(state_dict[k]))
                         for n, k in zip(names, keys)}, strict=False)
    unfold = nn.Unfold(K, 1, (K - 1) // 2, stride)

    def forward(x):
        with torch.inference_mode():
            w = gen(pool(x))
            b, _, h, wd = w.shape
            w = w.view(b, g, K * K, h, wd).unsqueeze(2)
            u = unfold(x).view(b, g, group_channels, K * K, h, wd)
            return (w * u).sum(dim=3).view(b, c, h, wd)
    return forward


# ---------------------------------------------------------------- ONNX Runtime
class OnnxRuntime(Impl):
    name = "onnxruntime"
    module = "onnxruntime"
    description = ("ONNX Runtime CPU: one InferenceSession per layer (Conv / ConvTranspose "
                   "node, weights as initializers)")
    opset = 17
    ir_version = 8

    def available(self):
        ok, why = super().available()
        if ok:
            try:
                import onnx  # noqa: F401  (the graphs are built with onnx.helper)
            except Exception as e:
                self._mod, self._reason = None, f"onnx: {type(e).__name__}: {e}"
                return False, self._reason
        return ok, why

    def setup(self, threads):
        self.threads = threads

    def _session(self, nodes, x, initializers, out_shape):
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        ort = self._mod
        elem = TensorProto.FLOAT if x.dtype == np.float32 else TensorProto.DOUBLE
        graph = helper.make_graph(
            nodes, "fastconv_bench",
            [helper.make_tensor_value_info("x", elem, list(x.shape))],
            [helper.make_tensor_value_info("y", elem, list(out_shape))],
            initializer=[numpy_helper.from_array(np.ascontiguousarray(a), n)
                         for n, a in initializers.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = self.ir_version
        onnx.checker.check_model(model)
        so = ort.SessionOptions()
        so.intra_op_num_threads = getattr(self, "threads", 1)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        return ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])

    def build(self, case, data):
        from onnx import helper
        x = data["x"]
        if case.op in ("conv", "conv_transpose"):
            inits = {"w": data["weight"]}
            if data["bias"] is not None:
                inits["b"] = data["bias"]
            attrs = dict(kernel_shape=list(case.kernel), strides=list(case.stride),
                         pads=list(case.padding) * 2, dilations=list(case.dilation),
                         group=case.groups)
            if case.op == "conv_transpose":
                attrs["output_padding"] = list(case.output_padding)
            node = helper.make_node("Conv" if case.op == "conv" else "ConvTranspose",
                                    ["x"] + list(inits), ["y"], **attrs)
            nodes = [node]
        elif case.op == "separable":
            C = case.in_channels
            (kh, kw), (ph, pw) = case.kernel, case.padding
            inits = {"row": np.broadcast_to(data["row"].reshape(1, 1, 1, kw), (C, 1, 1, kw)),
                     "col": np.broadcast_to(data["col"].reshape(1, 1, kh, 1), (C, 1, kh, 1))}
            nodes = [helper.make_node("Conv", ["x", "row"], ["t"], kernel_shape=[1, kw],
                                      pads=[0, pw, 0, pw], group=C),
                     helper.make_node("Conv", ["t", "col"], ["y"], kernel_shape=[kh, 1],
                                      pads=[ph, 0, ph, 0], group=C)]
        else:
            return None       # involution has no ONNX operator
        sess = self._session(nodes, x, inits, case.output_shape(x.shape[0]))
        feed = {"x": x}
        return Runnable(lambda: sess.run(None, feed)[0], keep=sess)


# ---------------------------------------------------------------- SciPy
class Scipy(Impl):
    name = "scipy"
    module = "scipy.ndimage"
    description = "scipy.ndimage.correlate1d per axis (separable filters only; one thread)"

    def version(self):
        import scipy
        return scipy.__version__

    def build(self, case, data):
        if case.op != "separable" or case.stride != (1, 1):
            return None
        (kh, kw), (ph, pw) = case.kernel, case.padding
        if (ph, pw) != ((kh - 1) // 2, (kw - 1) // 2) or kh % 2 == 0 or kw % 2 == 0:
            return None       # correlate1d keeps the size: only centred odd kernels
        nd, x, row, col = self._mod, data["x"], data["row"], data["col"]

        def run():
            t = nd.correlate1d(x, row, axis=-1, mode="constant", cval=0.0)
            return nd.correlate1d(t, col, axis=-2, mode="constant", cval=0.0)
        return Runnable(run)


# ---------------------------------------------------------------- OpenCV
class OpenCV(Impl):
    name = "opencv"
    module = "cv2"
    description = "cv2.sepFilter2D on HWC images (separable filters only)"

    def setup(self, threads):
        self._mod.setNumThreads(threads)

    def build(self, case, data):
        if case.op != "separable" or case.stride != (1, 1):
            return None
        (kh, kw), (ph, pw) = case.kernel, case.padding
        if (ph, pw) != ((kh - 1) // 2, (kw - 1) // 2) or kh % 2 == 0 or kw % 2 == 0:
            return None
        cv2, x = self._mod, data["x"]
        if x.shape[1] > 4:
            return None       # cv2 images have at most 4 channels
        imgs = [np.ascontiguousarray(xi.transpose(1, 2, 0)) for xi in x]   # HWC, untimed
        row, col = data["row"], data["col"]
        depth = cv2.CV_32F if x.dtype == np.float32 else cv2.CV_64F

        def run():
            return [cv2.sepFilter2D(im, depth, row, col, borderType=cv2.BORDER_CONSTANT)
                    for im in imgs]

        def to_nchw(outs):
            return np.stack([(o if o.ndim == 3 else o[..., None]).transpose(2, 0, 1)
                             for o in outs])
        return Runnable(run, to_nchw)


# ---------------------------------------------------------------- registry
IMPLS = [Fastconv, FastconvLayer, FastconvOneThread, FastconvWinograd, Torch, OnnxRuntime, Scipy, OpenCV]
IMPL_NAMES = [c.name for c in IMPLS]
PEER_NAMES = [c.name for c in IMPLS if c.is_peer]


def get_impls(names=None) -> list[Impl]:
    """Fresh implementation objects, in column order (all, or those named)."""
    if names is None:
        return [c() for c in IMPLS if getattr(c, "default", True)]
    unknown = set(names) - set(IMPL_NAMES)
    if unknown:
        raise ValueError(f"unknown implementation(s) {sorted(unknown)}; "
                         f"choose from {IMPL_NAMES}")
    return [c() for c in IMPLS if c.name in names]
