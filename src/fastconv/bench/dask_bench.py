"""``python -m fastconv bench --dask``: fastconv.dask against dask-image on the
same Dask arrays and chunking, and the Dask path's overhead over the in-memory call.

Cases (issue 29): a 15-tap Gaussian (sigma 2) as a separable filter on an
8192 x 8192 float32 image in 1024 x 1024 chunks (dask-image: ``gaussian_filter``,
SciPy per chunk); a 3 x 3 x 3 filter on a 256^3 volume in 64^3 chunks
(dask-image: ``correlate``); a 64 -> 64 3 x 3 layer on a 1 x 64 x 1024 x 1024
image in 256 x 256 chunks applied per chunk with ``map_overlap`` and PyTorch's
``conv2d``, as a user would (dask-image has no multi-channel layer; SciPy would
need 64 x 64 2-D correlations per chunk).

Everything runs in this process on Dask's threaded scheduler with ``threads``
workers (the same for every implementation; fastconv's and PyTorch's threads
per task: 1 each), the input persisted first; each implementation is timed in
its own block of repeated ``persist()`` calls (the result held in memory, not
gathered), medians. The overhead: the in-memory fastconv call at ``threads``
threads on the same data against the Dask path, on the benchmark's chunks and
on a few large chunks.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import numpy as np

HEADER = ("| case | array, chunks | peer | peer s | fastconv.dask s | speed-up | in memory s | "
          "overhead | overhead, few chunks | max rel. diff |\n"
          "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def _median_time(fn: Callable[[], Any], seconds: float, min_runs: int = 3) -> tuple[float, list[float]]:
    fn()                                   # warm-up: plans, packing, thread pools
    times: list[float] = []
    end = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < end:
        t0 = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t0)
        del r
        if len(times) >= 50:
            break
    return statistics.median(times), times


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rms = float(np.sqrt(np.mean(b * b))) or 1.0
    return float(np.max(np.abs(a - b))) / rms


def _gaussian(sigma: float = 2.0, radius: int = 7) -> np.ndarray:
    t = np.arange(-radius, radius + 1)
    g = np.exp(-t * t / (2 * sigma * sigma))
    return (g / g.sum()).astype(np.float32)


def cases(quick: bool = False, scale: int = 1) -> list[dict[str, Any]]:
    """The three comparisons; quick: every side and chunk 4x smaller; scale > 1
    divides them further (the smoke test)."""
    d = (4 if quick else 1) * scale
    return [
        dict(name="gaussian15", shape=(8192 // d, 8192 // d), chunks=1024 // d),
        dict(name="volume3x3x3", shape=(256 // d,) * 3, chunks=64 // d),
        dict(name="layer64", shape=(1, 64, 1024 // d, 1024 // d), chunks=(1, 64, 256 // d, 256 // d)),
    ]


def _impls(case: dict[str, Any]) -> dict[str, Any]:
    """A case's peer (its name and a function of the Dask array), fastconv.dask's
    call and the in-memory call on an ndarray."""
    import dask.array as da

    import fastconv as fc
    import fastconv.dask as fcd
    name = case["name"]
    if name == "gaussian15":
        import dask_image.ndfilters as ndf
        g = _gaussian()
        # fastconv's reflect is SciPy's "mirror" (the edge not repeated); 7 = int(3.5 * 2 + 0.5)
        peer = lambda a: ndf.gaussian_filter(a, 2.0, mode="mirror", truncate=3.5)  # noqa: E731
        fcd_fn = lambda a: fcd.separable_conv2d(a[None], g, g, padding="same",  # noqa: E731
                                                padding_mode="reflect")[0]
        mem = lambda a: fc.separable_conv2d(a[None], g, g, padding="same",  # noqa: E731
                                            padding_mode="reflect")[0]
        return dict(peer_name="dask-image gaussian_filter (SciPy)", peer=peer, fcd=fcd_fn, mem=mem)
    if name == "volume3x3x3":
        import dask_image.ndfilters as ndf
        w = np.random.default_rng(1).random((3, 3, 3)).astype(np.float32) / 27
        peer = lambda a: ndf.correlate(a, w, mode="constant")  # noqa: E731
        fcd_fn = lambda a: fcd.conv3d(a[None, None], w[None, None], padding=1)[0, 0]  # noqa: E731
        mem = lambda a: fc.conv3d(a[None, None], w[None, None], padding=1)[0, 0]  # noqa: E731
        return dict(peer_name="dask-image correlate (SciPy)", peer=peer, fcd=fcd_fn, mem=mem)
    import torch
    W = (np.random.default_rng(2).standard_normal((64, 64, 3, 3)) / 24).astype(np.float32)
    Wt = torch.from_numpy(W)

    def torch_block(b: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.nn.functional.conv2d(torch.from_numpy(b), Wt).numpy()

    layer = fc.Conv2d(W, padding=1)
    peer = lambda a: da.map_overlap(torch_block, a, depth={2: 1, 3: 1}, boundary=0,  # noqa: E731
                                    trim=False, dtype=np.float32,
                                    meta=np.empty((0,) * 4, np.float32))
    return dict(peer_name="map_overlap + torch conv2d", peer=peer,
                fcd=lambda a: fcd.apply(layer, a), mem=layer)


def _coarse(x: Any, threads: int) -> Any:
    """x in 2 x threads chunks along its first spatial axis (whole otherwise)."""
    ax = 2 if x.ndim == 4 else 0
    n = x.shape[ax]
    step = -(-n // (2 * threads))
    return x.rechunk({a: (step if a == ax else -1) for a in range(x.ndim)})


def run(threads: int, seconds: float, quick: bool = False, scale: int = 1,
        progress: Callable[[str], None] | None = None,
        filter: str | None = None) -> list[dict[str, Any]]:
    import dask
    import dask.array as da
    import fastconv as fc
    try:
        import torch
        torch_threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover - the layer case is skipped
        torch = None
    before = fc.get_num_threads()
    rows = []
    try:
        words = [w.strip().lower() for w in (filter or "").split(",") if w.strip()]
        for case in cases(quick, scale):
            if words and not any(w in case["name"] for w in words):
                continue
            if case["name"] == "layer64" and torch is None:
                continue
            fc.set_num_threads(threads)
            with dask.config.set(scheduler="threads", num_workers=threads):
                rng = da.random.default_rng(0)
                x = rng.random(case["shape"], dtype=np.float32, chunks=case["chunks"]).persist()
                xc = _coarse(x, threads).persist()
                xn = x.compute()
                im = _impls(case)
                if torch is not None:
                    torch.set_num_threads(1)          # one per task, as fastconv's
                peer_s, _ = _median_time(lambda: im["peer"](x).persist(), seconds)
                fcd_s, _ = _median_time(lambda: im["fcd"](x).persist(), seconds)
                coarse_s, _ = _median_time(lambda: im["fcd"](xc).persist(), seconds)
                if torch is not None:
                    torch.set_num_threads(torch_threads)
                mem_s, _ = _median_time(lambda: im["mem"](xn), seconds)
                y = np.asarray(im["fcd"](x).compute())
                err = max(_rel(y, np.asarray(im["peer"](x).compute())), _rel(y, im["mem"](xn)))
            row = dict(case=case["name"], shape=list(case["shape"]), chunks=str(x.chunksize),
                       peer=im["peer_name"], peer_s=peer_s, fastconv_s=fcd_s,
                       speedup=peer_s / fcd_s, memory_s=mem_s, overhead=fcd_s / mem_s,
                       overhead_coarse=coarse_s / mem_s, coarse_chunks=str(xc.chunksize),
                       err=err, threads=threads)
            rows.append(row)
            if progress:
                progress(format_row(row))
    finally:
        fc.set_num_threads(before)
    return rows


def format_row(r: dict[str, Any]) -> str:
    shape = "x".join(map(str, r["shape"]))
    return (f"| {r['case']} | {shape}, {r['chunks']} | {r['peer']} | {r['peer_s']:.3f} | "
            f"{r['fastconv_s']:.3f} | {r['speedup']:.2f}x | {r['memory_s']:.3f} | "
            f"{r['overhead']:.2f}x | {r['overhead_coarse']:.2f}x {r['coarse_chunks']} | "
            f"{r['err']:.1e} |")
