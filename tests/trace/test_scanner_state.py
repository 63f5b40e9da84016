"""The compiled core's attributes while it scans and across its two lanes (ADR 0010): a
count is read only when no lane is writing it, and a key both lanes saw counts once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stella_signals.trace._model import Tally
from stella_signals.trace._parse import _compiled_core

pytestmark = pytest.mark.skipif(_compiled_core is None, reason="the compiled core is not built")

ATTRIBUTES = (
    "lines",
    "records",
    "edge_count",
    "nonblank",
    "key_count",
    "missing_budget",
    "suppressed",
    "split_min",
    "lane_max_keys",
)


@pytest.fixture(scope="module", autouse=True)
def core() -> Iterator[str]:
    """The Scanner is the compiled core's alone (overrides conftest's fixture)."""
    yield "compiled"


def _scanner(split_min: int | None = None) -> Any:
    assert _compiled_core is not None
    scanner = _compiled_core.Scanner(1 << 20, 1024, 10**9, 10**9, 7)
    if split_min is not None:
        scanner.split_min = split_min
    return scanner


def _line(symbol: str, container: str, second: int) -> bytes:
    return (
        f'{{"symbol_id":"{symbol}","purl":"pkg:pypi/a@1","timestamp":'
        f'"2026-01-01T00:00:{second:02d}Z","count":2,"pid":1,"container":"{container}"}}\n'
    ).encode()


def test_attributes_refuse_while_a_scan_runs() -> None:
    """feed() on another thread (the GIL released): every attribute raises instead of
    reading or writing a count a lane is writing; once the scan is done they answer."""
    refused: set[str] = set()
    for _ in range(5):  # the scan must still run when this thread looks: retried if not
        scanner = _scanner()
        chunk = b"\n" * 30_000_000  # empty lines: long to scan, nothing kept
        worker = threading.Thread(target=scanner.feed, args=(chunk,))
        worker.start()
        while worker.is_alive() and len(refused) <= len(ATTRIBUTES):
            for name in ATTRIBUTES:
                try:
                    getattr(scanner, name)
                except RuntimeError as exc:
                    assert "scanning" in str(exc)
                    refused.add(name)
            try:
                scanner.missing_budget = 5
            except RuntimeError:
                refused.add("missing_budget =")
        worker.join()
        assert scanner.lines == 30_000_000
        if refused == {*ATTRIBUTES, "missing_budget ="}:
            break
    assert refused == {*ATTRIBUTES, "missing_budget ="}


def test_key_count_counts_a_key_of_both_lanes_once() -> None:
    """The same keys in both halves of a split chunk: before the lanes are merged (result()
    merges them) key_count is the number of distinct keys, not the sum of the lanes'."""
    keys = [("s1", "c"), ("s2", "c"), ("s1", "d")]
    first = b"".join(_line(s, c, 1) for s, c in keys)
    second = b"".join(_line(s, c, 2) for s, c in [*keys, ("s3", "c")])
    scanner = _scanner(split_min=1)
    assert scanner.feed(first + second) == ["pkg:pypi/a@1", "pkg:pypi/a@1"]
    scanner.settle([True, True])
    assert scanner.finish() is None
    assert scanner.key_count == 4
    tallies, _, _ = scanner.result(Tally, None)
    assert len(tallies) == 4
    assert scanner.key_count == 4
    assert tallies[("s1", "pkg:pypi/a@1", "c")].count == 4


def test_settle_while_busy_refuses_before_it_reads_the_lanes() -> None:
    """settle() marks the scanner busy before it counts the new purls (which reads the second
    lane, that a feed() on another thread may be freeing): a settle() from inside a settle()
    (a verdict's __bool__) is refused as busy, whatever its list, not measured against the
    lanes. And a verdict that empties the list settles from a copy, not freed items."""
    scanner = _scanner(split_min=1)
    chunk = _line("s1", "c", 1) * 3 + _line("s2", "c", 2) * 3
    assert scanner.feed(chunk) == ["pkg:pypi/a@1", "pkg:pypi/a@1"]
    seen: list[str] = []
    verdicts: list[Any] = []

    class Verdict:
        def __bool__(self) -> bool:
            for good in ([], [True, True]):
                try:
                    scanner.settle(good)
                except RuntimeError as exc:
                    seen.append(str(exc))
            verdicts.clear()
            return True

    verdicts.extend([Verdict(), Verdict()])
    assert scanner.settle(verdicts) == []
    assert seen == ["Scanner used from two threads at once"] * 4
    assert scanner.finish() is None
    with pytest.raises(ValueError, match="one bool per new purl"):
        scanner.settle([True])
    tallies, _, _ = scanner.result(Tally, None)
    assert {key: tally.count for key, tally in tallies.items()} == {
        ("s1", "pkg:pypi/a@1", "c"): 6,
        ("s2", "pkg:pypi/a@1", "c"): 6,
    }


def test_result_is_the_last_act() -> None:
    """result() releases the scanner's tables while it builds the dicts (issue 19: a 10 M-record
    ingest held both at its peak): afterwards summary() and the counts answer as before, and
    every method that would need the tables refuses instead of reading freed memory. The
    arena is big enough (over a MiB of tallies, on both lanes) that pages are given back."""
    lines = b"".join(_line(f"s{n:06d}{'x' * 40}", f"c{n % 7}", n % 5 + 1) for n in range(20_000))
    scanner = _scanner(split_min=1)
    assert scanner.feed(lines) == ["pkg:pypi/a@1"] * 2
    scanner.settle([True, True])
    assert scanner.finish() is None
    before = scanner.summary()
    tallies, edges, codes = scanner.result(Tally, None)
    assert len(tallies) == scanner.key_count == 20_000
    assert scanner.records == 20_000
    assert sum(t.count for t in tallies.values()) == 40_000  # count 2 a line
    assert tallies[(f"s{19_999:06d}{'x' * 40}", "pkg:pypi/a@1", f"c{19_999 % 7}")].count == 2
    assert (edges, codes) == ({}, {})
    assert scanner.summary() == before
    assert (scanner.lines, scanner.edge_count) == (20_000, 0)
    for call in (
        lambda: scanner.feed(lines),
        scanner.finish,
        lambda: scanner.settle([]),
        lambda: scanner.add(1, b"s", b"pkg:pypi/a@1", None, 1, 0, None, None),
        lambda: scanner.result(Tally, None),
    ):
        with pytest.raises(RuntimeError, match=r"result\(\) was taken"):
            call()


def test_a_result_that_fails_half_way_still_answers_its_summary() -> None:
    """A failure while result() builds the dicts (here the tally type raising on its 1,000th
    call, after pages were given back) leaves a spent scanner: summary() and the counts
    answer from what result() kept, everything else refuses (the review of the early page
    release found summary() refusing too)."""
    lines = b"".join(_line(f"s{n:06d}{'x' * 40}", f"c{n % 7}", 1) for n in range(20_000))
    scanner = _scanner(split_min=1)
    scanner.settle([True] * len(scanner.feed(lines)))
    assert scanner.finish() is None
    before = scanner.summary()
    made = 0

    def failing_tally(*args: object) -> Tally:
        nonlocal made
        made += 1
        if made == 1_000:
            raise ValueError("the tally type failed")
        return Tally(*args)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="the tally type failed"):
        scanner.result(failing_tally, None)
    assert scanner.summary() == before
    assert (scanner.records, scanner.key_count) == (20_000, 20_000)
    with pytest.raises(RuntimeError, match=r"result\(\) was taken"):
        scanner.result(Tally, None)
