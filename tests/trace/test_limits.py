"""Every limit is enforced while streaming (SPEC §2 defaults, all configurable)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import pytest

from stella_signals.errors import LimitExceeded
from stella_signals.limits import DEFAULT_LIMITS, Limits
from stella_signals.trace import Reason, parse_trace
from tests.trace._lines import gz, line, ndjson


def gzip_bomb(decompressed: int) -> Iterator[bytes]:
    """A gzip stream of zeros, produced lazily: the test never holds it whole."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    for _ in range(decompressed // len(block)):
        yield compressor.compress(block)
    yield compressor.flush()


def test_defaults_are_the_spec_values() -> None:
    assert DEFAULT_LIMITS.max_compressed_bytes == 512 * 1024**2
    assert DEFAULT_LIMITS.max_decompressed_bytes == 8 * 1024**3
    assert DEFAULT_LIMITS.max_compression_ratio == 200
    assert DEFAULT_LIMITS.ratio_grace_bytes == 1024**2
    assert DEFAULT_LIMITS.max_line_bytes == 64 * 1024
    assert DEFAULT_LIMITS.max_records == 50_000_000


def test_limits_are_frozen_and_checked() -> None:
    with pytest.raises(AttributeError):
        DEFAULT_LIMITS.max_records = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="max_records"):
        Limits(max_records=0)


def test_gzip_bomb_is_refused_by_ratio_without_inflating_it() -> None:
    consumed = 0

    def counting() -> Iterator[bytes]:
        nonlocal consumed
        for chunk in gzip_bomb(1024 * 1024**2):  # 1 GiB of zeros, ~1 MiB compressed
            consumed += len(chunk)
            yield chunk

    with pytest.raises(LimitExceeded) as caught:
        parse_trace(counting())
    assert caught.value.limit == "max_compression_ratio"
    assert caught.value.reason == "too_large"
    assert consumed < 200 * 1024  # stopped early, long before the whole bomb was read


def test_ratio_is_not_checked_below_the_grace_size() -> None:
    data = gz(ndjson(*[line()] * 2000))  # very repetitive, small
    assert parse_trace([data]).valid


def test_compressed_size_limit() -> None:
    data = ndjson(*[line()] * 100)
    with pytest.raises(LimitExceeded) as caught:
        parse_trace([data[:1000], data[1000:]], limits=Limits(max_compressed_bytes=1000))
    assert caught.value.limit == "max_compressed_bytes"


def test_decompressed_size_limit() -> None:
    data = gz(ndjson(*[line()] * 100))
    with pytest.raises(LimitExceeded) as caught:
        parse_trace([data], limits=Limits(max_decompressed_bytes=5000))
    assert caught.value.limit == "max_decompressed_bytes"


def test_record_count_limit() -> None:
    limits = Limits(max_records=10)
    assert parse_trace([ndjson(*[line()] * 10)], limits=limits).records == 10
    with pytest.raises(LimitExceeded) as caught:
        parse_trace([ndjson(*[line()] * 11)], limits=limits)
    assert caught.value.limit == "max_records"


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 1 << 16])
def test_overlong_line_is_named_and_skipped_whatever_the_chunking(chunk_size: int) -> None:
    limits = Limits(max_line_bytes=300)
    data = ndjson(line(), line(process_name="p" * 400), line(), line(process_name="q" * 5000))
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    report = parse_trace(chunks, limits=limits)
    assert [(d.line, d.reason) for d in report.errors] == [
        (2, Reason.LINE_TOO_LONG),
        (4, Reason.LINE_TOO_LONG),
    ]
    assert report.records == 2


def test_overlong_final_line_without_newline() -> None:
    limits = Limits(max_line_bytes=300)
    data = ndjson(line()) + line(process_name="p" * 400)
    report = parse_trace([data[:50], data[50:]], limits=limits)
    assert [(d.line, d.reason) for d in report.errors] == [(2, Reason.LINE_TOO_LONG)]


def test_line_exactly_at_the_limit_is_fine_even_with_crlf() -> None:
    body = line()
    limits = Limits(max_line_bytes=len(body))
    assert parse_trace([body + b"\r\n" + body + b"\n"], limits=limits).valid


# A review found this on the compiled core: a last line without its newline, whose purl the
# scan had not seen yet, waited for the purl check and was counted when it settled, with no
# diagnostic to report; the limits were checked only after lines that brought diagnostics.
_LAST_A = (
    b'{"symbol_id":"a","purl":"pkg:x/a@1","timestamp":"2026-01-01T00:00:00Z","count":1,'
    b'"pid":1,"container":"c","caller_symbol_id":"x"}'
)
_LAST_B = (
    b'{"symbol_id":"b","purl":"pkg:x/b@1","timestamp":"2026-01-01T00:00:00Z","count":1,'
    b'"pid":1,"container":"c","caller_symbol_id":"a"}'
)


@pytest.mark.parametrize("newline", [b"", b"\n"], ids=["no-final-newline", "final-newline"])
@pytest.mark.parametrize(
    ("limits", "name"),
    [(Limits(max_records=1), "max_records"), (Limits(max_edges=1), "max_edges")],
    ids=["records", "edges"],
)
def test_a_last_line_with_a_new_purl_cannot_pass_a_limit(
    limits: Limits, name: str, newline: bytes
) -> None:
    with pytest.raises(LimitExceeded) as refused:
        parse_trace(
            [_LAST_A + b"\n" + _LAST_B + newline], limits=limits, on_diagnostic=lambda _: None
        )
    assert refused.value.limit == name
