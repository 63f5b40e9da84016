"""One RFC 3339 date-time parser; how strict it is is a parameter of the caller's format.

Every form accepted has ``Z`` or a numeric offset (a local time is ambiguous) and yields an
aware datetime in UTC. The strictness levels, loosest first:

- `Rfc3339.FULL`: RFC 3339 §5.6 ``date-time`` as written: ``T``/``Z`` in either case, any
  number of fraction digits (kept to the microsecond).
- `Rfc3339.MICROS`: as FULL with at most six fraction digits.
- `Rfc3339.UPPER_MICROS`: as MICROS with an upper-case ``T`` and ``Z`` only.
- `Rfc3339.CANONICAL`: only the one spelling `clock.format_utc` writes (UTC, ``Z``, six
  fraction digits only when the microseconds are non-zero), for values hashed as text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum

from stella_signals.clock import format_utc

__all__ = ["Rfc3339", "parse_rfc3339"]


class Rfc3339(Enum):
    FULL = "full"
    MICROS = "micros"
    UPPER_MICROS = "upper_micros"
    CANONICAL = "canonical"


_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})([Tt])(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def parse_rfc3339(text: str, strictness: Rfc3339 = Rfc3339.FULL) -> datetime | None:
    """``text`` as an aware UTC datetime, or None when it is not a date-time of the given
    strictness (or names no instant between years 1 and 9999 in UTC)."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, t, hour, minute, second, fraction, z, sign, off_h, off_m = match.groups()
    if strictness is not Rfc3339.FULL and fraction is not None and len(fraction) > 6:
        return None
    if strictness in (Rfc3339.UPPER_MICROS, Rfc3339.CANONICAL) and (t == "t" or z == "z"):
        return None
    offset = timedelta(0)
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        offset = -offset if sign == "-" else offset
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            tzinfo=timezone(offset),
        ).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: the UTC instant is outside 1..9999
        return None
    if strictness is Rfc3339.CANONICAL and format_utc(moment) != text:
        return None
    return moment
