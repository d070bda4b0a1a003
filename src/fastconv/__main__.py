"""``python -m fastconv bench [--quick] [--threads N] [--report DIR] ...`` and
``python -m fastconv config``; see ``python -m fastconv bench --help``."""
import sys

from .bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
