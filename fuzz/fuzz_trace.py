"""Fuzz the runtime-trace parser, `stella_signals.trace.parse_trace` (SPEC §2, ADR 0001).

Input: one control byte, then the trace. The control byte picks gzip-wrapping (bit 0), the
line limit (bits 1-2), a short symbol-id limit (bit 3) and the chunk size the stream arrives
in (bits 4-5). Oracles beyond the contract:

* the fast path and the careful path (``_fast=False``) give equal reports, or pass the same
  limit, on the same chunks;
* the same bytes in one chunk give the same report, with two exceptions that depend on how
  far the stream had got: the compression-ratio limit, and a corrupt gzip stream (zlib
  returns no output from the call that fails, so the lines before the damage that get
  parsed depend on the chunking; both reports must still be invalid, with the same hash).
"""

from __future__ import annotations

from _harness import chunks, gzip_wrap, instrumented, main, require, split_control

with instrumented():
    from stella_signals.errors import LimitExceeded
    from stella_signals.limits import Limits
    from stella_signals.trace import Reason, TraceReport, parse_trace

MAX_LEN = 64 * 1024
LINE_LIMITS = (16, 200, 4096, 64 * 1024)
CHUNK_SIZES = (1, 7, 512, MAX_LEN * 2)
#: Single-byte chunks cost a Python call per byte: only for short inputs.
ONE_BYTE_CHUNKS_UP_TO = 4096
GZIP, SHORT_SYMBOL_IDS = 1, 8

Outcome = tuple[str, object]


def make_input(trace: bytes, *, control: int = 0) -> bytes:
    """A harness input: ``control`` (see the module docstring), then the trace bytes."""
    return bytes([control]) + trace


def limits_for(control: int) -> Limits:
    return Limits(
        max_compressed_bytes=1 << 20,
        max_decompressed_bytes=4 << 20,
        ratio_grace_bytes=256 << 10,
        max_line_bytes=LINE_LIMITS[(control >> 1) & 3],
        max_records=5000,
        max_kept_diagnostics=64,
        max_symbol_id_bytes=32 if control & SHORT_SYMBOL_IDS else 1024,
    )


def outcome(pieces: list[bytes], limits: Limits, *, fast: bool) -> Outcome:
    """The report, or the name of the limit the stream passed."""
    try:
        report: TraceReport = parse_trace(pieces, name="t.ndjson.gz", limits=limits, _fast=fast)
    except LimitExceeded as exc:
        return ("limit", exc.limit)
    require(report.valid == (report.error_count == 0), "valid disagrees with error_count")
    require(report.records <= report.lines, "more records than lines")
    return ("report", report)


def test_one_input(data: bytes) -> None:
    control, trace = split_control(data)
    body = gzip_wrap(trace) if control & GZIP else trace
    size = CHUNK_SIZES[(control >> 4) & 3]
    if size == 1 and len(body) > ONE_BYTE_CHUNKS_UP_TO:
        size = CHUNK_SIZES[1]
    pieces = list(chunks(body, size))
    limits = limits_for(control)
    fast = outcome(pieces, limits, fast=True)
    careful = outcome(pieces, limits, fast=False)
    require(fast == careful, f"fast path {fast!r} != careful path {careful!r}")
    whole = outcome([body], limits, fast=True)
    if isinstance(whole[1], TraceReport) and isinstance(fast[1], TraceReport):
        if broken_gzip(whole[1]) or broken_gzip(fast[1]):
            require(not whole[1].valid and not fast[1].valid, "a corrupt gzip stream is valid")
            require(whole[1].sha256 == fast[1].sha256, "same bytes, another sha256")
            return
    if "max_compression_ratio" not in (whole[1], fast[1]):
        require(whole == fast, f"one chunk {whole!r} != {size}-byte chunks {fast!r}")


def broken_gzip(report: TraceReport) -> bool:
    return any(d.reason is Reason.DECOMPRESSION_FAILED for d in report.diagnostics)


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
