"""``python -m fastconv``: the command line (``bench`` and ``config``)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from . import cases as _cases
from . import load as _load

BENCH_EPILOG = """\
examples:
  python -m fastconv bench --quick                  # about a minute: a subset, few repeats
  python -m fastconv bench --report report          # everything; report/report.md + ratios.png
  python -m fastconv bench --filter mobilenet --threads 1 --check
  python -m fastconv bench --impls fastconv,torch --json out.json
  python -m fastconv bench --list                   # the layers, with their GFLOP
  python -m fastconv bench --networks               # whole networks end to end, 1 and 2 threads,
                                                    # batch 1 and 8 (--filter resnet, --threads, --batch)
  python -m fastconv bench --backward               # the gradients against PyTorch's backward
  python -m fastconv bench --dask                   # fastconv.dask against dask-image, and its
                                                    # overhead over the in-memory call (--threads)

Every installed peer is timed (PyTorch, ONNX Runtime, SciPy, OpenCV); an absent one
is skipped and named. GFLOP/s count 2 x the multiply-adds of the direct definition;
each cell is the median of repeated calls after a warm-up, time-boxed per cell.
"""



def _write_results(args, rows, before, after, name, text):
    """--json FILE: the rows and the load; --report DIR: DIR/name holding text."""
    import json
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "loadavg_before": before, "loadavg_after": after}, f, indent=1)
        print(f"results: {args.json}")
    if args.report:
        os.makedirs(args.report, exist_ok=True)
        path = os.path.join(args.report, name)
        with open(path, "w") as f:
            f.write(text)
        print(f"report: {path}")

def _default_threads() -> int:
    try:
        import fastconv
        return int(fastconv.get_num_threads())
    except Exception:
        return os.cpu_count() or 1


def _positive(v: str) -> int:
    n = int(v)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    from .peers import IMPL_NAMES
    p = argparse.ArgumentParser(
        prog="python -m fastconv",
        description="fastconv command line: benchmark against the peers, show the build.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    b = sub.add_parser(
        "bench", help="time fastconv against every installed peer on real layer shapes",
        description="Time fastconv against PyTorch, ONNX Runtime, SciPy and OpenCV "
                    "(those installed) on layers of ResNet-50, VGG-16, MobileNetV2, "
                    "ConvNeXt, ResNeXt-50, DeepLabv3, DCGAN, U-Net, C3D, R3D, RedNet-50 "
                    "and a separable image blur; print a table.",
        epilog=BENCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--quick", action="store_true",
                   help="a subset of the layers and fewer repeats (under a minute)")
    b.add_argument("--threads", type=_positive, metavar="N", default=None,
                   help="threads for every library (default: fastconv.get_num_threads(), "
                        "i.e. OMP_NUM_THREADS or all cores)")
    b.add_argument("--filter", metavar="WORD", default=None,
                   help="only layers whose family, name or description contains WORD "
                        "(case-insensitive; 'a,b' matches either)")
    b.add_argument("--batch", type=_positive, metavar="B", default=None,
                   help="batch size N (default 1; --networks: 1 and 8)")
    b.add_argument("--networks", action="store_true",
                   help="time whole networks (ResNet-50, MobileNetV2, RedNet-50, a DCGAN "
                        "generator, C3D blocks 1-2) built from fastconv layers against the same "
                        "networks in PyTorch (eager) and ONNX Runtime (the exported graph)")
    b.add_argument("--backward", action="store_true",
                   help="the gradients' table: input + weight gradient against PyTorch's CPU backward "
                        "(--filter, --threads, --batch)")
    b.add_argument("--dask", action="store_true",
                   help="fastconv.dask against dask-image on the same Dask arrays and chunks (a "
                        "15-tap Gaussian, a 3x3x3 volume filter, a 64->64 3x3 layer against "
                        "map_overlap + torch), and the Dask path's overhead over the in-memory "
                        "call (--threads, --quick, --seconds)")
    b.add_argument("--dask-scale", type=_positive, default=1, help=argparse.SUPPRESS)  # tests: smaller
    b.add_argument("--json", metavar="FILE", default=None, help="write all results as JSON")
    b.add_argument("--report", metavar="DIR", default=None,
                   help="write DIR/report.md and DIR/ratios.png")
    b.add_argument("--check", action="store_true",
                   help="compare every implementation's output with torch's "
                        "(max |diff| / rms) and report mismatches")
    b.add_argument("--check-tol", type=float, default=1e-3, metavar="TOL",
                   help="relative error above which --check reports a mismatch (1e-3)")
    b.add_argument("--impls", metavar="LIST", default=None,
                   help="comma-separated implementations to run (default all): "
                        + ", ".join(IMPL_NAMES))
    b.add_argument("--seconds", type=float, metavar="S", default=None,
                   help="time budget per layer and implementation (default 0.2 quick, "
                        "0.75 full)")
    b.add_argument("--stat", choices=("median", "best"), default="median",
                   help="time of a cell: the median of the repeated calls (default) or "
                        "the fastest (steadier when other programs share the cores)")
    b.add_argument("--no-winograd-error", dest="winograd", action="store_false",
                   help="skip the Winograd accuracy figures")
    b.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")
    b.add_argument("--load", type=int, metavar="N", default=0,
                   help="start N busy processes for the run (each keeps a core busy) and "
                        "stop them after it: the speed on a busy machine")
    b.add_argument("--list", action="store_true", help="list the selected layers and exit")
    sub.add_parser("config", help="print fastconv.show_config()",
                   description="Print the version, the build, OpenMP, the CPU features "
                               "and the kernel set in use.")
    return p


def _list(cases, batch):
    w = max(len(c.name) for c in cases)
    for c in cases:
        print(f"{c.name.ljust(w)}  {c.family:18s} {c.layer:34s} "
              f"{c.flops(batch) / 1e9:8.3f} GFLOP{'  (quick)' if c.quick else ''}")


def networks(args) -> int:
    """--networks: the whole-network table (bench/networks.py)."""

    from . import networks as _net
    names = list(_net.NETWORKS)
    if args.filter:
        words = [w.strip().lower() for w in args.filter.split(",") if w.strip()]
        names = [n for n in names if any(w in n or w in _net.TITLES[n].lower() for w in words)]
    if not names:
        print(f"no network matches --filter {args.filter!r}: {', '.join(_net.NETWORKS)}",
              file=sys.stderr)
        return 2
    impls = _net.IMPLS if args.impls is None else tuple(
        s.strip() for s in args.impls.split(",") if s.strip())
    threads = (args.threads,) if args.threads else (1, 2)
    batches = (args.batch,) if args.batch else (1, 8)
    seconds = args.seconds if args.seconds else (0.5 if args.quick else 2.0)
    try:
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"--networks needs torch (and onnxruntime, onnx for the ONNX Runtime column): {e}",
              file=sys.stderr)
        return 2
    before = _load.loadavg()
    print(f"fastconv bench --networks: {', '.join(names)}; threads {threads}, batch {batches}, "
          f"float32, medians of >= 5 runs / {seconds} s per cell, each library in its own block",
          file=sys.stderr)
    print(_net.HEADER)
    t0 = time.perf_counter()
    with _load.BusyProcesses(args.load):
        rows = _net.run(names, threads, batches, seconds, impls,
                        progress=lambda line: print(line, flush=True))
    after = _load.loadavg()
    print()
    print("ms: median of the runs (the minimum is in --json); ratios > 1: fastconv is faster; "
          "peer: ONNX Runtime's whole graph (RedNet-50: PyTorch, ONNX has no involution); "
          "NHWC: the input and every activation channels last (N, H, W, C); "
          "fastconv vs float64: max |difference| / rms of PyTorch's float64 output, "
          "the worse of the two layouts.")
    print(f"machine load: load average {before} before, {after} after; "
          f"{time.perf_counter() - t0:.0f} s")
    errs = sorted({r["ort_error"] for r in rows if "ort_error" in r})
    for e in errs:
        print(f"ONNX Runtime failed: {e}")
    _write_results(args, rows, before, after, "networks.md",
                   "# Whole networks\n\n" + _net.HEADER + "\n" +
                   "\n".join(_net.format_row(r) for r in rows) + "\n\n"
                   f"Medians, float32, each library timed in its own block; load average "
                   f"{before} before, {after} after.\n")
    bad = [r for r in rows if not r["agree"] <= 1e-4]
    return 1 if bad else 0


def backward(args) -> int:
    """--backward: the gradients' table (bench/backward.py)."""

    from . import backward as _bw
    try:
        import torch  # noqa: F401
    except ImportError as e:
        print(f"--backward needs torch (the peer): {e}", file=sys.stderr)
        return 2
    cases = _bw.select(args.filter, args.quick)
    if not cases:
        print(f"no convolution, transposed convolution or involution matches --filter {args.filter!r}",
              file=sys.stderr)
        return 2
    threads = args.threads or _default_threads()
    batch = args.batch or 1
    seconds = args.seconds if args.seconds else (0.3 if args.quick else 1.5)
    before = _load.loadavg()
    print(f"fastconv bench --backward: {len(cases)} layers, {threads} thread(s), batch {batch}, float32, "
          f"input + weight gradients, medians / {seconds} s per cell, each library in its own block",
          file=sys.stderr)
    print(_bw.HEADER)
    t0 = time.perf_counter()
    with _load.BusyProcesses(args.load):
        rows = _bw.run(cases, threads, batch, seconds, progress=lambda line: print(line, flush=True))
    after = _load.loadavg()
    print()
    print("ms: median of the calls (the minimum is in --json); ratio > 1: fastconv is faster; PyTorch: "
          "aten.convolution_backward (input and weight), for involution autograd of the official unfold "
          "formulation; fastconv vs float64: max |difference| / rms of PyTorch's float64 gradients.")
    print(f"machine load: load average {before} before, {after} after; {time.perf_counter() - t0:.0f} s")
    _write_results(args, rows, before, after, "backward.md",
                   "# Gradients\n\n" + _bw.HEADER + "\n" + "\n".join(_bw.format_row(r) for r in rows) +
                   f"\n\nMedians, float32, each library timed in its own block; load average {before} "
                   f"before, {after} after.\n")
    return 1 if any(not r["err"] <= 1e-4 for r in rows) else 0


def dask(args) -> int:
    """--dask: fastconv.dask against dask-image (bench/dask_bench.py)."""

    from . import dask_bench as _db
    try:
        import dask  # noqa: F401
        import dask_image  # noqa: F401
    except ImportError as e:
        print(f"--dask needs dask[array] and dask-image (and torch for the layer case): {e}",
              file=sys.stderr)
        return 2
    threads = args.threads or _default_threads()
    seconds = args.seconds if args.seconds else (0.3 if args.quick else 2.0)
    before = _load.loadavg()
    print(f"fastconv bench --dask: threaded scheduler, {threads} worker thread(s) (1 fastconv / "
          f"torch thread per task), float32, medians / {seconds} s per cell, each implementation "
          f"in its own block", file=sys.stderr)
    print(_db.HEADER)
    t0 = time.perf_counter()
    with _load.BusyProcesses(args.load):
        rows = _db.run(threads, seconds, quick=args.quick, scale=args.dask_scale,
                       progress=lambda line: print(line, flush=True), filter=args.filter)
    after = _load.loadavg()
    notes = ("s: median wall time of persist() (the result computed and held, not gathered); "
             "speed-up > 1: fastconv.dask is faster than the peer on the same Dask array; "
             "overhead: fastconv.dask / the in-memory fastconv call at the same total threads "
             "(< 1: the Dask path is faster); max rel. diff: max |diff| / rms against the peer "
             "and the in-memory call.")
    print()
    print(notes)
    print(f"machine load: load average {before} before, {after} after; "
          f"{time.perf_counter() - t0:.0f} s")
    _write_results(args, rows, before, after, "dask.md",
                   "# fastconv.dask against dask-image\n\n" + _db.HEADER + "\n" +
                   "\n".join(_db.format_row(r) for r in rows) +
                   f"\n\n{notes} {threads} worker thread(s); load average {before} before, "
                   f"{after} after.\n")
    return 1 if any(not r["err"] <= 1e-4 for r in rows) else 0


def bench(args) -> int:
    from . import report, runner
    from .peers import get_impls

    if args.networks:
        return networks(args)
    if args.backward:
        return backward(args)
    if args.dask:
        return dask(args)
    if args.batch is None:
        args.batch = 1
    cases = _cases.select(quick=args.quick, filter=args.filter)
    if not cases:
        print(f"no layer matches --filter {args.filter!r}; see --list", file=sys.stderr)
        return 2
    if args.list:
        _list(cases, args.batch)
        return 0
    names = None if args.impls is None else [s.strip() for s in args.impls.split(",")
                                             if s.strip()]
    try:
        impls = get_impls(names)
    except ValueError as e:
        print(f"--impls: {e}", file=sys.stderr)
        return 2
    threads = args.threads or _default_threads()
    budget = (runner.QUICK if args.quick else runner.FULL).scaled(args.seconds, args.stat)

    present = [i for i in impls if i.available()[0]]
    absent = [i for i in impls if not i.available()[0]]
    print(f"fastconv bench: {len(cases)} layers, {threads} thread(s), batch {args.batch}, "
          f"float32, {'quick' if args.quick else 'full'}; running: "
          + ", ".join(f"{i.name} {i.version()}" for i in present), file=sys.stderr)
    if absent:
        print("skipped (not installed): " + ", ".join(
            f"{i.name} ({i.available()[1]})" for i in absent), file=sys.stderr)

    if args.load < 0:
        print(f"--load: must be >= 0, got {args.load}", file=sys.stderr)
        return 2
    before = _load.loadavg()
    t0 = time.perf_counter()
    with _load.BusyProcesses(args.load):
        results = runner.run_benchmarks(cases, impls, threads=threads, batch=args.batch,
                                        budget=budget, check=args.check,
                                        winograd=args.winograd, progress=args.progress)
        after = _load.loadavg()
    elapsed = time.perf_counter() - t0

    meta = report.machine_info(impls, threads=threads, batch=args.batch, quick=args.quick,
                               budget=dataclasses.asdict(budget))
    meta["elapsed_seconds"] = round(elapsed, 1)
    meta["check"] = args.check
    meta["check_tol"] = args.check_tol
    meta["filter"] = args.filter
    meta["load"] = {"busy_processes": args.load, "loadavg_before": before, "loadavg_after": after,
                    "median_spread": _load.spread_summary(results)}
    try:
        from fastconv import _core
        meta["fastconv_pool"] = dict(_core.pool_stats(), threading=_core.threading_name())
    except (ImportError, AttributeError):
        pass

    print(report.format_table(results))
    print()
    for n in report.footnotes(results, meta):
        print(n)
    print(f"({len(cases)} layers in {elapsed:.0f} s)")
    if args.json:
        report.write_json(results, meta, args.json)
        print(f"results: {args.json}")
    if args.report:
        path, why = report.write_report(results, meta, args.report)
        print(f"report: {path}" + (f" ({why})" if why else
                                   f", chart: {os.path.join(args.report, 'ratios.png')}"))
    mismatches = [c for r in results for c in r.cells.values()
                  if c.check is not None and not c.check <= args.check_tol]
    return 1 if mismatches else 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        return bench(args)
    if args.command == "config":
        import fastconv
        fastconv.show_config()
        return 0
    parser.print_help()
    return 2
