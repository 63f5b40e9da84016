"""Fuzz the compiled trace core (`stella_signals.trace._ctrace`, ADR 0008) directly, for memory
safety, at the speed of C.

Input: the trace harness's format (`fuzz_trace.make_input`: one control byte, then the trace);
the control byte picks the line limit, a short symbol-id limit and the chunk size (gzip is
the stream layer's, not the core's, so bit 0 has another use here); bit 6 makes the
one-chunk scan split every run of two lines or more between the core's two lanes (ADR 0010),
which scan in turn on one thread, or on two threads when bits 7 and 0 are set too (an eighth
of the inputs, the second lane on one long-lived thread: starting a thread costs ASan
hundreds of microseconds; the lanes share nothing).
The harness drives a `Scanner` as `parse_trace` does (feed, the purl verdicts, settle,
finish, result), with purl verdicts derived from the purl itself, and checks what the core
promises whatever the bytes:

* it counts every line (newlines, plus a last line without one), blank and overlong ones too;
* each event names a distinct line, in order, and a deferred line comes back byte for byte;
* records never outnumber lines; keys, edges and code ids decode as UTF-8;
* the same bytes give the same events and aggregates in one chunk as in small ones (the
  carried partial line is the core's most delicate memory), and in two lanes as in one.

Speed: the loop that drives the scanner runs in C (`_ctrace._fuzz_scan`, the same calls as
`scan` below, which stays as its reference: `tests/trace/test_fuzz_driver.py` holds them
equal), and the oracles format their messages only when they fail: under ASan, with
``PYTHONMALLOC=malloc``, every Python object a piece or a message costs is ASan's.

The pure-Python oracle (every report field equal to the careful parser's) is
`fuzz_trace.py`'s: its fast path *is* this core whenever the core is built.

`make fuzz` runs this harness on an AddressSanitizer + UBSan build of the extension
(`fuzz/build_ctrace.py`; with clang also coverage-guided by the C code): the environment
variable ``STELLA_CTRACE_SO`` names that build, loaded here in place of the installed one.
Without it (the regression replay in pytest) the installed extension is used; without any
extension the harness has nothing to fuzz and says so.
"""

from __future__ import annotations

import importlib

from _harness import (
    FUZZING,
    ContractViolation,
    load_variant,
    main,
    require,
    split_control,
)

load_variant("STELLA_CTRACE_SO", "stella_signals.trace._ctrace")

# Loaded before fuzz_trace, so that its instrumented() block finds the parser loaded: the
# Python code stays uninstrumented here.
importlib.import_module("stella_signals.trace")

import fuzz_trace  # noqa: E402
from fuzz_trace import limits_for as _limits_for  # noqa: E402

from stella_signals.limits import Limits  # noqa: E402
from stella_signals.trace._model import Tally  # noqa: E402
from stella_signals.trace._parse import _compiled_core  # noqa: E402

MAX_LEN = 4 * 1024
CHUNK_SIZES = (3, 16, 512, MAX_LEN * 2)
TWO_LANES = 64
LANE_THREADS = 128 | 1
MAX_EDGES = 64
make_input = fuzz_trace.make_input
UNSET = object()
DEFAULT_SPLIT_MIN = _compiled_core.Scanner(1, 1, 1, 1, 0).split_min if _compiled_core else 0
DEFER, OVERLONG, MISSING = 0, 1, 2


#: The limits of each control byte, built once (a `Limits` validates itself when built).
_LIMITS = {control: _limits_for(control) for control in range(256)}
limits_for = _LIMITS.__getitem__


def purl_is_good(purl: str) -> bool:
    """A verdict from the purl alone (deterministic; some good, some bad)."""
    return len(purl) % 3 != 0


def scan(pieces: list[bytes], limits: Limits, split_min: int | None = None) -> tuple[object, ...]:
    """Drive a Scanner as `parse_trace` does; its events, counts and aggregates."""
    assert _compiled_core is not None
    scanner = _compiled_core.Scanner(
        limits.max_line_bytes, limits.max_symbol_id_bytes, limits.max_records, MAX_EDGES, 0
    )
    if split_min is not None:
        scanner.split_min = split_min
    events: list[tuple[int, int, object]] = []
    for piece in [*pieces, None]:
        new = scanner.feed(piece) if piece is not None else scanner.finish()
        if new is None:
            continue
        if scanner.records > limits.max_records or scanner.edge_count > MAX_EDGES:
            return ("limit", scanner.records > limits.max_records)
        settled = scanner.settle([purl_is_good(p) for p in new])
        events += settled
        for line, kind, payload in settled:
            if kind == DEFER and line % 5 == 0:  # as the careful parser hands records back
                text = payload.decode("utf-8", "replace")
                symbol, container = text[:9].encode() or b"s", text[9:].encode() or None
                scanner.add(line, symbol, b"pkg:x", container, 1, line, None, None)
    tallies, edges, codes = scanner.result(Tally, UNSET)
    return ("scan", scanner.lines, scanner.records, events, tallies, edges, codes)


def fast_scan(
    trace: bytes,
    size: int,
    limits: Limits,
    split_min: int,
    *,
    threads: bool = False,
    lane_max_keys: int = -1,
) -> tuple[object, ...]:
    """`scan` of ``trace`` in ``size``-byte pieces, driven from C (`_ctrace._fuzz_scan`);
    ``lane_max_keys`` -1 keeps the scanner's threshold for giving up its second lane."""
    assert _compiled_core is not None
    result: tuple[object, ...] = _compiled_core._fuzz_scan(
        trace,
        size,
        limits.max_line_bytes,
        limits.max_symbol_id_bytes,
        limits.max_records,
        MAX_EDGES,
        split_min,
        threads,
        Tally,
        UNSET,
        lane_max_keys,
    )
    return result


def test_one_input(data: bytes) -> None:
    if _compiled_core is None:
        require(not FUZZING, "the compiled trace core is not built: nothing to fuzz")
        return
    control, trace = split_control(data)
    size = CHUNK_SIZES[(control >> 4) & 3]
    limits = limits_for(control)
    split_min = 1 if control & TWO_LANES else DEFAULT_SPLIT_MIN
    threads = split_min == 1 and control & LANE_THREADS == LANE_THREADS
    # Two lanes that give way to one after 0-3 distinct keys (two bits of the control byte;
    # the default, 16,384, is never reached by inputs this small): the merge mid-trace must
    # change nothing.
    lane_max_keys = (control >> 2) & 3 if control & TWO_LANES and control & 2 else -1
    whole = fast_scan(
        trace, max(len(trace), 1), limits, split_min, threads=threads, lane_max_keys=lane_max_keys
    )
    if size >= len(trace) and split_min == DEFAULT_SPLIT_MIN:
        pieces = whole  # one piece, one lane: the very same call, nothing to compare
    else:
        pieces = fast_scan(trace, size, limits, DEFAULT_SPLIT_MIN)
    if whole != pieces:
        raise ContractViolation(f"one chunk {whole!r} != {size}-byte chunks {pieces!r}")
    if whole[0] == "limit":
        return
    _, lines, records, events, tallies, edges, codes = whole
    assert isinstance(lines, int) and isinstance(records, int) and isinstance(events, list)
    expected = trace.count(b"\n") + (1 if trace and not trace.endswith(b"\n") else 0)
    require(lines == expected, f"{lines} lines counted, {expected} in the input")
    require(records <= lines, "more records than lines")
    assert isinstance(tallies, dict) and isinstance(edges, dict) and isinstance(codes, dict)
    require(sum(t.count for t in tallies.values()) >= records, "a record counted below 1")
    require(all(t.first <= t.last for t in tallies.values()), "first seen after last seen")
    require(set(codes) <= {key[0] for key in tallies}, "a code id for a symbol never seen")
    require(all(count >= 1 for count in edges.values()), "an edge counted below 1")
    numbers = [line for line, _, _ in events]
    require(numbers == sorted(set(numbers)), "events out of order or repeated")
    if not events:
        return
    require(1 <= numbers[0] and numbers[-1] <= lines, "an event past the last line")
    deferred = [(line, payload) for line, kind, payload in events if kind == DEFER]
    if deferred:
        text_lines = trace.split(b"\n")
        for line, payload in deferred:
            if payload != text_lines[line - 1]:
                raise ContractViolation(f"line {line} came back altered")


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
