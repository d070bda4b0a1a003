"""Presenting results: the machine and versions, a plain-text table, the
Markdown report, the ratio chart and the JSON dump."""
from __future__ import annotations

import contextlib
import datetime
import importlib
import io
import json
import os
import platform
import sys

from .peers import Impl
from .runner import CaseResult

__all__ = ["machine_info", "table_rows", "format_table", "markdown", "chart", "family_geomeans",
           "write_json", "write_report", "SHORT"]

# column headers (the implementations' names are long for a terminal)
SHORT = {"fastconv": "fastconv", "fastconv-layer": "fc-layer",
         "fastconv-winograd": "fc-winograd", "torch": "torch", "onnxruntime": "ort",
         "scipy": "scipy", "opencv": "opencv"}

_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512cd",
              "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile")


# ---------------------------------------------------------------- machine
def _cpuinfo() -> dict:
    info = {"model": platform.processor() or platform.machine(), "flags": [],
            "physical_cores": None}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return info
    cores = set()
    phys = core = None
    for line in text.splitlines():
        k, _, v = line.partition(":")
        k, v = k.strip(), v.strip()
        if k == "model name" and info["model"] in ("", platform.machine(),
                                                   platform.processor()):
            info["model"] = v
        elif k == "flags" and not info["flags"]:
            have = set(v.split())
            info["flags"] = [f for f in _CPU_FLAGS if f in have]
        elif k == "physical id":
            phys = v
        elif k == "core id":
            core = v
            cores.add((phys, core))
    info["physical_cores"] = len(cores) or None
    return info


def _fastconv_config() -> dict:
    out = {}
    try:
        import fastconv
        out["version"] = getattr(fastconv, "__version__", "?")
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    try:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            fastconv.show_config()
        out["show_config"] = buf.getvalue().rstrip()
    except Exception as e:
        out["show_config"] = f"(show_config failed: {e})"
    try:
        from fastconv._config import config
        out["isa_reason"] = config()["isa_reason"]
    except Exception:
        pass
    core = getattr(fastconv, "_core", None)
    for fn in ("get_isa", "supported_isas", "openmp_enabled"):
        try:
            out[fn] = getattr(core, fn)()
        except Exception:
            pass
    return out


# distributions that provide a module, where the names differ
_DISTS = {"cv2": ("opencv-python-headless", "opencv-python", "opencv-contrib-python",
                  "opencv-contrib-python-headless")}


def _version(module: str) -> str:
    """A module's version without importing it where it is not loaded yet:
    importing a peer (ONNX Runtime starts threads that read the environment)
    only to name its version would leave those threads running in a process
    that did not ask for the peer."""
    m = sys.modules.get(module)
    if m is not None:
        return str(getattr(m, "__version__", "?"))
    from importlib import metadata
    for dist in _DISTS.get(module, (module,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        m = importlib.import_module(module)
    except Exception:
        return "absent"
    return str(getattr(m, "__version__", "?"))


def machine_info(impls: list[Impl] = (), *, threads: int | None = None, batch: int = 1,
                 quick: bool = False, budget=None, dtype: str = "float32") -> dict:
    cpu = _cpuinfo()
    versions = {"python": sys.version.split()[0], "numpy": _version("numpy"),
                "fastconv": _version("fastconv")}
    for mod in ("torch", "onnxruntime", "onnx", "scipy", "cv2", "tqdm", "matplotlib"):
        versions[mod] = _version(mod)
    absent = {i.name: i.available()[1] for i in impls if not i.available()[0]}
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu_model": cpu["model"],
        "logical_cpus": os.cpu_count(),
        "physical_cores": cpu["physical_cores"],
        "cpu_flags": cpu["flags"],
        "fastconv_config": _fastconv_config(),
        "versions": versions,
        "threads": threads, "batch": batch, "dtype": dtype, "quick": quick,
        "budget": budget,
        "implementations": {i.name: i.description for i in impls},
        "absent": absent,
    }


# ---------------------------------------------------------------- cells
def _gf(cell) -> str:
    if cell is None or not cell.ok:
        return "-"
    g = cell.gflops
    return f"{g:.0f}" if g >= 100 else f"{g:.1f}" if g >= 1 else f"{g:.2f}"


def _ratio(r: CaseResult) -> str:
    x = r.ratio
    if x is None:
        return "-"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def _werr(r: CaseResult) -> str:
    w = r.winograd
    if not w:
        return ""
    if "error" in w:
        return "-"
    return f"{w['max_abs']:.1e} / {w['rms']:.1e}"


def _columns(results: list[CaseResult]) -> list[str]:
    """Implementations that produced at least one number (absent ones dropped)."""
    names = list(results[0].cells) if results else []
    return [n for n in names if any(r.cells[n].status not in ("absent",) for r in results)]


def table_rows(results: list[CaseResult]) -> tuple[list[str], list[list[str]]]:
    cols = _columns(results)
    header = ["family", "layer", "GFLOP"] + [SHORT.get(c, c) for c in cols] + \
             ["best peer", "fc/best", "winograd err max/rms"]
    rows = []
    for r in results:
        best = r.best_peer
        rows.append([r.case.family, r.case.layer, f"{r.flops / 1e9:.3g}"]
                    + [_gf(r.cells[c]) for c in cols]
                    + [SHORT.get(best.impl, best.impl) if best else "-", _ratio(r), _werr(r)])
    return header, rows


def format_table(results: list[CaseResult]) -> str:
    header, rows = table_rows(results)
    if not rows:
        return "(no cases)"
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    left = {0, 1}

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(header), line(["-" * w for w in widths])]
    fam = None
    for r, row in zip(results, rows):
        if fam is not None and r.case.family != fam:
            out.append("")
        fam = r.case.family
        out.append(line(row))
    return "\n".join(out)


def footnotes(results: list[CaseResult], meta: dict) -> list[str]:
    stat = (meta.get("budget") or {}).get("stat", "median")
    notes = ["GFLOP/s = 2 x multiply-adds of the direct definition / "
             + ("median time" if stat == "median" else "best time of the repeated calls")
             + " "
             "(separable filter: kH + kW taps per output); '-' = not run "
             "(the library has no such op, or it failed: see below)."]
    notes.append("fc/best = fastconv (functional) GFLOP/s / the best peer's: "
                 "> 1 means fastconv is faster.")
    if any(r.winograd for r in results):
        notes.append("winograd err = float32 algorithm='winograd' vs a float64 reference: "
                     "max abs / rms of the difference (outputs are O(1)).")
    load = meta.get("load")
    if load:
        fmt = lambda la: "n/a" if la is None else " ".join(f"{v:.2f}" for v in la)
        sp = load.get("median_spread")
        notes.append(f"machine load: load average (1/5/15 min) {fmt(load.get('loadavg_before'))} before, "
                     f"{fmt(load.get('loadavg_after'))} at the end"
                     + (f"; {load['busy_processes']} busy process(es) started for the run (--load)"
                        if load.get("busy_processes") else "")
                     + ("" if sp is None else f"; spread of the repeats {100 * sp:.0f}% (median over cells)"))
        from .load import busy_warning
        w = busy_warning(meta)
        if w:
            notes.append(w)
    pool = meta.get("fastconv_pool")
    if pool and pool.get("loops") is not None:
        notes.append(f"fastconv threads ({pool.get('threading', '?')}): {pool['loops']} loops on more than one "
                     f"thread; {pool['capped']} given fewer threads for other runnable work, {pool['late']} "
                     f"waited for a descheduled worker, {pool['narrowed']} narrowed after such a wait")
    if meta.get("absent"):
        notes.append("skipped (not installed): " + ", ".join(
            f"{n} ({why})" for n, why in meta["absent"].items()))
    fails = [(r.case.name, c.impl, c.error) for r in results for c in r.cells.values()
             if c.status == "error"]
    for case, impl, err in fails:
        notes.append(f"failed: {impl} on {case}: {err}")
    checked = [(r.case.name, c.impl, c.check) for r in results for c in r.cells.values()
               if c.check is not None]
    if meta.get("check"):
        no_ref = [r.case.name for r in results
                  if "torch" not in r.cells or not r.cells["torch"].ok]
        if no_ref:
            notes.append(f"check vs torch: no torch output (absent, excluded or failed) "
                         f"for {len(no_ref)} layer(s), not checked: {', '.join(no_ref[:8])}"
                         + (" ..." if len(no_ref) > 8 else ""))
    if checked:
        tol = meta.get("check_tol", 1e-3)
        bad = [t for t in checked if not t[2] <= tol]
        worst = max(checked, key=lambda t: t[2])
        notes.append(f"check vs torch: {len(checked)} outputs compared, {len(bad)} above "
                     f"rel err {tol:g} (max |diff| / rms); worst {worst[2]:.2e} "
                     f"({worst[1]} on {worst[0]})")
        for case, impl, e in bad:
            notes.append(f"MISMATCH: {impl} on {case}: rel err {e:.3e}")
    return notes


def family_geomeans(results: list[CaseResult]) -> list[tuple[str, float, int, int]]:
    """(family, geometric mean of fastconv / best peer, layers, layers fastconv
    leads) per family, in the order the families first appear."""
    import math
    fams: dict[str, list[float]] = {}
    for r in results:
        if r.ratio is not None:
            fams.setdefault(r.case.family, []).append(r.ratio)
    return [(f, math.exp(sum(math.log(x) for x in v) / len(v)), len(v),
             sum(x > 1 for x in v)) for f, v in fams.items()]


# ---------------------------------------------------------------- markdown
def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown(results: list[CaseResult], meta: dict, chart_file: str | None = None,
             chart_note: str = "") -> str:
    v = meta["versions"]
    fc = meta.get("fastconv_config", {})
    lines = ["# fastconv benchmark", "",
             f"- date: {meta['date']}",
             f"- machine: {meta['cpu_model']}, {meta['logical_cpus']} logical CPUs"
             + (f" ({meta['physical_cores']} physical cores)" if meta.get("physical_cores")
                else ""),
             f"- platform: {meta['platform']}",
             f"- CPU features: {', '.join(meta['cpu_flags']) or 'unknown'}"]
    if fc.get("get_isa"):
        lines.append(f"- fastconv kernels in use: {fc['get_isa']}"
                     + (f": {fc['isa_reason']}" if fc.get("isa_reason") else "")
                     + f" (supported: {', '.join(fc.get('supported_isas', []))}; OpenMP: "
                     f"{'yes' if fc.get('openmp_enabled') else 'no'})")
    lines += [f"- threads: {meta['threads']} per library (SciPy is single-threaded); "
              f"batch {meta['batch']}; {meta['dtype']}; "
              f"{'quick' if meta['quick'] else 'full'} run; "
              f"{(meta.get('budget') or {}).get('stat', 'median')} of the timed calls",
              "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()), ""]
    if meta.get("implementations"):
        lines += ["## Implementations", ""]
        lines += [f"- **{n}**: {d}" + (" (absent)" if n in meta.get("absent", {}) else "")
                  for n, d in meta["implementations"].items()]
        lines.append("")
    if fc.get("show_config"):
        lines += ["`fastconv.show_config()`:", "", "```", fc["show_config"], "```", ""]
    lines += ["## Results (GFLOP/s, higher is better)", ""]
    header, rows = table_rows(results)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_md_escape(c) for c in row) + " |")
    lines.append("")
    lines += [f"- {n}" for n in footnotes(results, meta)]
    lines.append("")
    ratios = [r.ratio for r in results if r.ratio is not None]
    if ratios:
        import math
        geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        lines += [f"Geometric mean of fastconv / best peer over {len(ratios)} layers: "
                  f"{geo:.2f}x; fastconv ahead on {sum(x > 1 for x in ratios)}.", ""]
        lines += ["| family | layers | fastconv / best peer (geometric mean) | fastconv ahead |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {_md_escape(f)} | {n} | {g:.2f}x | {k} |"
                  for f, g, n, k in family_geomeans(results)]
        lines.append("")
    if chart_file:
        lines += ["## fastconv / best peer per layer", "", f"![ratios]({chart_file})", ""]
    elif chart_note:
        lines += [f"_{chart_note}_", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- chart
def chart(results: list[CaseResult], path: str, title: str = "") -> str | None:
    """A horizontal bar per layer of fastconv / best peer (log axis, line at 1),
    coloured by family.  Returns None when written, else why not."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as e:
        return f"matplotlib is not installed ({e}): no chart"
    rs = [r for r in results if r.ratio is not None]
    if not rs:
        return "no layer has both a fastconv and a peer time: no chart"
    fams = list(dict.fromkeys(r.case.family for r in rs))
    palette = list(plt.get_cmap("tab10").colors) + ["#393b79", "#843c39", "#637939",
                                                     "#7b4173", "#8c6d31"]
    color = {f: palette[i % len(palette)] for i, f in enumerate(fams)}
    # rows from the top: families in order, a gap between families
    ys, y, labels = [], 0.0, []
    prev = None
    for r in rs:
        if prev is not None and r.case.family != prev:
            y += 0.6
        prev = r.case.family
        ys.append(y)
        best = r.best_peer
        labels.append(f"{r.case.layer}  [vs {SHORT.get(best.impl, best.impl)}]")
        y += 1.0
    h = max(3.0, 0.30 * y + 1.8)
    fig, ax = plt.subplots(figsize=(11, h))
    vals = [r.ratio for r in rs]
    # bars grow from 1.0: left when fastconv is slower, right when it is faster
    ax.barh(ys, [v - 1.0 for v in vals], left=1.0, height=0.8,
            color=[color[r.case.family] for r in rs], edgecolor="black", linewidth=0.3)
    ax.set_xscale("log")
    lo, hi = min(vals + [1.0]), max(vals + [1.0])
    ax.set_xlim(lo / 1.8, hi * 1.8)
    ax.axvline(1.0, color="black", linewidth=1.2)
    for yy, v in zip(ys, vals):
        if v >= 1:
            ax.text(v * 1.04, yy, f"{v:.2f}x", va="center", ha="left", fontsize=7)
        else:
            ax.text(v / 1.04, yy, f"{v:.2f}x", va="center", ha="right", fontsize=7)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7.5)
    ax.set_ylim(y, -1.0)
    ax.set_xlabel("fastconv GFLOP/s / best peer GFLOP/s  (log scale; right of 1: fastconv "
                  "faster, left: slower)")
    ax.set_title(title or "fastconv vs the best installed peer, per layer")
    ax.grid(axis="x", which="both", alpha=0.3)
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    lo_x, hi_x = ax.get_xlim()
    ax.xaxis.set_major_locator(FixedLocator(
        [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200) if lo_x <= t <= hi_x]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    geo = {f: g for f, g, _, _ in family_geomeans(rs)}
    ax.legend(handles=[Patch(color=color[f], label=f"{f}  {geo[f]:.2f}x") for f in fams],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title="family  (geometric mean)", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return None


# ---------------------------------------------------------------- files
def write_json(results: list[CaseResult], meta: dict, path: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": [r.to_dict() for r in results]}, f, indent=1,
                  default=str)


def write_report(results: list[CaseResult], meta: dict, directory: str) -> tuple[str, str]:
    """DIR/report.md and DIR/ratios.png; returns (report path, chart note)."""
    os.makedirs(directory, exist_ok=True)
    why = chart(results, os.path.join(directory, "ratios.png"),
                title=f"fastconv / best peer ({meta['threads']} thread"
                      f"{'s' if meta['threads'] != 1 else ''}, batch "
                      f"{meta['batch']}, {meta['dtype']})")
    md = markdown(results, meta, None if why else "ratios.png", why or "")
    path = os.path.join(directory, "report.md")
    with open(path, "w") as f:
        f.write(md.rstrip("\n") + "\n")
    return path, why or ""
