#!/usr/bin/env python3
"""The NEON kernels' steady state by a machine model (issue 27): each dense
microkernel's innermost loop, as GCC compiles isa/neon.c (and, for the
comparison, isa/vec128.c: the portable twin, which on AArch64 is C99 without
FMA contraction), run through llvm-mca on AArch64 core models; cycles per
iteration and the fraction of the model's own FMA peak (measured by the same
tool on a loop of independent fmla).  Needs gcc-aarch64-linux-gnu and llvm
(Debian's packages).

    python scripts/mca_neon.py            # a Markdown table on stdout
    python scripts/mca_neon.py --json F   # and the numbers in F
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KDIR = os.path.join(HERE, "..", "src", "fastconv", "_kernels")
CC = os.environ.get("CROSS_CC", "aarch64-linux-gnu-gcc")
MCA = os.environ.get("LLVM_MCA", "llvm-mca")
CPUS = ("neoverse-n1", "cortex-a76", "apple-m1", "a64fx")
# (label, NEON's symbol, the portable twin's widest tile): the loops that
# carry the layers' multiply-adds
KERNELS = (
    ("GEMM / 1x1 tile, f32 (neon 8 x 12, vec128 4 x 8)", "fc_gemm_ukernel_f32", "fc_gemm_ukernel_f32"),
    ("GEMM tile, f64 (8 x 6 / 4 x 4)", "fc_gemm_ukernel_f64", "fc_gemm_ukernel_f64"),
    ("direct conv tile, f32 (6 px x 16 ch / 4 px x 8 ch)", "fc_conv_direct_f32_s1_m6",
     "fc_conv_direct_f32_s1_m4"),
    ("direct conv tile, f64 (6 x 8 / 4 x 4)", "fc_conv_direct_f64_s1_m6", "fc_conv_direct_f64_s1_m4"),
    ("pointwise rows, f32 (8 / 4 rows x 3 vectors)", "fc_pwr_f32_m8_v3", "fc_pwr_f32_m4_v3"),
    ("grouped tile, f32 (4 ch x 6 / 3 vectors)", "fc_grp_f32_m4_u6", "fc_grp_f32_m4_u3"),
    ("depthwise channel block, f32", "fc_dwc_f32", "fc_dwc_f32"),
    ("involution row, f32 (16 / 12 ch)", "fc_inv_row_f32_16", "fc_inv_row_f32_12"),
    ("Winograd channel-vector GEMM, f32 (6 x 2)", "fc_wcv_f32_r6_v2", "fc_wcv_f32_r6_v2"),
)
BRANCH = re.compile(r"^\s*(b|b\.?(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)|cbn?z|tbn?z)"
                    r"\s+(?:\w+,\s*)*(\.L\w+)\s*$")
FMA = re.compile(r"^\s*(fmla|fmadd)\s+v\d+\.(4s|2d)")   # vector FMAs (by element too)
FMUL_ADD = re.compile(r"^\s*(fmul|fadd)\s+v\d+\.(4s|2d)")


def compile_asm(level: str, flags: list[str], out: str) -> str:
    path = os.path.join(out, f"{level}.s")
    subprocess.run([CC, "-O3", "-std=c99", "-fno-math-errno", "-fopenmp", *flags, f"-I{KDIR}",
                    f"-I{KDIR}/include", "-S", os.path.join(KDIR, "isa", f"{level}.c"), "-o", path],
                   check=True)
    return open(path).read()


def function(asm: str, sym: str) -> list[str]:
    lines = asm.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(sym + ":"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("\t.size\t" + sym))
    return lines[start:end]


def hot_loop(body: list[str]) -> list[str]:
    """The backward branch's loop with the most vector multiply-adds (the
    innermost loop of the multiply-adds)."""
    labels = {line[:-1]: i for i, line in enumerate(body) if re.match(r"^\.L\w+:$", line)}
    best, score = None, -1
    for i, line in enumerate(body):
        m = BRANCH.match(line)
        if not m or m.group(2) not in labels or labels[m.group(2)] > i:
            continue
        region = [x for x in body[labels[m.group(2)] + 1:i + 1]
                  if x.strip() and not x.strip().startswith((".", "//", "#")) and not x.endswith(":")]
        n = sum(bool(FMA.match(x)) or bool(FMUL_ADD.match(x)) for x in region)
        # the innermost such loop: the most arithmetic per instruction
        s = n / max(1, len(region))
        if n and s > score:
            best, score = region, s
    return best or []


def mca(region: list[str], cpu: str) -> float:
    """Cycles per iteration of region in steady state."""
    src = "\n".join(region) + "\n"
    r = subprocess.run([MCA, "-mtriple=aarch64", f"-mcpu={cpu}", "-iterations=200"],
                       input=src, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr else "llvm-mca failed")
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", r.stdout).group(1))
    iters = int(re.search(r"Iterations:\s+(\d+)", r.stdout).group(1))
    return cycles / iters


def fma_peak(cpu: str) -> float:
    """The model's vector FMAs per cycle: the best of 24 independent fmla, by
    vector and by element (some models issue the by-element form on more
    pipes)."""
    forms = ([f"fmla v{i}.4s, v28.4s, v29.4s" for i in range(24)],
             [f"fmla v{i}.4s, v{24 + i % 4}.4s, v{28 + i % 4}.s[{i % 4}]" for i in range(24)])
    return max(24 / mca(region, cpu) for region in forms)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    for tool in (CC, MCA):
        if not shutil.which(tool):
            print(f"mca_neon: {tool} not found (apt-get install -y gcc-aarch64-linux-gnu llvm)",
                  file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as d:
        asm = {"neon": compile_asm("neon", ["-ffp-contract=fast"], d), "vec128": compile_asm("vec128", [], d)}
    peaks = {c: fma_peak(c) for c in CPUS}
    rows = []
    for label, nsym, vsym in KERNELS:
        row = {"kernel": label, "symbol": nsym}
        for level, sym in (("neon", nsym), ("vec128", vsym)):
            loop = hot_loop(function(asm[level], f"{sym}_{level}"))
            fmas = sum(bool(FMA.match(x)) for x in loop)
            muls = sum(bool(FMUL_ADD.match(x)) for x in loop)
            row[level] = {"instructions": len(loop), "fma": fmas, "fmul_fadd": muls,
                          "cycles": {c: mca(loop, c) for c in CPUS} if loop else {}}
        rows.append(row)
    print("| kernel | level | instr / iter | fmla | fmul+fadd | "
          + " | ".join(f"{c} cycles (% FMA peak)" for c in CPUS) + " |")
    print("|---|---|---:|---:|---:|" + "---:|" * len(CPUS))
    for row in rows:
        for level in ("neon", "vec128"):
            r = row[level]
            # the work of an iteration in FMAs: an fmla, or an fmul+fadd pair
            work = r["fma"] + r["fmul_fadd"] / 2
            cells = [f"{r['cycles'][c]:.2f} ({100 * work / (r['cycles'][c] * peaks[c]):.0f}%)"
                     if r["cycles"] else "-" for c in CPUS]
            print(f"| {row['kernel']} | {level} | {r['instructions']} | {r['fma']} | "
                  f"{r['fmul_fadd']} | " + " | ".join(cells) + " |")
    print()
    print("FMA peak of each model (vector fmla per cycle): "
          + ", ".join(f"{c} {peaks[c]:.1f}" for c in CPUS))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peaks": peaks, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
