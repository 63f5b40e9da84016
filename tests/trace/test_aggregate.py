"""Records aggregate by (symbol_id, purl, container): counts sum, first/last seen in UTC."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from stella_signals.trace import parse_trace
from tests.trace._lines import gz, line, ndjson


@pytest.mark.parametrize("fast", [True, False])
def test_counts_sum_and_first_last_seen(fast: bool) -> None:
    data = ndjson(
        line(count=2, timestamp="2026-01-01T00:00:05Z"),
        line(count=3, timestamp="2026-01-01T00:00:01Z"),
        line(count=4, timestamp="2026-01-01T01:00:09+01:00"),  # 00:00:09Z
        line(count=1, container="other"),
        line(count=1, purl="pkg:pypi/requests@2.32.0"),
        line(count=7, symbol_id="sym:python:other"),
    )
    report = parse_trace([data], _fast=fast)
    assert report.valid
    assert report.records == 6
    assert report.unique_symbols == 2
    main = [f for f in report.facts if f.count == 9]
    assert len(main) == 1
    fact = main[0]
    assert fact.first_seen == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert fact.last_seen == datetime(2026, 1, 1, 0, 0, 9, tzinfo=UTC)
    assert fact.last_seen.utcoffset() is not None and fact.last_seen.tzinfo is UTC
    assert len(report.facts) == 4
    assert [f.symbol_id for f in report.facts] == sorted(f.symbol_id for f in report.facts)


def test_missing_container_is_its_own_group() -> None:
    report = parse_trace([ndjson(line(container=...), line(container=...), line())])
    assert sorted((f.container is None, f.count) for f in report.facts) == [(False, 3), (True, 6)]


def test_sha256_and_size_are_of_the_bytes_as_sent() -> None:
    data = gz(ndjson(line(), line()))
    report = parse_trace([data[:10], data[10:]])
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size == len(data)


def test_code_ids_are_carried_per_symbol() -> None:
    report = parse_trace([ndjson(line(code_id="gnu-build-id:ab12"), line())])
    assert list(report.code_ids.values()) == ["gnu-build-id:ab12"]


def test_same_bytes_same_report() -> None:
    data = ndjson(*[line(count=i + 1, pid=i) for i in range(50)])
    assert parse_trace([data]) == parse_trace([data[:33], data[33:]])
