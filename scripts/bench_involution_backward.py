"""The involution's backward (fastconv.grad.involution2d_input + _kernel)
against torch autograd of the official unfold formulation, on RedNet-like
layers (K=7, 16 channels per group), float32, one process, each timed in its
own block (medians); then the peak memory of the backward against the forward
call, each in a fresh subprocess: tracemalloc's peak (the arrays the call
makes) and the growth of the RSS high-water mark over the call (reset through
/proc/self/clear_refs; it counts the C scratch too), alone and with the
inputs the call reads (forward: x, kernel; backward: x, kernel, grad_output).

    PYTHONPATH=src python scripts/bench_involution_backward.py [--threads 2] [--reps 7] [--quick]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]
K, GC = 7, 16


def median_time(fn, reps):
    fn()                                   # warm-up (scratch, pages)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def arrays(N, C, H, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    G = C // GC
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    ker = rng.standard_normal((N, G, K * K, H, H)).astype(dtype)
    gy = rng.standard_normal((N, C, H, H)).astype(dtype)
    return x, ker, gy, G


def bench(threads, reps, batches):
    import torch
    import torch.nn.functional as F

    import fastconv as fc
    fc.set_num_threads(threads)
    torch.set_num_threads(threads)
    rows = []
    for N in batches:
        for C, H in LAYERS:
            x, ker, gy, G = arrays(N, C, H)

            def ours():
                fc.grad.involution2d_input(x.shape, ker, gy, K)
                fc.grad.involution2d_kernel(x, gy, K, G)

            xt = torch.from_numpy(x).requires_grad_()
            kt = torch.from_numpy(ker).requires_grad_()
            gt = torch.from_numpy(gy)
            u = F.unfold(xt, K, 1, (K - 1) // 2, 1).view(N, G, GC, K * K, H, H)
            y = (kt.unsqueeze(2) * u).sum(dim=3).view(N, C, H, H)

            def theirs():
                torch.autograd.grad(y, (xt, kt), gt, retain_graph=True)

            t_ours = median_time(ours, reps)
            t_torch = median_time(theirs, max(3, reps // 2) if N > 1 else reps)
            # the check that both compute the same thing
            gx_t, gk_t = torch.autograd.grad(y, (xt, kt), gt, retain_graph=True)
            err = max(float(np.abs(fc.grad.involution2d_input(x.shape, ker, gy, K) - gx_t.numpy()).max()
                            / np.sqrt((gx_t.numpy().astype(np.float64) ** 2).mean())),
                      float(np.abs(fc.grad.involution2d_kernel(x, gy, K, G) - gk_t.numpy()).max()
                            / np.sqrt((gk_t.numpy().astype(np.float64) ** 2).mean())))
            rows.append((N, C, H, t_ours, t_torch, err))
            print(f"N={N} C={C:3d}@{H:2d}: fastconv {t_ours * 1e3:8.2f} ms   torch unfold autograd "
                  f"{t_torch * 1e3:8.2f} ms   x{t_torch / t_ours:6.1f}   rel_err {err:.1e}", flush=True)
    return rows


_CHILD = r"""
import json, sys, tracemalloc
import numpy as np
sys.path[:0] = {path!r}
import fastconv as fc
fc.set_num_threads({threads})
N, C, H, K, GC, what = {N}, {C}, {H}, {K}, {GC}, {what!r}
rng = np.random.default_rng(0)
G = C // GC
x = rng.standard_normal((N, C, H, H), dtype=np.float32)
ker = rng.standard_normal((N, G, K * K, H, H), dtype=np.float32)
gy = rng.standard_normal((N, C, H, H), dtype=np.float32) if what == "backward" else None
inputs = x.nbytes + ker.nbytes + (gy.nbytes if gy is not None else 0)
def run():
    if what == "forward":
        return fc.involution2d(x, ker, K)
    return (fc.grad.involution2d_input(x.shape, ker, gy, K), fc.grad.involution2d_kernel(x, gy, K, G))
fc.involution2d(x[:1, :, :8, :8].copy(), ker[:1, :, :, :8, :8].copy(), K)   # import-time work done
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:   # Linux: the RSS high-water mark restarts here
    f.write("5")
base = status("VmRSS:")
tracemalloc.start()
r = run()
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss = status("VmHWM:") - base
print(json.dumps({{"traced": peak, "rss_kb": rss, "inputs": inputs}}))
"""


def memory(threads, N, C, H, what):
    src = _CHILD.format(path=sys.path[:1] if sys.path[0] else [], threads=threads, N=N, C=C, H=H,
                        K=K, GC=GC, what=what)
    out = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="batch 1 only")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--no-memory", action="store_true")
    a = ap.parse_args()
    import fastconv as fc
    print(f"fastconv {fc.__file__}, level {fc._core.get_isa()}, {a.threads} threads, float32, medians")
    batches = (1,) if a.quick else tuple(a.batches)
    rows = bench(a.threads, a.reps, batches)
    print("speed-up: min x%.1f, geometric mean x%.1f" % (
        min(r[4] / r[3] for r in rows),
        float(np.exp(np.mean([np.log(r[4] / r[3]) for r in rows])))))
    if a.no_memory:
        return
    print("\npeak memory, backward (input + kernel gradients) / forward call (the results included:"
          " gx is x's size, gk the kernel's):")
    for N in batches:
        for C, H in LAYERS:
            f = memory(a.threads, N, C, H, "forward")
            b = memory(a.threads, N, C, H, "backward")
            tb, tf = b["inputs"] + b["rss_kb"] * 1024, f["inputs"] + f["rss_kb"] * 1024
            print(f"N={N} C={C:3d}@{H:2d}: made by the call (tracemalloc) {b['traced'] / 2**20:7.2f} / "
                  f"{f['traced'] / 2**20:6.2f} MiB; RSS growth {b['rss_kb'] / 1024:7.2f} / {f['rss_kb'] / 1024:6.2f} MiB;"
                  f" with the inputs {tb / 2**20:7.2f} / {tf / 2**20:6.2f} MiB = {tb / tf:4.2f}x", flush=True)


if __name__ == "__main__":
    main()
