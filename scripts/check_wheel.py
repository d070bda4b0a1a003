#!/usr/bin/env python
"""Check built wheels: each under the size limit, holding the license and no
C kernel sources (those belong to the sdist).

    python scripts/check_wheel.py dist/fastconv-*.whl [--max-mb 1.5]

Exit status 1 on any failure; prints one line per wheel.
"""
import argparse
import os
import sys
import zipfile

SOURCES = (".c", ".h", ".inc", ".pyx", ".pxd")


def check(path: str, max_bytes: int) -> list[str]:
    problems = []
    size = os.path.getsize(path)
    if size > max_bytes:
        problems.append(f"{size} bytes, over the limit of {max_bytes}")
    names = zipfile.ZipFile(path).namelist()
    if not any(n.split("/")[-1].startswith("LICENSE") and ".dist-info/" in n for n in names):
        problems.append("no LICENSE in the .dist-info")
    sources = [n for n in names if n.endswith(SOURCES) or "/_kernels/" in n]
    if sources:
        problems.append(f"{len(sources)} kernel source files, e.g. {sources[:3]}")
    if not any(n.startswith("fastconv/_core") and n.endswith((".so", ".pyd")) for n in names):
        problems.append("no compiled fastconv._core")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheels", nargs="+")
    ap.add_argument("--max-mb", type=float, default=1.5)
    a = ap.parse_args()
    bad = 0
    for w in a.wheels:
        problems = check(w, int(a.max_mb * 1_000_000))
        status = "ok" if not problems else "FAILED: " + "; ".join(problems)
        print(f"check_wheel: {os.path.basename(w)} ({os.path.getsize(w) / 1e6:.2f} MB): {status}")
        bad |= bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
