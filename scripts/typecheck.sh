#!/usr/bin/env bash
# Type checks (issue 26): mypy on the package at the setting in pyproject.toml
# ([tool.mypy]), on tests/typing/usage.py (the public API as a user calls it)
# with --strict, and on tests/typing/misuse.py, whose every line marked
# "# error" must be an error (and no other line).  Installs nothing: needs
# mypy (the test extras) and fastconv importable (installed, or built in place).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
$PY -m mypy src/fastconv
# from outside the source tree, so that the installed package (its py.typed
# and _core.pyi) is what the user's code is checked against
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp tests/typing/usage.py tests/typing/misuse.py "$tmp"/
(cd "$tmp" && $PY -m mypy --strict --no-incremental usage.py)
(cd "$tmp" && $PY -m mypy --no-incremental --hide-error-context --no-error-summary misuse.py \
    > misuse.out) || true
$PY - "$tmp/misuse.py" "$tmp/misuse.out" <<'PYEOF'
import re, sys
src, out = sys.argv[1], sys.argv[2]
want = {i for i, line in enumerate(open(src), 1) if line.rstrip().endswith("# error")}
got = {int(m.group(1)) for m in re.finditer(r"^misuse\.py:(\d+): error", open(out).read(), re.M)}
if want != got:
    print(open(out).read())
    sys.exit(f"misuse.py: mypy missed lines {sorted(want - got)}, "
             f"flagged unmarked lines {sorted(got - want)}")
print(f"misuse.py: all {len(want)} misuses rejected")
PYEOF
