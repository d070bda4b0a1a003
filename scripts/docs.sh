#!/usr/bin/env bash
# The documentation site (issue 26): Sphinx on docs/ with every warning an
# error, into docs/_build/html (open docs/_build/html/index.html).  Installs
# nothing: needs the docs extras (pip install ".[docs]") and fastconv
# importable (the API reference is generated from the installed docstrings).
# The pictures are committed PNGs; after changing docs/_scripts/make_figures.py
# redraw them with:  python docs/_scripts/make_figures.py   (needs matplotlib)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
rm -rf docs/_build/html docs/_build/doctrees
$PY -m sphinx -W --keep-going -q -b html -d docs/_build/doctrees docs docs/_build/html
echo "docs: docs/_build/html/index.html (no warnings)"
