"""Blank-line gzip bombs (issue 14, item 6): refused by ratio after the first MiB of output,
and runs of blank lines skipped in bulk. Timings are in reliability/bombs.py, not here."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest

from stella_signals.errors import LimitExceeded
from stella_signals.limits import DEFAULT_LIMITS, Limits
from stella_signals.trace import Reason, parse_trace
from stella_signals.trace._stream import StreamStats, decompressed_chunks, line_batches
from tests.trace._bombs import GiB, MiB, NewlineBomb, rechunked
from tests.trace._lines import gz, line, ndjson

BOMBS = [
    pytest.param(1 * GiB, b"\n", id="1MB-to-1GiB-LF"),
    pytest.param(10 * GiB, b"\n", id="10MB-to-10GiB-LF"),
    pytest.param(1 * GiB, b"\r\n", id="1GiB-CRLF"),
]


def test_the_bomb_is_the_gzip_it_claims_to_be() -> None:
    bomb = NewlineBomb(3 * MiB)
    data = bomb.as_bytes()
    assert len(data) == bomb.compressed_size
    assert gzip.decompress(data) == b"\n" * (3 * MiB)
    assert NewlineBomb(1 * GiB).compressed_size < 1.1e6  # the "1 MB gzip of 1 GiB"


@pytest.mark.parametrize(("size", "line_end"), BOMBS)
def test_a_newline_bomb_read_in_1_MiB_chunks_is_refused_after_a_few_MiB(
    size: int, line_end: bytes
) -> None:
    """Read as a file is (1 MiB reads: the whole 1 GiB bomb arrives in the first read), the
    ratio is still checked against the gzip bytes inflated so far, so inflating stops at the
    first check past 1 MiB of output, not after 200 MiB."""
    bomb = NewlineBomb(size, line_end)
    stats = StreamStats()
    with pytest.raises(LimitExceeded) as caught:
        for _ in line_batches(
            decompressed_chunks(rechunked(bomb), stats, DEFAULT_LIMITS), stats, DEFAULT_LIMITS
        ):
            pass
    assert caught.value.limit == "max_compression_ratio"
    assert caught.value.reason == Reason.TOO_LARGE.value
    assert stats.decompressed_bytes <= 2 * MiB
    assert stats.inflated_bytes < 8 * 1024
    assert bomb.blocks_made * len(bomb.piece) <= 2 * MiB  # two 1 MiB reads at most


@pytest.mark.parametrize(("size", "line_end"), BOMBS)
def test_parse_trace_refuses_the_bomb_naming_the_ratio(size: int, line_end: bytes) -> None:
    with pytest.raises(LimitExceeded) as caught:
        parse_trace(rechunked(NewlineBomb(size, line_end)), name="bomb.ndjson.gz")
    assert caught.value.limit == "max_compression_ratio"
    assert caught.value.reason == "too_large"
    assert "200:1" in str(caught.value)


def test_a_normal_trace_passes_the_ratio_check() -> None:
    """Real records compress about 10:1; the check is on the whole trace so far."""
    lines = [line(symbol_id=f"sym:python:{i:040d}", count=i % 7 + 1) for i in range(40_000)]
    data = gz(ndjson(*lines))
    assert len(gzip.decompress(data)) > 4 * DEFAULT_LIMITS.ratio_grace_bytes
    report = parse_trace(rechunked([data]))
    assert report.valid and report.records == 40_000


def test_ratio_counts_every_member_of_a_multi_member_gzip() -> None:
    member = gz(ndjson(*[line()] * 2000))
    body = member * 400  # ~200 KiB of repetitive gzip members, ~100 MiB of NDJSON
    with pytest.raises(LimitExceeded) as caught:
        parse_trace([body])
    assert caught.value.limit == "max_compression_ratio"


def test_blank_blocks_never_reach_the_parser() -> None:
    stats = StreamStats()
    data = b"\n" * (3 * MiB) + line() + b"\n" + b"\r\n" * MiB
    chunks = [data[i : i + MiB] for i in range(0, len(data), MiB)]
    batches = list(line_batches(chunks, stats, DEFAULT_LIMITS))
    # the blocks of nothing but blank lines are counted; only the block holding the record
    # (and the CRLF blank lines after it) is a batch
    assert len(batches) == 1 and batches[0].first_line == 3 * MiB + 1
    assert batches[0].lines[0] == line()
    assert stats.blank_lines + len(batches[0].lines) == 4 * MiB + 1


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("chunk", [7, 1000, MiB])
def test_blank_lines_keep_line_numbers_and_counts(fast: bool, chunk: int) -> None:
    data = (
        b"\n" * 5000
        + line()
        + b"\n\r\n\n"
        + line(count=0)
        + b"\n"
        + b"\r\n" * 3000
        + line(pid=...)
        + b"\n \n\n"
        + line()
    )
    report = parse_trace([data[i : i + chunk] for i in range(0, len(data), chunk)], _fast=fast)
    assert report.records == 3
    assert report.lines == data.count(b"\n") + 1 == 8008
    assert [(d.line, d.field, d.reason) for d in report.diagnostics] == [
        (5004, "count", Reason.OUT_OF_RANGE),
        (8005, "pid", Reason.MISSING_OPTIONAL_FIELD),
    ]


def test_only_blank_lines_is_an_empty_trace() -> None:
    report = parse_trace(rechunked([b"\n" * (3 * MiB)]))
    assert report.lines == 3 * MiB
    assert [d.reason for d in report.errors] == [Reason.EMPTY_TRACE]


def test_a_plain_newline_flood_is_counted_not_parsed_line_by_line() -> None:
    """No ratio applies to plain NDJSON: 64 MiB of newlines is just counted, block by block."""
    body = b"\n" * (64 * MiB) + line() + b"\n"
    stats = StreamStats()

    def source() -> Iterator[bytes]:
        yield from (body[i : i + MiB] for i in range(0, len(body), MiB))

    batches = list(
        line_batches(decompressed_chunks(source(), stats, DEFAULT_LIMITS), stats, DEFAULT_LIMITS)
    )
    assert [(b.first_line, b.lines) for b in batches] == [(64 * MiB + 1, [line()])]
    assert stats.blank_lines == 64 * MiB


def test_the_grace_is_configurable() -> None:
    with pytest.raises(LimitExceeded):
        parse_trace([NewlineBomb(4 * MiB).as_bytes()], limits=Limits(ratio_grace_bytes=MiB))
    report = parse_trace(
        [NewlineBomb(4 * MiB).as_bytes()], limits=Limits(ratio_grace_bytes=8 * MiB)
    )
    assert [d.reason for d in report.errors] == [Reason.EMPTY_TRACE]
