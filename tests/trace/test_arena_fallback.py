"""The compiled core's tally arena grows with `mremap` on Linux (issue 19) and falls back to a
new mapping and a copy when the kernel will not move the old one. That path never runs on a
healthy machine, so this test makes it run: a small `LD_PRELOAD` library fails every
`mremap` (ENOMEM) in a child interpreter, which parses a trace whose arena grows several
times, and the report must be the pure-Python parser's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stella_signals.trace._parse import _compiled_core
from tests._compiler import COMPILER, needs_compiler

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(_compiled_core is None, reason="the compiled core is not built"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the mapped arena is Linux's"),
    needs_compiler,
]


@pytest.fixture(scope="module", autouse=True)
def core() -> Iterator[str]:
    """The child runs both parsers itself (overrides conftest's fixture)."""
    yield "compiled"


#: Fails every mremap and counts the calls; the counts go to stderr at exit.
SHIM = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
static int calls;
void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...) {
    (void)old; (void)old_size; (void)new_size; (void)flags;
    calls++;
    errno = ENOMEM;
    return MAP_FAILED;
}
__attribute__((destructor)) static void report(void) {
    fprintf(stderr, "mremap calls refused: %d\n", calls);
}
"""

#: 60,000 distinct keys (a few MiB of tallies: the arena grows from 64 KiB, doubling), parsed
#: by the compiled core and by the careful pure-Python path of the same process.
CHILD = r"""
import sys
from stella_signals.trace import parse_trace
from stella_signals.trace import _parse
assert _parse._compiled_core is not None
lines = b"".join(
    b'{"symbol_id":"sym:python:%06d%s","purl":"pkg:pypi/a@1","timestamp":'
    b'"2026-01-01T00:00:%02dZ","count":%d,"pid":1,"container":"c%d"}\n'
    % (n, b"x" * 48, n % 60, n % 9 + 1, n % 3)
    for n in range(60_000)
)
chunks = [lines[i : i + (1 << 20)] for i in range(0, len(lines), 1 << 20)]
compiled = parse_trace(iter(chunks))
careful = parse_trace(iter(chunks), _fast=False)
assert compiled.valid and compiled.records == 60_000, compiled.diagnostics[:3]
assert len(compiled.tallies) == 60_000
assert compiled.tallies == careful.tallies
assert (compiled.unique_symbols, compiled.first_seen, compiled.last_seen) == (
    careful.unique_symbols, careful.first_seen, careful.last_seen)
print("same report")
"""


def test_a_refused_mremap_falls_back_to_a_copy_with_the_same_report(tmp_path: Path) -> None:
    shim = tmp_path / "no_mremap.so"
    source = tmp_path / "no_mremap.c"
    source.write_text(SHIM)
    subprocess.run(
        [COMPILER, "-shared", "-fPIC", "-O1", "-o", str(shim), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True, text=True, timeout=300,
        env={"LD_PRELOAD": str(shim), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same report"
    refused = [line for line in done.stderr.splitlines() if line.startswith("mremap calls")]
    assert refused and int(refused[-1].rsplit(" ", 1)[1]) >= 3, done.stderr
