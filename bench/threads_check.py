"""Issue 24 check: fastconv beside other work.

Three measurements, each a median over repeated rounds (a user lives with the
median), printed as a table:

- many Python threads: K layer objects called from K Python threads at once,
  against the same calls one after another on one thread (total wall time);
- neighbours: back-to-back forwards of small networks built from fastconv
  layers (ResNet-50 bottlenecks, MobileNetV2 blocks) right after another
  library's pool ran (a NumPy matmul, an ONNX Runtime session, a PyTorch
  conv), against after nothing;
- fork: a child made by fork after a threaded call computes (time to answer).

    python bench/threads_check.py [--threads 2] [--rounds 40]
"""
from __future__ import annotations

import argparse
import os
import statistics as st
import threading
import time

import numpy as np

import fastconv as fc


def _layer(rng, ci, co, k, s=1, g=1):
    w = rng.standard_normal((co, ci // g, k, k), dtype=np.float32) * 0.05
    return fc.Conv2d(w, None, stride=s, padding=k // 2, groups=g)


def networks(rng):
    resnet = [_layer(rng, *a) for a in [(64, 64, 1), (64, 64, 3), (64, 256, 1), (256, 64, 1), (64, 64, 3),
                                        (64, 256, 1), (256, 128, 1), (128, 128, 3, 2), (128, 512, 1),
                                        (512, 128, 1), (128, 128, 3), (128, 512, 1)]]
    mobile = [_layer(rng, *a) for a in [(32, 32, 3, 1, 32), (32, 16, 1), (16, 96, 1), (96, 96, 3, 2, 96),
                                        (96, 24, 1), (24, 144, 1), (144, 144, 3, 1, 144), (144, 24, 1)]]
    return {"ResNet-50 blocks @56": (resnet, rng.standard_normal((1, 64, 56, 56), dtype=np.float32)),
            "MobileNetV2 blocks @112": (mobile, rng.standard_normal((1, 32, 112, 112), dtype=np.float32))}


def forward(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def neighbours(threads, rounds, rng):
    """What another library leaves on the cores: each entry runs it once."""
    out = {"nothing": lambda: None}
    a = rng.standard_normal((512, 512), dtype=np.float32)
    out["numpy matmul"] = lambda: a @ a
    x = rng.standard_normal((1, 64, 56, 56), dtype=np.float32)
    w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
    try:
        import torch
        torch.set_num_threads(threads)
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        out["torch conv"] = lambda: torch.nn.functional.conv2d(tx, tw, padding=1)
    except ImportError:
        pass
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
        g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "w")])
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
                                    .SerializeToString(), so, providers=["CPUExecutionProvider"])
        out["onnxruntime run"] = lambda: sess.run(None, {"x": x})
        del onnx
    except ImportError:
        pass
    return out


def many_threads(rounds, rng, calls=10):
    """Rounds of `calls` calls of 4 layer objects: one after another on this
    thread, or each layer on a Python thread of its own (threads started
    once; only the calls are timed)."""
    layers, inputs = [], []
    for i in range(4):
        c = 64 + 32 * i
        layers.append(_layer(rng, c, c, 3))
        inputs.append(rng.standard_normal((1, c, 28, 28), dtype=np.float32))

    def serial():
        for _ in range(calls):
            for layer, x in zip(layers, inputs):
                layer(x)

    go, done, stop = threading.Barrier(5), threading.Barrier(5), []

    def worker(i):
        while True:
            go.wait()
            if stop:
                return
            for _ in range(calls):
                layers[i](inputs[i])
            done.wait()

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for t in workers:
        t.start()

    def parallel():
        go.wait()
        done.wait()

    res = {}
    try:
        for name, f in (("4 layers, one after another", serial), ("4 layers, 4 Python threads at once", parallel)):
            for _ in range(3):
                f()
            ts = []
            for _ in range(rounds):
                t = time.perf_counter()
                f()
                ts.append((time.perf_counter() - t) / calls)
            res[name] = st.median(ts)
    finally:
        stop.append(1)
        go.wait()
    return res


def fork_time(x, w):
    if not hasattr(os, "fork"):
        return None
    from fastconv.bench.load import in_forked_child

    fc.conv2d(x, w, padding=1)
    t = time.perf_counter()
    ok = in_forked_child(lambda: np.isfinite(fc.conv2d(x, w, padding=1)).all(), timeout=30.0)
    return time.perf_counter() - t if ok else float("inf")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args(argv)
    fc.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"fastconv {fc.__version__}, {args.threads} threads, medians of {args.rounds} rounds, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for name, t in many_threads(args.rounds, rng).items():
        print(f"  {name:40s} {t * 1e3:8.2f} ms")
    nets = networks(rng)
    others = neighbours(args.threads, args.rounds, rng)
    for net, (layers, x) in nets.items():
        for _ in range(5):
            forward(layers, x)
        for other, f in others.items():
            ts = []
            for _ in range(args.rounds):
                f()
                t = time.perf_counter()
                forward(layers, x)
                ts.append(time.perf_counter() - t)
            print(f"  {net} after {other:18s} {st.median(ts) * 1e3:8.2f} ms")
    x = rng.standard_normal((1, 64, 56, 56), dtype=np.float32)
    w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
    ft = fork_time(x, w)
    if ft is not None:
        print("  fork after a threaded call: " + ("no answer in 30 s (hung)" if ft == float("inf") else
                                                  f"the child's answer in {ft * 1e3:.1f} ms"))
    try:
        print(f"  pool: {fc._core.pool_stats()}")
    except AttributeError:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
