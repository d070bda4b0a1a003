"""Sphinx configuration of fastconv's documentation (built by scripts/docs.sh).

The pages are Markdown (MyST); the API reference is generated from the
docstrings (autodoc + numpydoc) of the installed package.  The pictures in
_static/figures are committed PNGs drawn by _scripts/make_figures.py, so the
build needs neither matplotlib nor a network.
"""
from __future__ import annotations

import fastconv

project = "fastconv"
author = "the fastconv authors"
copyright = "the fastconv authors"
release = fastconv.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_scripts", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The signatures show the argument names and defaults; the types are in each
# docstring's Parameters section, in words (the annotations' aliases expand
# to long unions that help no reader).
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

intersphinx_mapping: dict[str, tuple[str, None]] = {}   # no network at build time

html_theme = "alabaster"
html_static_path = ["_static"]
html_theme_options = {
    "description": "Every convolution of deep learning and image processing, for NumPy",
    "fixed_sidebar": True,
    "page_width": "1160px",
    "sidebar_width": "240px",
}
nitpicky = False

# fastconv.torch (the PyTorch bridge) imports torch, an optional extra the docs
# extras do not install: without it, autodoc reads its docstrings with torch mocked
try:
    import torch  # noqa: F401
except ImportError:
    autodoc_mock_imports = ["torch"]
