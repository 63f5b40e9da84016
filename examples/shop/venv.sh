#!/usr/bin/env bash
# The shop's own environment: its pinned dependencies (examples/shop/requirements.txt) and the
# probe (with its compiled profiler when a C compiler is there: probe/hatch_build.py), nothing
# else (no pip in it: the graph is of the shop and what it installed). Kept
# between runs; rebuilt when requirements.txt or the probe's sources change. Used by
# walkthrough.sh (step 1) and by benchmarks/probe.py (the shop as the service under test).
#
# Usage: venv.sh VENV PIP_PYTHON
#   VENV        where the environment is (made or reused)
#   PIP_PYTHON  a Python with pip (the project's .venv/bin/python) that installs into it
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
VENV=${1:?usage: venv.sh VENV PIP_PYTHON}
PIP_PYTHON=${2:?usage: venv.sh VENV PIP_PYTHON}
SHOP=examples/shop
PY=$VENV/bin/python
mkdir -p "$(dirname "$VENV")"
# One builder at a time (parallel tests share the cache): the others wait, then reuse it.
exec 9>"$VENV.lock"
flock 9

STAMP_WANTED=$(cat "$SHOP/requirements.txt" probe/pyproject.toml probe/hatch_build.py \
    $(find probe/src -type f \( -name '*.py' -o -name '*.pth' -o -name '*.c' \) | LC_ALL=C sort) \
    | sha256sum | cut -c1-64)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$STAMP_WANTED" ]; then
    rm -rf "$VENV" "$VENV.tmp"
    python3 -m venv --without-pip "$VENV.tmp"
    mv "$VENV.tmp" "$VENV"  # a venv's scripts name their folder: make it where it stays
    "$PIP_PYTHON" -m pip --python "$PY" install --quiet --disable-pip-version-check \
        -r "$SHOP/requirements.txt"
    "$PIP_PYTHON" -m pip --python "$PY" install --quiet --disable-pip-version-check --no-deps ./probe
    echo "$STAMP_WANTED" > "$VENV/.stamp"
fi
