#!/usr/bin/env python
"""Time per training step (forward, backward, SGD step) of a RedNet-style and a
MobileNetV2-style network (tests/torch_nets.py) with every convolution and
involution computed by fastconv.torch, against the same network in pure
PyTorch (torch's convolutions; the official unfold formulation of involution).

Each model runs in its own block of steps (a few warm-up steps, then the timed
ones); the medians are printed.  Both libraries get the same thread count.

    python scripts/bench_train_step.py                       # batch 8, 64x64, float32, 2 threads
    python scripts/bench_train_step.py --size 56 --steps 30 --threads 1
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))      # torch_nets

import torch  # noqa: E402

import fastconv  # noqa: E402
import fastconv.torch as fct  # noqa: E402
import torch_nets  # noqa: E402

NETS = {
    # stem 3 -> 32 at stride 2, then involution bottlenecks (K=7, 8 channels per group)
    "rednet": dict(width=32, blocks=((64, 1), (64, 1), (128, 2), (128, 1)), K=7, group_channels=8),
    # stem 3 -> 16 at stride 2, inverted residuals (expansion 6 after the first), a 1x1 head
    "mobilenet_v2": dict(width=16, blocks=((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6)),
                         last=256),
}


def time_steps(model, data, warmup, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times, losses = [], []
    for i in range(warmup + steps):
        x, t = data[i % len(data)]
        t0 = time.perf_counter()
        losses.append(torch_nets.train_step(model, opt, x, t))
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times), losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--nets", nargs="+", choices=list(NETS), default=list(NETS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fastconv.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(a.batch, 3, a.size, a.size, generator=g, dtype=dtype),
             torch.randint(0, 10, (a.batch,), generator=g)) for _ in range(4)]
    has_inv_grad = callable(getattr(fastconv.grad, "involution2d_kernel", None))
    print(f"torch {torch.__version__}, fastconv {fastconv.__version__}; batch {a.batch}, "
          f"{a.size}x{a.size}, {a.dtype}, {a.threads} threads, median of {a.steps} steps "
          f"after {a.warmup} warm-up")
    print(f"{'network':<14}{'pure torch ms':>15}{'fastconv.torch ms':>19}{'torch/fastconv':>16}"
          f"{'first losses (torch, fastconv)':>36}")
    for name in a.nets:
        kind = "rednet" if name == "rednet" else "mobilenet"
        if kind == "rednet" and not has_inv_grad:
            print(f"{name:<14}  skipped: fastconv.grad.involution2d_kernel is not in this fastconv")
            continue
        ref, ours = torch_nets.pair(kind, fct, dtype, **NETS[name])
        t_ref, l_ref = time_steps(ref, data, a.warmup, a.steps)
        t_fc, l_fc = time_steps(ours, data, a.warmup, a.steps)
        print(f"{name:<14}{t_ref * 1e3:>15.1f}{t_fc * 1e3:>19.1f}{t_ref / t_fc:>16.2f}"
              f"{l_ref[0]:>18.5f}{l_fc[0]:>18.5f}")


if __name__ == "__main__":
    main()
