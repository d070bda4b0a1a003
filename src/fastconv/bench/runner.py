"""Timing: warm-up, then the median of repeated calls, each measurement
time-boxed; results per case and implementation; the ``--check`` comparison
with PyTorch and the Winograd accuracy figures."""
from __future__ import annotations

import gc
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .cases import Case
from .peers import Impl, Runnable

__all__ = ["Budget", "QUICK", "FULL", "Timing", "Cell", "CaseResult", "measure",
           "run_case", "run_benchmarks", "rel_err", "winograd_error", "Progress"]


@dataclass(frozen=True)
class Budget:
    """How long one measurement (one case x one implementation) may take.

    ``warmup`` untimed calls, then timed calls until at least ``min_repeats``
    and ``seconds`` have passed, or ``max_repeats``.  A call slower than the
    budget stops after fewer repeats: never more than about 3 x ``seconds``
    (plus the warm-up) per measurement.  Calls shorter than ``min_sample``
    are timed in loops of several calls.  The warm-up also lasts at least
    ``warm_seconds`` (when calls are short): another library's thread pool
    that has just run spins on the cores for a few milliseconds after its
    last call (OpenMP's and ONNX Runtime's both do), and the first calls of
    whichever runs next share the cores with it (measured: a 1.6 ms
    2-thread call right after an ONNX Runtime call took 3.6x its time after
    its own, back to 1.05x by the fifth call)."""
    warmup: int = 2
    min_repeats: int = 5
    max_repeats: int = 30
    seconds: float = 1.0
    min_sample: float = 1e-3
    warm_seconds: float = 0.02
    stat: str = "median"   # or "best": the fastest sample (steadier on a shared machine)

    def scaled(self, seconds: float | None = None, stat: str | None = None) -> "Budget":
        return replace(self, seconds=self.seconds if seconds is None else seconds,
                       stat=self.stat if stat is None else stat)


QUICK = Budget(warmup=1, min_repeats=3, max_repeats=20, seconds=0.2, min_sample=2e-3)
FULL = Budget(warmup=2, min_repeats=5, max_repeats=50, seconds=0.75, min_sample=5e-3)


@dataclass
class Timing:
    median: float
    best: float
    repeats: int           # timed samples
    inner: int             # calls per sample
    first: float           # the first (cold) call, untimed in the median
    spread: float = 0.0    # interquartile range of the samples / their median


def measure(fn, budget: Budget = FULL, *, keep_first: bool = False):
    """Time ``fn()``: returns ``(Timing, first_output or None)``."""
    perf = time.perf_counter
    t = perf()
    first_out = fn()
    t_first = perf() - t
    if not keep_first:
        first_out = None
    est = t_first
    warm_start, calls = t, 1
    while calls < budget.warmup or perf() - warm_start < budget.warm_seconds:
        if est > budget.seconds / 2:
            break
        t = perf()
        fn()
        est = min(est, perf() - t)
        calls += 1
    inner = 1
    if est < budget.min_sample:
        inner = int(min(1000, max(1, budget.min_sample / max(est, 1e-7))))
    times = []
    start = perf()
    while len(times) < budget.max_repeats:
        t = perf()
        for _ in range(inner):
            fn()
        times.append((perf() - t) / inner)
        elapsed = perf() - start
        if len(times) >= budget.min_repeats and elapsed >= budget.seconds:
            break
        if elapsed >= 3 * budget.seconds:
            break
    med = statistics.median(times)
    if len(times) >= 4:
        q = statistics.quantiles(times, n=4)
        spread = (q[2] - q[0]) / med if med > 0 else 0.0
    else:
        spread = (max(times) - min(times)) / med if med > 0 else 0.0
    return Timing(med, min(times), len(times), inner, t_first, spread), first_out


def rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    """max |a - ref| / rms(ref) (inf if the shapes differ)."""
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    if a.shape != ref.shape:
        return float("inf")
    rms = float(np.sqrt(np.mean(ref * ref))) if ref.size else 0.0
    d = float(np.max(np.abs(a - ref))) if ref.size else 0.0
    return d / rms if rms > 0 else d


@dataclass
class Cell:
    """One implementation on one case."""
    impl: str
    status: str                   # ok | unsupported | error | absent | skipped
    seconds: float | None = None  # time per call (median, or best with --stat best)
    gflops: float | None = None
    repeats: int = 0
    error: str = ""
    check: float | None = None    # rel err vs torch (with --check)
    spread: float | None = None   # interquartile range of the repeats / their median

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class CaseResult:
    case: Case
    batch: int
    flops: int
    cells: dict = field(default_factory=dict)        # impl name -> Cell
    winograd: dict | None = None                      # max_abs, rms, rel_max, ref
    peer_names: tuple = ()

    @property
    def best_peer(self) -> Cell | None:
        ok = [self.cells[n] for n in self.peer_names if n in self.cells and self.cells[n].ok]
        return max(ok, key=lambda c: c.gflops) if ok else None

    @property
    def ratio(self) -> float | None:
        """fastconv GFLOP/s / best peer GFLOP/s (> 1: fastconv is faster)."""
        fc, best = self.cells.get("fastconv"), self.best_peer
        if fc is None or not fc.ok or best is None:
            return None
        return fc.gflops / best.gflops

    def to_dict(self) -> dict:
        c = self.case
        best = self.best_peer
        return {
            "family": c.family, "name": c.name, "layer": c.layer, "op": c.op,
            "input_shape": list(c.input_shape(self.batch)),
            "output_shape": list(c.output_shape(self.batch)),
            "weight_shape": list(c.weight_shape), "kernel": list(c.kernel),
            "stride": list(c.stride), "padding": list(c.padding),
            "dilation": list(c.dilation), "groups": c.groups,
            "output_padding": list(c.output_padding), "bias": c.bias,
            "batch": self.batch, "flops": self.flops,
            "results": {n: asdict(cell) for n, cell in self.cells.items()},
            "best_peer": best.impl if best else None,
            "ratio_fastconv_to_best_peer": self.ratio,
            "winograd_error": self.winograd,
        }


class Progress:
    """tqdm when installed (and enabled), else one plain line per step on stderr."""

    def __init__(self, total: int, enabled: bool = True, desc: str = "bench"):
        self.n, self.total, self.enabled, self.bar = 0, total, enabled, None
        if enabled:
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, desc=desc, file=sys.stderr, unit="run",
                                dynamic_ncols=True, leave=False)
            except ImportError:
                pass

    def step(self, label: str, msg: str = ""):
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label[:40], refresh=False)
            self.bar.update(1)
        elif self.enabled:
            print(f"[{self.n}/{self.total}] {label} {msg}", file=sys.stderr, flush=True)

    def write(self, msg: str):
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        elif self.enabled:
            print(msg, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _short(e: BaseException) -> str:
    s = f"{type(e).__name__}: {e}".replace("\n", " ")
    return s if len(s) < 300 else s[:297] + "..."


def winograd_error(case: Case, data: dict) -> dict | None:
    """float32 Winograd vs a float64 reference (fastconv direct in float64; torch
    float64 if that fails): max abs and rms of the difference, and max abs
    relative to the reference's rms."""
    if not case.winograd_ok:
        return None
    import fastconv
    x, w, b = data["x"], data["weight"], data["bias"]
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups)
    y = fastconv.conv2d(x, w, b, algorithm="winograd", **kw)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    try:
        ref, src = fastconv.conv2d(x64, w64, b64, algorithm="direct", **kw), \
            "fastconv float64 direct"
    except Exception:
        import torch
        ref = torch.nn.functional.conv2d(
            torch.from_numpy(x64), torch.from_numpy(w64),
            None if b64 is None else torch.from_numpy(b64), case.stride, case.padding,
            case.dilation, case.groups).numpy()
        src = "torch float64"
    d = y.astype(np.float64) - ref
    rms_ref = float(np.sqrt(np.mean(ref * ref)))
    max_abs = float(np.max(np.abs(d)))
    return {"max_abs": max_abs, "rms": float(np.sqrt(np.mean(d * d))),
            "rel_max": max_abs / rms_ref if rms_ref else max_abs, "reference": src}


def run_case(case: Case, impls: list[Impl], *, batch: int = 1, budget: Budget = FULL,
             check: bool = False, winograd: bool = True, progress: Progress | None = None,
             seed: int = 0) -> CaseResult:
    """Time every available implementation on one case."""
    data = case.make_inputs(batch, seed=seed)
    flops = case.flops(batch)
    res = CaseResult(case, batch, flops, peer_names=tuple(i.name for i in impls if i.is_peer))
    # torch runs first so that --check has its output to compare with
    order = sorted(impls, key=lambda i: i.name != "torch") if check else impls
    ref = None
    for impl in order:
        label = f"{case.name}:{impl.name}"
        ok, why = impl.available()
        if not ok:
            res.cells[impl.name] = Cell(impl.name, "absent", error=why)
            if progress:
                progress.step(label, "absent")
            continue
        runnable: Runnable | None = None
        try:
            runnable = impl.build(case, data)
            if runnable is None:
                res.cells[impl.name] = Cell(impl.name, "unsupported")
            else:
                timing, out = measure(runnable.run, budget, keep_first=check)
                t = timing.best if budget.stat == "best" else timing.median
                cell = Cell(impl.name, "ok", t, flops / t / 1e9, timing.repeats,
                            spread=round(timing.spread, 4))
                if check:
                    out = runnable.to_nchw(out)
                    if impl.name == "torch":
                        ref = np.array(out, copy=True)
                    elif ref is not None:
                        cell.check = rel_err(out, ref)
                res.cells[impl.name] = cell
        except Exception as e:
            res.cells[impl.name] = Cell(impl.name, "error", error=_short(e))
        finally:
            del runnable
        if progress:
            c = res.cells[impl.name]
            progress.step(label, f"{c.gflops:.2f} GFLOP/s" if c.ok else c.status)
    if winograd and case.winograd_ok:
        fc = next((i for i in impls if not i.is_peer), None)
        if fc is not None and fc.available()[0]:
            try:
                res.winograd = winograd_error(case, data)
            except Exception as e:
                res.winograd = {"error": _short(e)}
    res.cells = {i.name: res.cells[i.name] for i in impls}     # column order
    del data
    gc.collect()
    return res


def run_benchmarks(cases: list[Case], impls: list[Impl], *, threads: int, batch: int = 1,
                   budget: Budget = FULL, check: bool = False, winograd: bool = True,
                   progress: bool = True, on_result=None) -> list[CaseResult]:
    """Set every available implementation to ``threads`` and time every case."""
    for impl in impls:
        if impl.available()[0]:
            try:
                impl.setup(threads)
            except Exception as e:       # a library that cannot take the setting
                print(f"warning: {impl.name}: cannot set threads: {_short(e)}",
                      file=sys.stderr)
    bar = Progress(len(cases) * len(impls), enabled=progress)
    results = []
    try:
        for case in cases:
            r = run_case(case, impls, batch=batch, budget=budget, check=check,
                         winograd=winograd, progress=bar)
            results.append(r)
            if on_result:
                on_result(r, bar)
    finally:
        bar.close()
    return results
