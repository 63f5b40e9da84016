"""ULIDs (SPEC §1): ingest ids and event ids.

A ULID is 128 bits written as 26 characters of Crockford base32 (``0-9 A-Z`` without
``I L O U``): a 48-bit Unix time in milliseconds, then 80 random bits. Ids sort by time as
strings. We emit and accept only the canonical form: upper case, no ``I L O U``, first
character ``0``-``7`` (the top two of the 130 encoded bits are zero).

`new_ulid` is stateless: two ids made in the same millisecond sort randomly between them.
`MonotonicUlids` keeps the last id and makes ids strictly increasing for one generator (the
ULID spec's monotonic mode); nothing orders ids across processes, which is why the timeline
orders events by ``seq``, never by ``event_id``.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from stella_signals.clock import Clock
from stella_signals.errors import InvalidInput

__all__ = ["MonotonicUlids", "new_ulid", "parse_ulid", "ulid_time"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUES = {char: index for index, char in enumerate(_ALPHABET)}
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_RANDOM_BITS = 80
_RANDOM_BYTES = _RANDOM_BITS // 8
_MAX_RANDOM = (1 << _RANDOM_BITS) - 1


def _millis(clock: Clock) -> int:
    moment = clock.now()
    if moment.tzinfo is None:
        raise ValueError("clock returned a naive datetime")
    # `datetime` ends in 9999, far below 2^48 ms (year 10889): only the lower bound can fail.
    millis = (moment - _EPOCH) // _MS
    if millis < 0:
        raise ValueError(f"time {moment.isoformat()} is outside the ULID range")
    return millis


def _random(randbytes: Callable[[int], bytes]) -> int:
    data = randbytes(_RANDOM_BYTES)
    if len(data) != _RANDOM_BYTES:
        raise ValueError(f"randbytes returned {len(data)} bytes, expected {_RANDOM_BYTES}")
    return int.from_bytes(data, "big")


def _encode(millis: int, random: int) -> str:
    value = (millis << _RANDOM_BITS) | random
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_ulid(clock: Clock, *, randbytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A new ULID for ``clock.now()`` with 80 bits from ``randbytes`` (not monotonic)."""
    return _encode(_millis(clock), _random(randbytes))


class MonotonicUlids:
    """A thread-safe ULID source whose ids strictly increase.

    Within one millisecond, or when the clock steps back, the next id keeps the last id's
    time and adds 1 to its random part; should that part overflow (practically never), the time
    moves on by one millisecond.
    """

    def __init__(
        self, clock: Clock, *, randbytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> None:
        self._clock = clock
        self._randbytes = randbytes
        self._lock = threading.Lock()
        self._last: tuple[int, int] | None = None

    def __call__(self) -> str:
        millis = _millis(self._clock)
        with self._lock:
            if self._last is None or millis > self._last[0]:
                random = _random(self._randbytes)
            else:
                millis, random = self._last
                random += 1
                if random > _MAX_RANDOM:
                    millis, random = millis + 1, _random(self._randbytes)
            self._last = (millis, random)
        return _encode(millis, random)


def parse_ulid(text: object) -> str:
    """Return ``text`` if it is a canonical ULID, else raise `InvalidInput` (``invalid_id``)."""
    if not isinstance(text, str):
        raise InvalidInput(f"id must be a string, got {type(text).__name__}", reason="invalid_id")
    if not _ULID.fullmatch(text):
        raise InvalidInput(
            f"invalid id {text[:40]!r}: expected a ULID, 26 characters of upper-case "
            "Crockford base32 (no I, L, O, U) starting with 0-7",
            reason="invalid_id",
        )
    return text


def ulid_time(ulid: str) -> datetime:
    """The UTC time (millisecond precision) a ULID carries; `InvalidInput` if malformed or
    past the year 9999."""
    millis = 0
    for char in parse_ulid(ulid)[:10]:
        millis = (millis << 5) | _VALUES[char]
    try:
        return _EPOCH + millis * _MS
    except OverflowError:
        raise InvalidInput(
            f"id {ulid} carries a time past the year 9999", reason="invalid_id"
        ) from None
