#!/usr/bin/env python3
"""Instructions per output under qemu-aarch64 (issue 27): NEON against the
portable twin (vec128) on a few layers, through the C API
(scripts/icount_aarch64.c, linked statically with the cross-built kernel
objects of scripts/qemu_aarch64.sh --build-only).  qemu logs every executed
translation block (-d in_asm,exec,nochain); the instructions of one call are
the count of a run with 2 calls less one with 1.  One thread.

    scripts/qemu_aarch64.sh --build-only && python scripts/qemu_icount.py
"""
from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KINC = os.path.join(HERE, "..", "src", "fastconv", "_kernels", "include")
OBJ = os.path.join(os.environ.get("FC_ARM64_BUILD", os.path.join(tempfile.gettempdir(), "fastconv-arm64")), "obj")
CC = os.environ.get("CROSS_CC", "aarch64-linux-gnu-gcc")
LAYERS = ("conv3x3_64_28", "winograd3x3_64_28", "pw1x1_128_256_14", "dw3x3_144_28", "grp3x3_128_g32_14")
INSN = re.compile(r"^0x([0-9a-f]+):\s")
TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def build(d: str) -> str:
    objs = [os.path.join(OBJ, f) for f in sorted(os.listdir(OBJ)) if f.endswith(".o") and f != "_core.o"]
    exe = os.path.join(d, "icount")
    subprocess.run([CC, "-O2", "-std=c99", f"-I{KINC}", "-static", "-fopenmp", "-pthread",
                    os.path.join(HERE, "icount_aarch64.c"), *objs, "-lm", "-o", exe],
                   check=True, capture_output=True)
    return exe


def count(exe: str, layer: str, isa: str, calls: int, d: str) -> tuple[int, int]:
    """(instructions executed, outputs, implementation)"""
    log = os.path.join(d, "qemu.log")
    r = subprocess.run(["qemu-aarch64", "-d", "in_asm,exec,nochain", "-D", log, exe, layer, isa,
                        str(calls)], capture_output=True, text=True, check=True)
    outputs = int(r.stdout.split("outputs")[1].split()[0])
    impl = r.stdout.split(" impl ")[1].split()[0]
    size: dict[int, int] = {}
    runs: collections.Counter[int] = collections.Counter()
    cur = None
    with open(log) as f:
        for line in f:
            m = INSN.match(line)
            if m:
                pc = int(m.group(1), 16)
                if cur is None:
                    cur = pc
                    size[cur] = 0
                size[cur] += 1
                continue
            if line.startswith("IN:") or not line.strip():
                cur = None
                continue
            m = TRACE.match(line)
            if m:
                runs[int(m.group(1), 16)] += 1
    os.remove(log)
    return sum(size.get(pc, 0) * n for pc, n in runs.items()), outputs, impl


def main() -> int:
    if not os.path.isdir(OBJ):
        print(f"qemu_icount: no objects in {OBJ}: run scripts/qemu_aarch64.sh --build-only", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        exe = build(d)
        print("| layer (float32, 1 thread) | implementation (vec128 / neon) | vec128 instr / output | "
              "neon instr / output | vec128 / neon |")
        print("|---|---|---:|---:|---:|")
        for layer in LAYERS:
            per, impl = {}, {}
            for isa in ("vec128", "neon"):
                one, n, impl[isa] = count(exe, layer, isa, 1, d)
                two, _, _ = count(exe, layer, isa, 2, d)
                per[isa] = (two - one) / n
            print(f"| {layer} | {impl['vec128']} / {impl['neon']} | {per['vec128']:.1f} | {per['neon']:.1f} | "
                  f"{per['vec128'] / per['neon']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
