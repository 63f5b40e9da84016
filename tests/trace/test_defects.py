"""The named table of bad traces (issue: Bad input): each defect, its reason code and line."""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import pytest

from stella_signals.limits import Limits
from stella_signals.trace import Reason, Severity, parse_trace
from tests.trace._lines import GOOD, gz, line, ndjson

OK = line()


@dataclass(frozen=True)
class Defect:
    name: str
    data: bytes
    #: (line, field, reason) of the expected first error, or None for a valid trace.
    error: tuple[int | None, str | None, Reason] | None
    warnings: tuple[tuple[int | None, str | None, Reason], ...] = ()
    file_name: str = "runtime-trace.ndjson"


DEFECTS = (
    [
        Defect("valid plain", ndjson(OK, OK), None),
        Defect("valid gzip", gz(ndjson(OK, OK)), None, file_name="runtime-trace.ndjson.gz"),
        Defect(
            "not gzip but named .gz",
            ndjson(OK),
            None,
            warnings=((None, None, Reason.NOT_GZIP),),
            file_name="runtime-trace.ndjson.gz",
        ),
        Defect(
            "truncated gzip",
            gz(ndjson(OK, OK, OK))[:-12],
            (None, None, Reason.DECOMPRESSION_FAILED),
        ),
        Defect(
            "corrupt gzip body",
            gz(ndjson(OK))[:12] + b"\x00" * 40,
            (None, None, Reason.DECOMPRESSION_FAILED),
        ),
        Defect("concatenated gzip members", gz(ndjson(OK)) + gz(ndjson(OK)), None),
        Defect(
            "garbage after gzip member",
            gz(ndjson(OK)) + b"garbage!",
            (None, None, Reason.DECOMPRESSION_FAILED),
        ),
        Defect(
            "invalid UTF-8", ndjson(OK, b'{"symbol_id":"\xff\xfe"}'), (2, None, Reason.INVALID_UTF8)
        ),
        Defect("BOM", b"\xef\xbb\xbf" + ndjson(OK), None, warnings=((1, None, Reason.BOM),)),
        Defect("CRLF line ends", ndjson(OK, OK, end=b"\r\n"), None),
        Defect("non-object line", ndjson(OK, b"[1,2,3]"), (2, None, Reason.NOT_AN_OBJECT)),
        Defect("JSON string line", ndjson(b'"hello"'), (1, None, Reason.NOT_AN_OBJECT)),
        Defect("invalid JSON", ndjson(OK, b'{"symbol_id":'), (2, None, Reason.INVALID_JSON)),
        Defect(
            "NaN is not JSON",
            ndjson(line(count=1)[:-1] + b',"x":NaN}'),
            (1, None, Reason.INVALID_JSON),
        ),
        Defect(
            "duplicate keys",
            ndjson(OK, line()[:-1] + b',"count":5}'),
            (2, "count", Reason.DUPLICATE_KEY),
        ),
        Defect(
            "duplicate unknown keys",
            ndjson(line()[:-1] + b',"x":1,"x":2}'),
            (1, "x", Reason.DUPLICATE_KEY),
        ),
        Defect("count 0", ndjson(line(count=0)), (1, "count", Reason.OUT_OF_RANGE)),
        Defect("count negative", ndjson(line(count=-5)), (1, "count", Reason.OUT_OF_RANGE)),
        Defect("count float", ndjson(line(count=1.0)), (1, "count", Reason.WRONG_TYPE)),
        Defect("count bool", ndjson(line(count=True)), (1, "count", Reason.WRONG_TYPE)),
        Defect("count string", ndjson(line(count="3")), (1, "count", Reason.WRONG_TYPE)),
        Defect("count over 2^53-1", ndjson(line(count=2**53)), (1, "count", Reason.OUT_OF_RANGE)),
        Defect("count exactly 2^53-1", ndjson(line(count=2**53 - 1)), None),
        Defect("pid negative", ndjson(line(pid=-1)), (1, "pid", Reason.OUT_OF_RANGE)),
        Defect("pid string", ndjson(line(pid="42")), (1, "pid", Reason.WRONG_TYPE)),
        Defect("pid null", ndjson(line(pid=None)), (1, "pid", Reason.WRONG_TYPE)),
        Defect("container number", ndjson(line(container=7)), (1, "container", Reason.WRONG_TYPE)),
        Defect("code_id number", ndjson(line(code_id=7)), (1, "code_id", Reason.WRONG_TYPE)),
        Defect("bad purl", ndjson(line(purl="requests==2.31")), (1, "purl", Reason.INVALID_PURL)),
        Defect("purl without type", ndjson(line(purl="pkg:")), (1, "purl", Reason.INVALID_PURL)),
        Defect("pkg:unknown placeholder", ndjson(line(purl="pkg:unknown")), None),
        Defect(
            "naive timestamp",
            ndjson(line(timestamp="2026-01-01T00:00:00")),
            (1, "timestamp", Reason.NAIVE_TIMESTAMP),
        ),
        Defect(
            "bad timestamp",
            ndjson(line(timestamp="yesterday")),
            (1, "timestamp", Reason.INVALID_TIMESTAMP),
        ),
        Defect(
            "timestamp number",
            ndjson(line(timestamp=1700000000)),
            (1, "timestamp", Reason.WRONG_TYPE),
        ),
        Defect("timestamp with offset", ndjson(line(timestamp="2026-01-01T02:00:00+02:00")), None),
        Defect(
            "empty symbol_id",
            ndjson(line(symbol_id="")),
            (1, "symbol_id", Reason.INVALID_SYMBOL_ID),
        ),
        Defect(
            "symbol_id over 1024 bytes",
            ndjson(line(symbol_id="é" * 513)),
            (1, "symbol_id", Reason.INVALID_SYMBOL_ID),
        ),
        Defect("symbol_id exactly 1024 bytes", ndjson(line(symbol_id="é" * 512)), None),
        Defect(
            "unpaired surrogate",
            ndjson(line(symbol_id="\ud800")),
            (1, "symbol_id", Reason.INVALID_UTF8),
        ),
        Defect("empty file", b"", (None, None, Reason.EMPTY_TRACE)),
        Defect("only blank lines", b"\n\n  \n\r\n", (None, None, Reason.EMPTY_TRACE)),
        Defect("empty gzip", gz(b""), (None, None, Reason.EMPTY_TRACE)),
        Defect("blank lines between records", ndjson(OK, b"", b"   ", OK), None),
        Defect(
            "unknown field kept with a warning",
            ndjson(line()[:-1] + b',"thread":"main"}'),
            None,
            warnings=((1, "thread", Reason.UNKNOWN_FIELD),),
        ),
        Defect(
            "pid and container absent",
            ndjson(line(pid=..., container=...)),
            None,
            warnings=(
                (1, "pid", Reason.MISSING_OPTIONAL_FIELD),
                (1, "container", Reason.MISSING_OPTIONAL_FIELD),
            ),
        ),
        Defect(
            "line over the limit",
            ndjson(OK, line(process_name="x" * (64 * 1024)), OK),
            (2, None, Reason.LINE_TOO_LONG),
        ),
        Defect("no final newline", ndjson(OK) + OK, None),
    ]
    + [
        Defect(
            f"missing {field}", ndjson(OK, line(**{field: ...})), (2, field, Reason.MISSING_FIELD)
        )
        for field in ("symbol_id", "purl", "timestamp", "count")
    ]
    + [
        Defect(f"{field} wrong type", ndjson(line(**{field: ["x"]})), (1, field, Reason.WRONG_TYPE))
        for field in ("symbol_id", "purl", "timestamp", "count", "pid", "container")
    ]
)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "careful"])
@pytest.mark.parametrize("defect", DEFECTS, ids=[d.name for d in DEFECTS])
def test_each_defect_is_named_with_line_field_and_reason(defect: Defect, fast: bool) -> None:
    report = parse_trace([defect.data], name=defect.file_name, _fast=fast)
    if defect.error is None:
        assert report.valid, report.errors
    else:
        assert not report.valid
        first = report.errors[0]
        assert (first.line, first.field, first.reason) == defect.error or (
            defect.error[0] is None and (first.field, first.reason) == defect.error[1:]
        ), first
        assert first.message
    got_warnings = {(w.line, w.field, w.reason) for w in report.warnings}
    assert set(defect.warnings) <= got_warnings
    if not defect.warnings and defect.error is None:
        assert report.warning_count == 0, report.warnings


def test_every_bad_line_is_explained_not_just_the_first() -> None:
    data = ndjson(line(count=0), OK, b"[]", line(purl="nope"), OK, b"\xff")
    seen: list[tuple[int | None, str]] = []
    report = parse_trace([data], on_diagnostic=lambda d: seen.append((d.line, d.reason.value)))
    assert [(d.line, d.reason) for d in report.errors] == [
        (1, Reason.OUT_OF_RANGE),
        (3, Reason.NOT_AN_OBJECT),
        (4, Reason.INVALID_PURL),
        (6, Reason.INVALID_UTF8),
    ]
    assert seen == [(d.line, d.reason.value) for d in report.diagnostics]
    assert report.records == 2  # the good lines still count


def test_one_line_can_have_several_field_errors() -> None:
    report = parse_trace([ndjson(line(count=0, purl="x", timestamp="soon"))])
    fields = {(d.field, d.reason) for d in report.errors}
    assert fields == {
        ("count", Reason.OUT_OF_RANGE),
        ("purl", Reason.INVALID_PURL),
        ("timestamp", Reason.INVALID_TIMESTAMP),
    }


def test_diagnostics_kept_are_bounded_but_all_are_counted_and_sunk() -> None:
    bad = ndjson(*[line(count=0)] * 50)
    sunk: list[object] = []
    report = parse_trace([bad], limits=Limits(max_kept_diagnostics=10), on_diagnostic=sunk.append)
    assert report.error_count == 50
    assert len(report.diagnostics) == 10
    assert len(sunk) == 50


def test_warnings_are_not_errors() -> None:
    report = parse_trace([ndjson(line(pid=...))])
    assert report.valid
    assert [w.severity for w in report.warnings] == [Severity.WARNING]


def test_gzip_detected_by_magic_not_name() -> None:
    data = gz(ndjson(OK))
    report = parse_trace([data], name="trace.json")
    assert report.valid and report.gzip and report.records == 1
    assert gzip.decompress(data) == ndjson(OK)
    assert GOOD["count"] == 3
