"""The type information ships and tells the truth (issue 26).

mypy itself runs in scripts/typecheck.sh (CI); here: py.typed and the stub of
the Cython module are installed beside the package, the stub names every
function the extension has, and the typed usage example runs as written.
"""
import importlib.util
import inspect
import pathlib
import re

import fastconv
from fastconv import _core

PKG = pathlib.Path(fastconv.__file__).parent
TYPING = pathlib.Path(__file__).parent / "typing"


def test_py_typed_and_stub_installed():
    assert (PKG / "py.typed").is_file()
    assert (PKG / "_core.pyi").is_file()


def test_stub_covers_the_extension():
    stub = (PKG / "_core.pyi").read_text()
    declared = set(re.findall(r"^def (\w+)", stub, re.M))
    public = {n for n, v in vars(_core).items()
              if not n.startswith("_") and callable(v) and not inspect.isclass(v)
              and getattr(v, "__module__", None) == "fastconv._core"}
    assert public <= declared, sorted(public - declared)
    props = {n for n, v in vars(_core.Plan).items() if not n.startswith("_")}
    assert props <= set(re.findall(r"def (\w+)\(self", stub)), sorted(props)


def test_every_public_name_is_annotated():
    for name in fastconv.__all__:
        obj = getattr(fastconv, name)
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            assert sig.return_annotation is not inspect.Signature.empty, name
            missing = [p for p in sig.parameters.values()
                       if p.annotation is inspect.Parameter.empty]
            assert not missing, (name, missing)


def test_typed_usage_runs():
    spec = importlib.util.spec_from_file_location("typed_usage", TYPING / "usage.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main()
