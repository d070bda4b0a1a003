"""``python -m fastconv bench --backward``: the gradients' table.

For each layer of the benchmark list (convolutions, transposed convolutions,
involutions), the input gradient and the weight gradient together
(the kernel gradient for an involution):

* fastconv: ``fastconv.grad`` (``conv{n}d_input`` + ``conv{n}d_weight``,
  ``conv_transpose{n}d_input`` + ``_weight``, ``involution2d_input`` +
  ``involution2d_kernel``);
* PyTorch: its CPU backward kernel of the same convolution,
  ``torch.ops.aten.convolution_backward`` with the bias gradient off (what
  autograd runs for a convolution's backward, without the graph); for an
  involution, autograd's backward of the official ``unfold`` formulation on a
  graph built once (``retain_graph``).

Each implementation is timed in its own block of calls in this process, at the
same thread count, after a warm-up; a cell is the median (and the minimum) of
the calls in a time box.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from . import cases as _cases

OPS = ("conv", "conv_transpose", "involution")
# the default table: one layer of each kind the issue names (ResNet-50, C3D,
# DCGAN, MobileNetV2 depthwise, ResNeXt grouped, RedNet involution)
DEFAULT = ("r50_3x3_64", "r50_1x1_256_64", "r50_3x3_256", "r3d_128", "c3d_64_128", "gan_ct_512_256",
           "gan_ct_128_64", "mb2_dw_144", "mb2_dw_960", "cnx_dw7_96", "rnx_g32_128", "rnx_g32_512",
           "red_inv_64", "red_inv_256", "red_inv_128s2")

HEADER = ("| layer | kind | batch | threads | fastconv ms | PyTorch ms | fastconv / PyTorch | "
          "fastconv vs float64 |\n| --- | --- | --- | --- | --- | --- | --- | --- |")


def kind(case) -> str:
    if case.op == "involution":
        return "involution"
    if case.op == "conv_transpose":
        return "transposed"
    if case.groups == case.in_channels and case.groups > 1:
        return "depthwise"
    if case.groups > 1:
        return "grouped"
    return "3-D" if case.nd == 3 else "dense"


def select(filter: str | None, quick: bool):
    if filter:
        return [c for c in _cases.select(filter=filter) if c.op in OPS]
    names = DEFAULT[::3] if quick else DEFAULT
    return [_cases.get_case(n) for n in names]


def _time(fn, seconds: float, min_runs: int = 5):
    fn()
    fn()                                     # warm-up: plans, packings, pools
    runs: list[float] = []
    t_end = time.perf_counter() + seconds
    while len(runs) < min_runs or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
        if len(runs) >= 1000:
            break
    return statistics.median(runs) * 1e3, min(runs) * 1e3


def _problem(case, batch, seed=0):
    """Operands and the output gradient, float32, and fastconv's / torch's
    backward as closures returning (grad_input, grad_weight)."""
    import torch

    import fastconv as fc
    from fastconv import grad

    d = case.make_inputs(batch, np.float32, seed)
    x = d["x"]
    rng = np.random.default_rng(seed + 1)
    nd = case.nd
    if case.op == "involution":
        K, G = case.kernel[0], case.groups
        k = d["kernel"]
        s, pad = case.stride[0], (K - 1) // 2
        y = fc.involution2d(x, k, K, s)
        gy = rng.standard_normal(y.shape).astype(np.float32)

        def fast():
            return (grad.involution2d_input(x.shape, k, gy, K, s),
                    grad.involution2d_kernel(x, gy, K, G, s))

        tx = torch.from_numpy(x).requires_grad_()
        tk = torch.from_numpy(k).requires_grad_()
        N, C, H, W = x.shape
        Ho, Wo = y.shape[2:]
        unf = torch.nn.functional.unfold(tx, K, 1, pad, s).view(N, G, C // G, K * K, Ho, Wo)
        ty = (tk.view(N, G, K * K, Ho, Wo).unsqueeze(2) * unf).sum(dim=3).view(N, C, Ho, Wo)
        tg = torch.from_numpy(gy)

        def peer():
            return torch.autograd.grad(ty, (tx, tk), tg, retain_graph=True)

        def ref64():
            x64, k64 = torch.from_numpy(x.astype(np.float64)).requires_grad_(), \
                torch.from_numpy(k.astype(np.float64)).requires_grad_()
            u = torch.nn.functional.unfold(x64, K, 1, pad, s).view(N, G, C // G, K * K, Ho, Wo)
            y64 = (k64.view(N, G, K * K, Ho, Wo).unsqueeze(2) * u).sum(dim=3).view(N, C, Ho, Wo)
            return torch.autograd.grad(y64, (x64, k64), torch.from_numpy(gy.astype(np.float64)))
        return fast, peer, ref64

    w = d["weight"]
    transposed = case.op == "conv_transpose"
    fwd = getattr(fc, f"conv_transpose{nd}d" if transposed else f"conv{nd}d")
    if transposed:
        y = fwd(x, w, None, case.stride, case.padding, case.output_padding, case.groups, case.dilation)
    else:
        y = fwd(x, w, None, case.stride, case.padding, case.dilation, case.groups)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    args = (case.stride, case.padding, case.output_padding, case.groups, case.dilation) if transposed \
        else (case.stride, case.padding, case.dilation, case.groups)
    gin = getattr(grad, f"conv_transpose{nd}d_input" if transposed else f"conv{nd}d_input")
    gwt = getattr(grad, f"conv_transpose{nd}d_weight" if transposed else f"conv{nd}d_weight")

    def fast():
        return gin(x.shape, w, gy, *args), gwt(x, w.shape, gy, *args)

    def aten(gy_, x_, w_):
        return torch.ops.aten.convolution_backward(
            gy_, x_, w_, None, list(case.stride), list(case.padding), list(case.dilation), transposed,
            list(case.output_padding), case.groups, [True, True, False])[:2]
    tg, tx, tw = (torch.from_numpy(a) for a in (gy, x, w))

    def peer():
        return aten(tg, tx, tw)

    def ref64():
        return aten(*(torch.from_numpy(a.astype(np.float64)) for a in (gy, x, w)))
    return fast, peer, ref64


def _rel(a, ref):
    ref = np.asarray(ref, np.float64)
    rms = float(np.sqrt(np.mean(ref * ref))) or 1.0
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref))) / rms


def run(cases, threads, batch, seconds, progress=None):
    import torch

    import fastconv as fc
    rows = []
    prev_fc, prev_t = fc.get_num_threads(), torch.get_num_threads()
    try:
        fc.set_num_threads(threads)
        torch.set_num_threads(threads)
        for case in cases:
            fast, peer, ref64 = _problem(case, batch)
            ref = [r.numpy() for r in ref64()]
            err = max(_rel(a, r) for a, r in zip(fast(), ref))
            f_med, f_min = _time(fast, seconds)
            t_med, t_min = _time(peer, seconds)
            row = dict(layer=case.name, kind=kind(case), batch=batch, threads=threads,
                       fastconv_ms=f_med, fastconv_min_ms=f_min, torch_ms=t_med, torch_min_ms=t_min,
                       ratio=t_med / f_med, err=err)
            rows.append(row)
            if progress:
                progress(format_row(row))
    finally:
        fc.set_num_threads(prev_fc)
        torch.set_num_threads(prev_t)
    return rows


def format_row(r) -> str:
    return (f"| {r['layer']} | {r['kind']} | {r['batch']} | {r['threads']} | {r['fastconv_ms']:.2f} | "
            f"{r['torch_ms']:.2f} | {r['ratio']:.2f} | {r['err']:.1e} |")
