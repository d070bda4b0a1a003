"""The Examples sections of the public docstrings run as written (issue 26).

Every public module's docstrings (and those of its classes, methods and
properties, the Cython module's Plan included) are doctests against the
installed package; a failing example fails here with doctest's report.
"""
import doctest
import importlib

import pytest

import fastconv

try:
    import torch  # noqa: F401
    HAS_TORCH = True
except ImportError:
    HAS_TORCH = False
try:
    import dask.array  # noqa: F401
    HAS_DASK = True
except ImportError:
    HAS_DASK = False
MODULES = ["fastconv", "fastconv.functional", "fastconv.layers", "fastconv.involution",
           "fastconv.batchnorm", "fastconv._config", "fastconv._core", "fastconv.grad",
           "fastconv._grad_involution",
           # the PyTorch bridge's examples need torch (an optional extra)
           pytest.param("fastconv.torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="needs torch")),
           # fastconv.dask's need dask (an optional extra)
           pytest.param("fastconv.dask", marks=pytest.mark.skipif(not HAS_DASK, reason="needs dask"))]
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _tests(name):
    mod = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    # the Cython module's classes are not "from" it by inspect's test: look inside them too
    tests = finder.find(mod, name)
    if name == "fastconv._core":
        tests += finder.find(mod.Plan, "fastconv._core.Plan", module=False)
    return [t for t in tests if t.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    tests = _tests(name)
    assert tests, f"{name} has no docstring examples"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    threads = fastconv.get_num_threads()
    try:
        for t in tests:
            runner.run(t)
    finally:
        fastconv.set_num_threads(threads)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples failed in {name}"


def test_every_public_name_has_examples():
    """help() of every name in __all__ (but the version) shows an Examples section,
    and so do the layers' and Involution2d's public methods."""
    missing = []
    for name in fastconv.__all__:
        obj = getattr(fastconv, name)
        if name != "__version__" and "Examples\n" not in (obj.__doc__ or "").replace("    ", ""):
            missing.append(name)
    assert not missing, missing
    for cls in (fastconv.Conv2d, fastconv.ConvTranspose2d, fastconv.Involution2d):
        for meth in ("__call__",) + (("plan",) if cls is fastconv.Conv2d else ()) + (
                ("kernel", "state_dict", "from_state_dict") if cls is fastconv.Involution2d else ()):
            doc = getattr(cls, meth).__doc__ or ""
            assert "Parameters" in doc or "Returns" in doc, (cls.__name__, meth)
