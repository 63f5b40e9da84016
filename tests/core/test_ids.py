"""ULIDs (SPEC §1): format, time, ordering, monotonic mode and the table of bad ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from stella_signals.clock import FixedClock
from stella_signals.errors import InvalidInput
from stella_signals.ids import MonotonicUlids, new_ulid, parse_ulid, ulid_time

ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
T0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def zeros(n: int) -> bytes:
    return bytes(n)


def test_spec_vector() -> None:
    # The example of the ULID specification: time 1469918176385 ms, random TSV4RRFFQ69G5FAV.
    at = datetime(1970, 1, 1, tzinfo=UTC) + 1469918176385 * MS
    value = 0
    for char in "TSV4RRFFQ69G5FAV":
        value = value * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    ulid = new_ulid(FixedClock(at), randbytes=lambda n: value.to_bytes(n, "big"))
    assert ulid == "01ARYZ6S41TSV4RRFFQ69G5FAV"
    assert ulid_time(ulid) == at


def test_format_and_time() -> None:
    ulid = new_ulid(FixedClock(T0))
    assert ULID_RE.match(ulid)
    assert parse_ulid(ulid) == ulid
    assert ulid_time(ulid) == T0
    # Sub-millisecond precision is dropped, never rounded up.
    assert ulid_time(new_ulid(FixedClock(T0 + timedelta(microseconds=999)))) == T0
    # Any aware time is read as its UTC instant.
    tokyo = T0.astimezone(timezone(timedelta(hours=9)))
    assert ulid_time(new_ulid(FixedClock(tokyo))) == T0


def test_random_part_comes_from_randbytes() -> None:
    assert new_ulid(FixedClock(T0), randbytes=zeros).endswith("0" * 16)
    assert new_ulid(FixedClock(T0), randbytes=lambda n: b"\xff" * n).endswith("Z" * 16)
    assert new_ulid(FixedClock(T0)) != new_ulid(FixedClock(T0))


def test_ids_sort_by_time() -> None:
    clock = FixedClock(T0)
    ids = []
    for _ in range(50):
        ids.append(new_ulid(clock, randbytes=lambda n: b"\xff" * n))
        clock.advance(MS)
        ids.append(new_ulid(clock, randbytes=zeros))
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_monotonic_within_one_millisecond() -> None:
    make = MonotonicUlids(FixedClock(T0))
    ids = [make() for _ in range(1000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 1000
    assert {ulid_time(i) for i in ids} == {T0}


def test_monotonic_when_the_clock_steps_back() -> None:
    clock = FixedClock(T0)
    make = MonotonicUlids(clock, randbytes=zeros)
    first = make()
    clock.advance(-timedelta(seconds=5))
    second = make()
    assert second > first
    assert ulid_time(second) == T0
    clock.advance(timedelta(seconds=10))
    third = make()
    assert third > second
    assert ulid_time(third) == T0 + timedelta(seconds=5)


def test_monotonic_overflow_moves_to_next_millisecond() -> None:
    make = MonotonicUlids(FixedClock(T0), randbytes=lambda n: b"\xff" * n)
    first, second = make(), make()
    assert second > first
    assert ulid_time(second) == T0 + MS


def test_time_before_1970() -> None:
    # 2^48 ms reach the year 10889, beyond `datetime`: only the lower bound can be hit.
    with pytest.raises(ValueError, match="outside the ULID range"):
        new_ulid(FixedClock(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)))


def test_bad_randbytes_and_naive_clock() -> None:
    with pytest.raises(ValueError, match="expected 10"):
        new_ulid(FixedClock(T0), randbytes=lambda n: b"\x00" * (n - 1))

    class Naive:
        def now(self) -> datetime:
            return datetime(2025, 1, 1)  # a naive datetime: the point of the test

    with pytest.raises(ValueError, match="naive"):
        new_ulid(Naive())


def test_extremes() -> None:
    assert ulid_time("0" * 26) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_ulid("7" + "Z" * 25) == "7" + "Z" * 25
    with pytest.raises(InvalidInput, match="9999") as info:
        ulid_time("7" + "Z" * 25)
    assert info.value.reason == "invalid_id"


GOOD = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
BAD_IDS: dict[str, object] = {
    "empty": "",
    "too-short": GOOD[:-1],
    "too-long": GOOD + "0",
    "lower-case": GOOD.lower(),
    "mixed-case": GOOD[:-1] + "v",
    "letter-I": GOOD[:-1] + "I",
    "letter-L": GOOD[:-1] + "L",
    "letter-O": GOOD[:-1] + "O",
    "letter-U": GOOD[:-1] + "U",
    "first-char-8": "8" + GOOD[1:],
    "first-char-Z": "Z" + GOOD[1:],
    "hyphenated-uuid": "01890a5d-ac96-774b-bcce-b302099a8057",
    "trailing-newline": GOOD + "\n",
    "leading-space": " " + GOOD[1:],
    "fullwidth-digit": "\uff10" + GOOD[1:],
    "arabic-digit": "\u0660" + GOOD[1:],
    "bytes": GOOD.encode(),
    "none": None,
    "int": 123,
}


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_bad_ids(bad: object) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_ulid(bad)
    assert info.value.reason == "invalid_id"


@pytest.mark.parametrize("bad", [v for v in BAD_IDS.values() if isinstance(v, str)])
def test_ulid_time_rejects_bad_ids(bad: str) -> None:
    with pytest.raises(InvalidInput):
        ulid_time(bad)
