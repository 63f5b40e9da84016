"""Every timestamp RFC 3339 can write (issue 14, item 10a): accepted and summarised in UTC,
or refused with its line, field `timestamp` and a reason, by both parse paths alike.

Years 0000-9999, offsets -23:59..+23:59 (and Z), fractional seconds of any length, the leap
second :60, impossible dates. Far-past and far-future times whose UTC falls outside
0001-01-01..9999-12-31 are refused `out_of_range` (they cannot be stored as UTC).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stella_signals.trace import Reason, TraceReport, parse_trace
from tests._examples import examples
from tests.trace._lines import line, ndjson

REFUSALS = {Reason.INVALID_TIMESTAMP, Reason.OUT_OF_RANGE}
SETTINGS = settings(
    max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    year = draw(st.one_of(st.integers(0, 9999), st.sampled_from([0, 1, 2, 9998, 9999])))
    month = draw(st.integers(1, 12))
    day = draw(st.one_of(st.integers(1, 28), st.integers(29, 31), st.sampled_from([1, 31])))
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    second = draw(st.one_of(st.integers(0, 59), st.just(60)))
    fraction = draw(st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=9)))
    sep = draw(st.sampled_from(["T", "t", " "]))
    if draw(st.booleans()):
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    else:
        sign = draw(st.sampled_from("+-"))
        zone = f"{sign}{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}"
    frac = f".{fraction}" if fraction else ""
    return f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{frac}{zone}"


def reference_utc(value: str) -> datetime | None:
    """The UTC instant ``value`` names, when it is a real date, not a leap second, and to the
    microsecond inside datetime's range; None otherwise. Written independently of msgspec."""
    date, time = value[:10], value[11:]
    year, month, day = (int(part) for part in date.split("-"))
    if year < 1 or day > calendar.monthrange(year, month)[1]:
        return None
    hour, minute = int(time[0:2]), int(time[3:5])
    rest = time[6:]
    zone_at = next(i for i, c in enumerate(rest) if c in "Zz+-")
    seconds, zone = Decimal(rest[:zone_at]), rest[zone_at:]
    if seconds >= 60:
        return None
    offset = (
        0
        if zone in "Zz"
        else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
    )
    micros = int((seconds * 1_000_000).to_integral_value())
    try:
        local = datetime(year, month, day, hour, minute, tzinfo=UTC)
        return local + timedelta(microseconds=micros) - timedelta(minutes=offset)
    except OverflowError:
        return None


def _parse(value: str, fast: bool) -> TraceReport:
    other = "sym:python:" + "z" * 43
    # the same key as a good record (updates its tally), then a key of its own (opens one)
    data = ndjson(line(), line(timestamp=value), line(timestamp=value, symbol_id=other))
    return parse_trace([data], _fast=fast)


def _check(value: str) -> None:
    fast, careful = _parse(value, True), _parse(value, False)
    assert fast == careful  # TraceReport equality: counts, diagnostics, summary
    expected = reference_utc(value)
    if fast.valid:
        assert fast.records == 3 and fast.unique_symbols == 2
        assert fast.first_seen is not None and fast.last_seen is not None
        assert fast.first_seen.tzinfo is UTC and fast.last_seen.tzinfo is UTC
        seen = {f.first_seen for f in fast.facts} | {f.last_seen for f in fast.facts}
        assert all(moment.tzinfo is UTC for moment in seen)
        # accepted: the reference agrees it is a time, to the microsecond (rounding aside)
        assert expected is not None, value
        moment = next(f.first_seen for f in fast.facts if "z" * 43 in f.symbol_id)
        assert abs(moment - expected) <= timedelta(microseconds=1)
    else:
        assert [(d.line, d.field) for d in fast.errors] == [(2, "timestamp"), (3, "timestamp")]
        assert {d.reason for d in fast.errors} <= REFUSALS
        assert fast.records == 1
        # refused: not a time, or outside the range once in UTC; or, sub-microsecond digits
        # rounded past the last microsecond of 9999 (the reference rounds half to even)
        last = datetime.max.replace(tzinfo=UTC)
        rounded_past_the_end = expected is not None and last - expected < timedelta(microseconds=1)
        assert expected is None or rounded_past_the_end, value


@SETTINGS
@given(rfc3339())
@example("0001-01-01T00:00:00+01:00")
@example("9999-12-31T23:59:59-01:00")
@example("0001-01-01T00:59:59.999999+01:00")
@example("0001-01-01T01:00:00+01:00")
@example("9999-12-31T23:59:59.999999Z")
@example("9999-12-31T00:00:00-23:59")
@example("0000-12-31T23:00:00-01:00")
@example("2016-12-31T23:59:60Z")
def test_every_rfc3339_timestamp_is_summarised_or_refused_with_its_line(value: str) -> None:
    _check(value)


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"], ids=["past", "future"]
)
@pytest.mark.parametrize("fast", [True, False])
def test_far_times_out_of_utc_range_are_refused_not_a_crash(value: str, fast: bool) -> None:
    report = parse_trace([ndjson(line(), line(timestamp=value))], _fast=fast)
    assert [(d.line, d.field, d.reason) for d in report.errors] == [
        (2, "timestamp", Reason.OUT_OF_RANGE)
    ]
    assert report.records == 1
    assert report.first_seen == report.last_seen == datetime(2026, 1, 1, tzinfo=UTC)
