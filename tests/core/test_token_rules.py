"""The pure rules of token expiry and standing (`stella_signals.auth`): durations, expiry
times, and which of revoked / expired / active a stored token is at a given instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stella_signals.auth import (
    TokenRequest,
    TokenStatus,
    parse_duration,
    parse_expiry_time,
    token_expiry,
    token_status,
)
from stella_signals.errors import InvalidInput

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("30m", 1800), ("12h", 43200), ("90d", 7_776_000), ("2w", 1_209_600),
     ("1h30m", 5400), ("30m1h", 5400), ("1d0h", 86400)],
)  # fmt: skip
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "0s", "0d0h", "90", "d", "1.5h", "-1d", "1 d", "1D", "P1D", "1y", "1" * 10 + "s",
             "999999999w", "1s" * 40]
)  # fmt: skip
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text)
    assert caught.value.reason == "invalid_expiry"


def test_expiry_times_are_instants_in_utc() -> None:
    assert parse_expiry_time("2027-01-01T01:00:00+01:00") == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_expiry_time("2027-01-01T00:00:00Z").tzinfo is UTC
    too_long = "2027-01-01T00:00:00Z" + " " * 64
    for bad in ("2027-01-01", "2027-01-01T00:00:00", "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59-01:00", "soon", too_long):  # fmt: skip
        with pytest.raises(InvalidInput):
            parse_expiry_time(bad)


def test_an_expiry_is_one_thing_and_in_the_future() -> None:
    hour = timedelta(hours=1)
    assert token_expiry(now=NOW, expires_in=None, expires_at=None) is None
    assert token_expiry(now=NOW, expires_in=hour, expires_at=None) == NOW + hour
    assert token_expiry(now=NOW, expires_in=None, expires_at=NOW + hour) == NOW + hour
    for expires_in, expires_at in ((hour, NOW + hour), (None, NOW), (None, NOW - hour)):
        with pytest.raises(InvalidInput):
            token_expiry(now=NOW, expires_in=expires_in, expires_at=expires_at)
    with pytest.raises(InvalidInput):
        token_expiry(now=datetime(9999, 12, 31, tzinfo=UTC), expires_in=timedelta(days=2),
                     expires_at=None)  # fmt: skip


def test_a_token_request_is_read_once_for_both_front_doors() -> None:
    request = TokenRequest.parse(
        ["signals:read,signals:write"], expires_in="1h30m", expires_at=None
    )
    assert request.scopes == {"signals:read", "signals:write"}
    assert request.expiry(NOW) == NOW + timedelta(minutes=90)
    assert (
        TokenRequest.parse(["signals:admin"], expires_in=None, expires_at=None).expiry(NOW) is None
    )
    # the first wrong field is the one named: scopes, then the duration, then the time
    for scopes, expires_in, expires_at, reason in (
        (["signals:nope"], "soon", "never", "unknown_scope"),
        (["signals:read"], "soon", "never", "invalid_expiry"),
        (["signals:read"], None, "2026-03-01T00:00:00", "invalid_expiry"),
    ):
        with pytest.raises(InvalidInput) as caught:
            TokenRequest.parse(scopes, expires_in=expires_in, expires_at=expires_at)
        assert caught.value.reason == reason
    both = TokenRequest.parse(["signals:read"], expires_in="1h", expires_at="2027-01-01T00:00:00Z")
    with pytest.raises(InvalidInput, match="not both"):
        both.expiry(NOW)


def test_standing_at_an_instant() -> None:
    at = NOW + timedelta(hours=1)
    tick = timedelta(microseconds=1)
    assert token_status(revoked_at=None, expires_at=None, now=NOW) is TokenStatus.ACTIVE
    assert token_status(revoked_at=None, expires_at=at, now=at - tick) is TokenStatus.ACTIVE
    assert token_status(revoked_at=None, expires_at=at, now=at) is TokenStatus.EXPIRED
    # revoked wins, whatever the expiry
    assert token_status(revoked_at=NOW, expires_at=at, now=NOW) is TokenStatus.REVOKED
    assert token_status(revoked_at=NOW, expires_at=NOW, now=at) is TokenStatus.REVOKED


@pytest.mark.parametrize(
    "text",
    ["20270101T000000Z", "2027-01-01T00:00Z", "2027-01-01T00:00:00.1234567Z",
     "2027-01-01T00:00:00+0100", "2027-W01-1T00:00:00Z", "2027-01-01 00:00:00Z"],
)  # fmt: skip
def test_only_rfc3339_times_are_expiry_times(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_expiry_time(text)


def test_rfc3339_spellings() -> None:
    want = datetime(2027, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    for text in ("2027-01-01T00:00:00.5Z", "2027-01-01t00:00:00.500000z",
                 "2027-01-01T01:00:00.5+01:00"):  # fmt: skip
        assert parse_expiry_time(text) == want
