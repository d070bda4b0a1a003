"""Every layer of fastconv.bench.cases x every implementation, timed by
pytest-benchmark.  Compare implementations side by side with

    pytest bench/ --benchmark-group-by=param:case

(each test's group is also its case, so the default grouping does the same).
GFLOP/s (2 x multiply-adds of the direct definition / median) is in each
benchmark's extra_info (see --benchmark-json).
"""
import pytest

from fastconv.bench.cases import get_case


def test_layer(benchmark, case, impl, impls, bench_batch):
    c = get_case(case)
    im = impls[impl]
    ok, why = im.available()
    if not ok:
        pytest.skip(f"{impl} is not installed ({why})")
    data = c.make_inputs(bench_batch)
    runnable = im.build(c, data)           # sessions, layers, layouts: outside the timing
    if runnable is None:
        pytest.skip(f"{impl} has no implementation of this {c.op} case")
    benchmark.group = f"{c.family}: {c.layer} [{case}]"
    flops = c.flops(bench_batch)
    benchmark.extra_info.update(family=c.family, layer=c.layer, op=c.op, batch=bench_batch,
                                gflop=flops / 1e9)
    benchmark(runnable.run)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["gflops_median"] = flops / stats.stats.median / 1e9
