"""Build the AddressSanitizer + UBSan variant of the graph-import core for `make fuzz`.

    .venv/bin/python fuzz/build_cgraph.py

As `fuzz/build_ctrace.py` does for the trace core (the same compilers, flags and sanitizer
runtime): writes ``fuzz/results/cgraph-asan/_cgraph<EXT_SUFFIX>`` and ``env.json``, the
environment `fuzz/run.py` gives the ``cgraph`` harness, whose ``STELLA_CGRAPH_SO`` names the
build.
"""

from __future__ import annotations

import json
import sys

from build_ctrace import REPO, build

SOURCE = REPO / "src" / "stella_signals" / "graph" / "_cgraph.c"
OUT = REPO / "fuzz" / "results" / "cgraph-asan"

if __name__ == "__main__":
    print(json.dumps(build(SOURCE, OUT, "STELLA_CGRAPH_SO"), indent=2))
    sys.exit(0)
