"""show_config names the kernel level and why; the benchmark CLI writes its
report (one small layer, a tiny time budget: no timing is asserted)."""
import json
import os

import pytest

import fastconv
from fastconv import _config, _core


def test_show_config_names_level_and_reason(capfd):
    fastconv.show_config()
    out = capfd.readouterr().out
    line = [ln for ln in out.splitlines() if "kernels in use:" in ln]
    assert len(line) == 1
    level, _, reason = line[0].split("kernels in use:", 1)[1].strip().partition(": ")
    assert level == _core.get_isa()
    assert reason
    assert "compiler:" in out


def test_isa_reason_follows_the_level(monkeypatch):
    supported = list(_core.supported_isas())
    best = supported[-1]
    monkeypatch.delenv("FASTCONV_ISA", raising=False)
    reason = _config.config()["isa_reason"]
    if _core.get_isa() == best:
        if best == "avx2":
            assert "AVX2+FMA" in reason and "no AVX-512" in reason
        elif best == "avx512":
            assert "AVX-512" in reason
    previous = _core.get_isa()
    try:
        _core.set_isa("vec128")
        if best != "vec128":
            assert "set_isa" in _config.config()["isa_reason"]
            monkeypatch.setenv("FASTCONV_ISA", "vec128")
            assert "forced by FASTCONV_ISA=vec128" in _config.config()["isa_reason"]
    finally:
        _core.set_isa(previous)


def test_bench_report(tmp_path, restore_threads, capsys):
    pytest.importorskip("scipy")
    from fastconv.bench import cli

    out = tmp_path / "rep"
    rc = cli.main(["bench", "--filter", "blur15", "--impls", "fastconv,scipy", "--threads", "1", "--seconds", "0.01",
                   "--no-progress", "--report", str(out), "--json", str(tmp_path / "r.json")])
    assert rc == 0
    md = (out / "report.md").read_text()
    for needle in ("machine:", "CPU features:", "versions:", "kernels in use:",
                   "| family | layer |", "fc/best", "Gaussian 15-tap"):
        assert needle in md
    data = json.loads((tmp_path / "r.json").read_text())
    (res,) = data["results"]
    assert res["best_peer"] == "scipy" and res["ratio_fastconv_to_best_peer"] > 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in md
    else:
        assert os.path.getsize(out / "ratios.png") > 1000
        assert "![ratios](ratios.png)" in md


def test_measure_warms_up_for_warm_seconds():
    """The untimed warm-up of a fast call lasts warm_seconds (another
    library's spinning thread pool must be gone before timing starts)."""
    import time
    from fastconv.bench.runner import Budget, measure
    stamps = []

    def fn():
        stamps.append(time.perf_counter())

    b = Budget(warmup=1, min_repeats=3, max_repeats=3, seconds=1.0, min_sample=0.0, warm_seconds=0.01)
    timing, _ = measure(fn, b)
    timed = timing.repeats * timing.inner
    assert timing.repeats == 3
    assert stamps[-timed] - stamps[0] >= 0.01
