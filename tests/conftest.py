import os
import sys
import zlib

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

try:
    from hypothesis import HealthCheck, settings

    try:  # keep hypothesis' caches out of the source tree
        import tempfile

        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "fastconv-hypothesis"))
    except Exception:  # pragma: no cover
        pass

    _common = dict(deadline=None, database=None, print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.filter_too_much,
                                          HealthCheck.data_too_large])
    # ci: a fixed set of 300 examples per op (seconds per op); nightly: 5,000
    # fresh ones per op and run (HYPOTHESIS_PROFILE=nightly, docs/HARDENING.md)
    settings.register_profile("ci", max_examples=300, derandomize=True, **_common)
    settings.register_profile("nightly", max_examples=5000, **_common)
    settings.register_profile("dev", max_examples=10, **_common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover
    pass

def _levels():
    """The levels this build has (x86-64's, or AArch64's), from C (runtime/cpu.c)."""
    from fastconv import _core

    return tuple(_core.built_isas())


ALL_ISAS = _levels()


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Force one kernel level for the test; skip the levels this machine lacks."""
    from fastconv import _core

    name = request.param
    supported = list(_core.supported_isas())
    if name not in supported:
        pytest.skip(f"ISA {name} not supported here (supported: {supported})")
    previous = _core.get_isa()
    _core.set_isa(name)
    assert _core.get_isa() == name
    try:
        yield name
    finally:
        _core.set_isa(previous)


@pytest.fixture
def restore_threads():
    import fastconv

    n = fastconv.get_num_threads()
    try:
        yield n
    finally:
        fastconv.set_num_threads(n)


@pytest.fixture
def rng(request):
    # deterministic per test id (independent of PYTHONHASHSEED)
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)
