"""fastconv's benchmark: fastconv against every installed peer (PyTorch, ONNX
Runtime, SciPy, OpenCV) on real network layer shapes.

* :mod:`.cases`  the layer list as data (family, shapes, arguments, FLOPs);
* :mod:`.peers`  one implementation object per library, building a callable per case;
* :mod:`.runner` timing (warm-up, median, time budget), ``--check``, Winograd error;
* :mod:`.report` the table, the Markdown report, the ratio chart, JSON;
* :mod:`.cli`    ``python -m fastconv bench``.

Only :mod:`.cases` is imported eagerly; it needs nothing but NumPy.
"""
from .cases import CASES, FAMILIES, Case, get_case, quick_cases, select

__all__ = ["CASES", "FAMILIES", "Case", "get_case", "quick_cases", "select", "main"]


def main(argv=None) -> int:
    """``python -m fastconv bench ...`` (argv without the ``bench`` word)."""
    from .cli import main as _main
    return _main(["bench"] + list(argv or []))
