"""pytest-benchmark setup for the layer benchmarks (run explicitly; `pytest`
alone collects tests/ only):

    pytest bench/ --benchmark-group-by=param        # a table per layer, every impl in it
    pytest bench/ --bench-quick --bench-threads 2 -k "resnet or mobilenet"
    pytest bench/ --bench-impls fastconv,torch --benchmark-columns=min,median,rounds

The cases are fastconv.bench.cases.CASES; the implementations are
fastconv.bench.peers (absent peers and ops a peer lacks are skipped).
"""
from __future__ import annotations

import os

import pytest

from fastconv.bench import cases as _cases
from fastconv.bench import peers as _peers


def pytest_addoption(parser):
    g = parser.getgroup("fastconv bench")
    g.addoption("--bench-quick", action="store_true",
                help="only the quick subset of layers (as `python -m fastconv bench --quick`)")
    g.addoption("--bench-threads", type=int, default=None,
                help="threads for every library (default: fastconv's default)")
    g.addoption("--bench-batch", type=int, default=1, help="batch size (default 1)")
    g.addoption("--bench-impls", default=None,
                help="comma-separated implementations (default all): "
                     + ", ".join(_peers.IMPL_NAMES))
    g.addoption("--bench-filter", default=None,
                help="only layers whose family/name/description contains WORD")


def _impl_names(config):
    v = config.getoption("--bench-impls")
    return list(_peers.IMPL_NAMES) if not v else [s.strip() for s in v.split(",") if s.strip()]


def pytest_generate_tests(metafunc):
    cfg = metafunc.config
    if "case" in metafunc.fixturenames:
        sel = _cases.select(quick=cfg.getoption("--bench-quick"),
                            filter=cfg.getoption("--bench-filter"))
        # the layer is the only parameter (the implementation is the test
        # function), so --benchmark-group-by=param groups the implementations
        # of one layer side by side
        metafunc.parametrize("case", [c.name for c in sel], ids=[c.name for c in sel])


def pytest_collection_modifyitems(config, items):
    """Only the implementations of --bench-impls (one test function each)."""
    names = set(_impl_names(config))
    keep, drop = [], []
    for it in items:
        impl = getattr(getattr(it, "function", None), "impl_name", None)
        (drop if impl is not None and impl not in names else keep).append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def bench_threads(pytestconfig):
    n = pytestconfig.getoption("--bench-threads")
    if n:
        return n
    try:
        import fastconv
        return fastconv.get_num_threads()
    except Exception:
        return os.cpu_count() or 1


@pytest.fixture(scope="session")
def bench_batch(pytestconfig):
    return pytestconfig.getoption("--bench-batch")


@pytest.fixture(scope="session")
def impls(bench_threads):
    """name -> implementation object, each set to bench_threads once."""
    out = {}
    for im in _peers.get_impls():
        if im.available()[0]:
            im.setup(bench_threads)
        out[im.name] = im
    return out
