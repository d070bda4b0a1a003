"""Every layer of fastconv.bench.cases, timed by pytest-benchmark for each
implementation: one test function per implementation (test_fastconv,
test_torch, test_onnxruntime, ...), each parametrized by the layer only, so
the layer is the one parameter and

    pytest bench/ --benchmark-group-by=param

puts fastconv and every peer side by side, one table per layer (the default
grouping does the same: each benchmark's group is its layer).
``--benchmark-group-by=func`` gives one table per implementation instead.
GFLOP/s (2 x multiply-adds of the direct definition / median) is in each
benchmark's extra_info (see --benchmark-json).
"""
import pytest

from fastconv.bench.cases import get_case
from fastconv.bench.peers import IMPL_NAMES


def _run(benchmark, case, impl, impls, bench_batch):
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
    benchmark.extra_info.update(impl=impl, family=c.family, layer=c.layer, op=c.op,
                                batch=bench_batch, gflop=flops / 1e9)
    benchmark(runnable.run)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["gflops_median"] = flops / stats.stats.median / 1e9


def _make(impl):
    def test(benchmark, case, impls, bench_batch):
        _run(benchmark, case, impl, impls, bench_batch)
    test.__name__ = "test_" + impl.replace("-", "_")
    test.__doc__ = f"{impl} on one layer"
    test.impl_name = impl                  # conftest deselects by --bench-impls
    return test


for _impl in IMPL_NAMES:
    _t = _make(_impl)
    globals()[_t.__name__] = _t
del _impl, _t
