# Developer benchmarks (pytest-benchmark); a package so that bench/test_layers.py
# never clashes with tests/test_layers.py.  Run explicitly: pytest bench/
