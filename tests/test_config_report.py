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


def test_bench_backward(tmp_path, restore_threads, capsys):
    pytest.importorskip("torch")
    from fastconv.bench import cli

    rc = cli.main(["bench", "--backward", "--filter", "r50_3x3_512,gan_ct_100_512", "--threads", "1",
                   "--seconds", "0.01", "--report", str(tmp_path), "--json", str(tmp_path / "b.json")])
    assert rc == 0
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert [r["kind"] for r in rows] == ["dense", "transposed"]
    assert all(r["err"] <= 1e-4 and r["fastconv_ms"] > 0 for r in rows)
    assert "| r50_3x3_512 | dense |" in (tmp_path / "backward.md").read_text()


def test_bench_dask(tmp_path, restore_threads, capsys):
    """bench --dask on tiny arrays: the table, the JSON and the report (no timings checked)."""
    pytest.importorskip("dask.array")
    pytest.importorskip("dask_image")
    from fastconv.bench import cli

    rc = cli.main(["bench", "--dask", "--quick", "--dask-scale", "4", "--threads", "1",
                   "--filter", "gaussian", "--seconds", "0.01", "--report", str(tmp_path),
                   "--json", str(tmp_path / "d.json")])
    assert rc == 0
    rows = json.loads((tmp_path / "d.json").read_text())["rows"]
    assert [r["case"] for r in rows] == ["gaussian15"]
    assert all(r["err"] <= 1e-4 and r["fastconv_s"] > 0 and r["peer_s"] > 0 for r in rows)
    assert "| gaussian15 |" in (tmp_path / "dask.md").read_text()


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


def test_bench_load_records_and_stops_its_processes(tmp_path, restore_threads, capsys):
    """--load N: N busy processes for the run, gone after it; the load average
    before and after, the spread of the repeats and the pool's counters are in
    the JSON and the footnotes."""
    from fastconv.bench import cli, load

    started = []
    real = load.BusyProcesses.__enter__

    def spy(self):
        r = real(self)
        started.extend(self.procs)
        return r

    load.BusyProcesses.__enter__ = spy
    try:
        rc = cli.main(["bench", "--filter", "r50_1x1_64_256", "--impls", "fastconv", "--threads", "1",
                       "--seconds", "0.01", "--no-progress", "--no-winograd-error", "--load", "2",
                       "--json", str(tmp_path / "r.json")])
    finally:
        load.BusyProcesses.__enter__ = real
    assert rc == 0
    assert len(started) == 2 and all(p.poll() is not None for p in started)
    meta = json.loads((tmp_path / "r.json").read_text())["meta"]
    assert meta["load"]["busy_processes"] == 2
    if hasattr(os, "getloadavg"):
        assert len(meta["load"]["loadavg_before"]) == 3 and len(meta["load"]["loadavg_after"]) == 3
    assert meta["load"]["median_spread"] is not None
    assert "loops" in meta["fastconv_pool"]
    out = capsys.readouterr().out
    assert "machine load: load average" in out and "2 busy process(es)" in out


def test_busy_warning():
    from fastconv.bench.load import busy_warning

    quiet = {"logical_cpus": 2, "load": {"busy_processes": 0, "loadavg_before": [0.2, 0.3, 0.3],
                                         "median_spread": 0.03}}
    assert busy_warning(quiet) is None
    busy = {"logical_cpus": 2, "load": {"busy_processes": 0, "loadavg_before": [3.1, 2.0, 1.0],
                                        "median_spread": 0.03}}
    assert "busy" in busy_warning(busy)
    own = {"logical_cpus": 2, "load": {"busy_processes": 2, "loadavg_before": [0.3, 1.0, 1.0],
                                       "median_spread": 0.6}}
    assert busy_warning(own) is None          # the scatter of its own --load is expected
    scatter = {"logical_cpus": 2, "load": {"busy_processes": 0, "loadavg_before": [0.1, 0.1, 0.1],
                                           "median_spread": 0.4}}
    assert "scatter" in busy_warning(scatter)
