"""A byte order mark is found however the stream splits it (found by fuzz_ctrace: a gzip
trace sent in small pieces inflated to a first chunk of one or two bytes, and the mark was
then read as invalid UTF-8 on line 1)."""

from __future__ import annotations

import pytest

from stella_signals.trace import Reason, parse_trace
from tests.trace._lines import gz, line, ndjson

DATA = b"\xef\xbb\xbf" + ndjson(line(), line())


@pytest.mark.parametrize("pieces", [[DATA[:1], DATA[1:]], [DATA[:2], DATA[2:]], [DATA]])
def test_a_split_mark_is_still_the_mark(pieces: list[bytes]) -> None:
    report = parse_trace(pieces)
    assert report.valid and report.records == 2
    assert [d.reason for d in report.warnings] == [Reason.BOM]


def test_a_gzip_stream_in_small_pieces() -> None:
    body = gz(DATA)
    report = parse_trace([body[i : i + 3] for i in range(0, len(body), 3)])
    assert report.valid and [d.reason for d in report.warnings] == [Reason.BOM]


@pytest.mark.parametrize("data", [b"\xef", b"\xef\xbb", b"\xef\xbb\n" + line()])
def test_a_part_of_the_mark_is_not_one(data: bytes) -> None:
    report = parse_trace([data[:1], data[1:]])
    assert Reason.BOM not in {d.reason for d in report.diagnostics}
