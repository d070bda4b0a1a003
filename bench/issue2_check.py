"""Issue 2 check: fastconv vs PyTorch on the ResNet-50, MobileNetV2 and DCGAN
generator layers at batch 1 with 2 threads.

Prints, per layer, fastconv's median time, torch's, and the time ratio
fastconv / torch, and flags every ratio above the threshold (20 by default).
Exit status 1 if any layer is flagged (or fails), 0 otherwise.

    python bench/issue2_check.py [--threads 2] [--batch 1] [--threshold 20] [--seconds 0.3]
"""
from __future__ import annotations

import argparse
import sys

from fastconv.bench.cases import select
from fastconv.bench.peers import get_impls
from fastconv.bench.runner import FULL, run_benchmarks

FAMILIES = ("ResNet-50", "MobileNetV2", "DCGAN generator")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=20.0,
                    help="flag layers where fastconv takes more than this many times "
                         "torch's time (default 20)")
    ap.add_argument("--seconds", type=float, default=0.3,
                    help="time budget per layer and library (default 0.3)")
    ap.add_argument("--no-progress", dest="progress", action="store_false")
    args = ap.parse_args(argv)

    impls = get_impls(["fastconv", "torch"])
    for im in impls:
        ok, why = im.available()
        if not ok:
            print(f"{im.name} is not available ({why}): cannot run this check",
                  file=sys.stderr)
            return 2
    cases = select(families=FAMILIES)
    results = run_benchmarks(cases, impls, threads=args.threads, batch=args.batch,
                             budget=FULL.scaled(args.seconds), winograd=False,
                             progress=args.progress)

    print(f"fastconv vs torch, batch {args.batch}, {args.threads} threads "
          f"(median times; flagged: ratio > {args.threshold:g})")
    w = max(len(f"{c.family} / {c.layer}") for c in cases)
    print(f"{'layer'.ljust(w)}  {'fastconv ms':>11}  {'torch ms':>9}  {'fc/torch':>8}")
    flagged = failed = 0
    for r in results:
        fc, th = r.cells["fastconv"], r.cells["torch"]
        name = f"{r.case.family} / {r.case.layer}".ljust(w)
        if not (fc.ok and th.ok):
            failed += 1
            why = fc.error or th.error or f"{fc.status}/{th.status}"
            print(f"{name}  {'-':>11}  {'-':>9}  {'-':>8}  FAILED: {why}")
            continue
        ratio = fc.seconds / th.seconds
        flag = ratio > args.threshold
        flagged += flag
        print(f"{name}  {fc.seconds * 1e3:11.3f}  {th.seconds * 1e3:9.3f}  {ratio:8.2f}"
              + (f"  <-- FLAG: > {args.threshold:g}x torch's time" if flag else ""))
    ratios = [r.cells["fastconv"].seconds / r.cells["torch"].seconds for r in results
              if r.cells["fastconv"].ok and r.cells["torch"].ok]
    if ratios:
        print(f"\n{len(ratios)} layers; worst ratio {max(ratios):.2f}, best {min(ratios):.2f}; "
              f"{flagged} flagged, {failed} failed")
    return 1 if flagged or failed else 0


if __name__ == "__main__":
    sys.exit(main())
