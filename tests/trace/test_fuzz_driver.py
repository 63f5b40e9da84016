"""The fuzz harness of the compiled core drives it from C (`_ctrace._fuzz_scan`, for speed
under ASan); its Python `scan` is the reference that driver must equal, input for input:
the same events, counts, aggregates or limit, in one chunk and in small pieces, in one lane
and in two (in turn and on two threads)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stella_signals.trace._parse import _compiled_core

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
if str(FUZZ) not in sys.path:
    sys.path.insert(0, str(FUZZ))

pytestmark = pytest.mark.skipif(_compiled_core is None, reason="the compiled core is not built")


@pytest.fixture(scope="module", autouse=True)
def core() -> Iterator[str]:
    """The driver is the compiled core's alone (overrides conftest's fixture)."""
    yield "compiled"


def _inputs() -> list[bytes]:
    folders = (FUZZ / "regressions" / "ctrace", FUZZ / "corpus" / "ctrace")
    found = [p.read_bytes() for f in folders if f.is_dir() for p in sorted(f.iterdir())]
    assert found, "no ctrace seeds: run fuzz/make_corpus.py"
    return found


def test_the_c_driver_gives_the_python_drivers_result() -> None:
    import fuzz_ctrace as harness
    from _harness import chunks, split_control

    for data in _inputs():
        control, trace = split_control(data)
        limits = harness.limits_for(control)
        for size in (*harness.CHUNK_SIZES, max(len(trace), 1)):
            for split_min in (1, 64, harness.DEFAULT_SPLIT_MIN):
                expected: Any = harness.scan(list(chunks(trace, size)), limits, split_min)
                for threads in (False, True):
                    got = harness.fast_scan(trace, size, limits, split_min, threads=threads)
                    assert got == expected, (data[:60], size, split_min, threads)


def test_the_harness_keeps_its_contract_on_every_seed() -> None:
    import fuzz_ctrace as harness

    for data in _inputs():
        for control in (0x00, 0x40, 0xC1, 0x70):  # one lane; two in turn; on threads
            harness.test_one_input(bytes([control]) + data[1:])
