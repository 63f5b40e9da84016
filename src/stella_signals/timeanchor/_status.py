"""Whether the service may trust its clock now (SPEC §11): one `TimeStatus` per mode.

Pure functions of their inputs: the caller passes the verified anchor or the cached NTP
measurement and the one reference time of the ingest. A blocked status becomes
`TimeUntrusted` (an `Unavailable`: our side cannot vouch for time), which the API serves as
503 with ``Retry-After`` and ``signals-offline`` as exit 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from stella_signals.clock import format_utc
from stella_signals.errors import Unavailable
from stella_signals.limits import require_count
from stella_signals.timeanchor._anchor import AnchorTimeRefused, VerifiedAnchor

__all__ = [
    "DEFAULT_BUDGET_SECONDS",
    "DEFAULT_MAX_DRIFT_MS",
    "DEFAULT_RETRY_AFTER_SECONDS",
    "DEFAULT_SKEW_SECONDS",
    "DriftMeasurement",
    "TimeMode",
    "TimeReason",
    "TimeStatus",
    "TimeUntrusted",
    "anchor_status",
    "budget_crossed",
    "check_anchor_time",
    "ntp_status",
    "past_budget",
    "system_status",
]

#: ``time.anchor_budget_seconds``: how old an anchor may get before ingest is refused.
DEFAULT_BUDGET_SECONDS = 86_400
#: Tolerance added to the budget, and allowed for an anchor dated slightly in the future.
DEFAULT_SKEW_SECONDS = 5
#: ``time.max_drift_ms``: largest |local - reference| accepted in mode ``ntp``.
DEFAULT_MAX_DRIFT_MS = 200.0
#: ``Retry-After`` hint of a blocked status: how often asking again is worth it.
DEFAULT_RETRY_AFTER_SECONDS = 60

TimeReason = Literal["stale_time_anchor", "clock_drift"]


class TimeMode(StrEnum):
    """``time.mode`` (SPEC §11)."""

    SYSTEM = "system"
    NTP = "ntp"
    ANCHOR = "anchor"


@dataclass(frozen=True, slots=True)
class TimeStatus:
    """How far the clock can be trusted; ``blocked`` statuses refuse ingest.

    ``trusted`` is True only when a time source vouched for the clock (a fresh anchor, a
    small enough NTP drift). ``checked_at`` is the reference time the status is about (the
    measurement time in mode ``ntp``); ``source`` names the anchor source, the NTP server or
    ``system``.
    """

    mode: TimeMode
    trusted: bool
    source: str | None
    checked_at: datetime | None
    anchor_time: datetime | None
    staleness_seconds: float | None
    drift_ms: float | None
    blocked: bool
    reason: TimeReason | None
    retry_after_seconds: int | None
    message: str

    def __post_init__(self) -> None:
        if self.blocked != (self.reason is not None) or (self.blocked and self.trusted):
            raise ValueError("a TimeStatus is blocked exactly when it has a reason")

    @classmethod
    def judged(
        cls,
        mode: TimeMode,
        *,
        reason: TimeReason | None,
        message: str,
        source: str | None = None,
        checked_at: datetime | None = None,
        anchor_time: datetime | None = None,
        staleness_seconds: float | None = None,
        drift_ms: float | None = None,
        retry_after_seconds: int | None = None,
        vouched: bool = True,
    ) -> TimeStatus:
        """A status blocked exactly when it has a ``reason`` (then with its
        ``retry_after_seconds``), trusted when not blocked and a time source ``vouched``."""
        blocked = reason is not None
        return cls(
            mode=mode,
            trusted=vouched and not blocked,
            source=source,
            checked_at=checked_at,
            anchor_time=anchor_time,
            staleness_seconds=staleness_seconds,
            drift_ms=drift_ms,
            blocked=blocked,
            reason=reason,
            retry_after_seconds=retry_after_seconds if blocked else None,
            message=message,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for receipts, events and ``/api/v1/time/status``."""
        return {
            "mode": self.mode.value,
            "trusted": self.trusted,
            "source": self.source,
            "checked_at": None if self.checked_at is None else format_utc(self.checked_at),
            "anchor_time": None if self.anchor_time is None else format_utc(self.anchor_time),
            "staleness_seconds": self.staleness_seconds,
            "drift_ms": self.drift_ms,
            "blocked": self.blocked,
            "reason": self.reason,
            "retry_after_seconds": self.retry_after_seconds,
            "message": self.message,
        }

    def raise_for_blocked(self) -> None:
        """Raise `TimeUntrusted` when this status is blocked."""
        if self.blocked:
            raise TimeUntrusted(self)


class TimeUntrusted(Unavailable):
    """Time cannot be vouched for (reason ``stale_time_anchor`` or ``clock_drift``)."""

    default_reason = "stale_time_anchor"

    def __init__(self, status: TimeStatus) -> None:
        if not status.blocked:
            raise ValueError("TimeUntrusted needs a blocked TimeStatus")
        super().__init__(status.message, reason=status.reason)
        self.status = status
        if status.retry_after_seconds is not None:
            self.retry_after_seconds = status.retry_after_seconds


def anchor_status(
    anchor: VerifiedAnchor | None,
    *,
    now: datetime,
    budget_seconds: int = DEFAULT_BUDGET_SECONDS,
    skew_seconds: int = DEFAULT_SKEW_SECONDS,
    retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS,
) -> TimeStatus:
    """The status in mode ``anchor`` at ``now``.

    The budget is ``min(budget_seconds, anchor.valid_for_seconds)``; staleness is
    ``now - anchor_time`` and blocks (``stale_time_anchor``) when above budget + skew. No
    anchor blocks too. An anchor dated in the future within the skew counts as staleness 0;
    further ahead, the local clock is provably behind a signed time, which blocks with
    ``clock_drift`` and ``drift_ms`` = ``now - anchor_time`` (negative).
    """
    _require_aware(now)
    require_count(budget_seconds, "budget_seconds")
    require_count(skew_seconds, "skew_seconds", allow_zero=True)
    require_count(retry_after_seconds, "retry_after_seconds")
    if anchor is None:
        return TimeStatus.judged(
            TimeMode.ANCHOR,
            reason="stale_time_anchor",
            checked_at=now,
            retry_after_seconds=retry_after_seconds,
            message="no time anchor has been imported",
        )
    budget = min(budget_seconds, anchor.valid_for_seconds)
    elapsed = (now - anchor.anchor_time).total_seconds()
    anchored = format_utc(anchor.anchor_time)
    drift_ms: float | None = None
    reason: TimeReason | None = None
    if elapsed < -skew_seconds:
        drift_ms = elapsed * 1000
        reason = "clock_drift"
        message = (
            f"local clock is {-elapsed:.3f} s behind the time anchor {anchored} "
            f"(skew allowed: {skew_seconds} s)"
        )
    elif elapsed > budget + skew_seconds:
        reason = "stale_time_anchor"
        message = (
            f"time anchor {anchored} is {elapsed:.3f} s old, over the budget of {budget} s "
            f"+ {skew_seconds} s skew"
        )
    else:
        message = f"time anchor {anchored} is {max(elapsed, 0.0):.3f} s old (budget {budget} s)"
    return TimeStatus.judged(
        TimeMode.ANCHOR,
        reason=reason,
        source=anchor.source,
        checked_at=now,
        anchor_time=anchor.anchor_time,
        staleness_seconds=max(elapsed, 0.0),
        drift_ms=drift_ms,
        retry_after_seconds=retry_after_seconds,
        message=message,
    )


def check_anchor_time(
    anchor: VerifiedAnchor,
    *,
    now: datetime,
    current_time: datetime | None,
    skew_seconds: int = DEFAULT_SKEW_SECONDS,
) -> None:
    """Refuse, before it is kept, an anchor whose time cannot be trusted.

    ``anchor_in_future``: dated more than ``skew_seconds`` after ``now`` (kept, it would block
    the tenant as clock drift until the clock caught up). ``anchor_time_regressed``: older
    than ``current_time``, the time of the anchor it would replace (a higher counter must not
    rewind time). A current anchor itself dated ahead of ``now`` (kept before this check
    existed) binds nothing, so a correct anchor can replace it. Raises `AnchorTimeRefused`.
    """
    _require_aware(now)
    anchored = format_utc(anchor.anchor_time)
    ahead = (anchor.anchor_time - now).total_seconds()
    if ahead > skew_seconds:
        raise AnchorTimeRefused(
            f"time anchor {anchored} (counter {anchor.counter}) is dated {ahead:.3f} s after "
            f"the local clock {format_utc(now)} (skew allowed: {skew_seconds} s): refused; "
            "check this host's clock or the authority's",
            report=anchor.report,
            reason="anchor_in_future",
        )
    if (
        current_time is not None
        and (current_time - now).total_seconds() <= skew_seconds
        and anchor.anchor_time < current_time
    ):
        raise AnchorTimeRefused(
            f"time anchor {anchored} (counter {anchor.counter}) is older than the current "
            f"anchor {format_utc(current_time)}: a newer counter must not rewind time",
            report=anchor.report,
            reason="anchor_time_regressed",
        )


@dataclass(frozen=True, slots=True)
class DriftMeasurement:
    """One SNTP answer: ``drift_ms`` = local clock - reference (signed), from ``server``."""

    drift_ms: float
    server: str
    measured_at: datetime


def ntp_status(
    measurement: DriftMeasurement | None,
    *,
    max_drift_ms: float = DEFAULT_MAX_DRIFT_MS,
    retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS,
) -> TimeStatus:
    """The status in mode ``ntp``: blocked (``clock_drift``) when no server answered
    (``measurement`` is None) or ``|drift_ms| > max_drift_ms``."""
    if isinstance(max_drift_ms, bool) or not max_drift_ms >= 0:
        raise ValueError(f"max_drift_ms must be a non-negative number, got {max_drift_ms!r}")
    require_count(retry_after_seconds, "retry_after_seconds")
    if measurement is None:
        return TimeStatus.judged(
            TimeMode.NTP,
            reason="clock_drift",
            retry_after_seconds=retry_after_seconds,
            message="no NTP server answered recently",
        )
    drift = measurement.drift_ms
    blocked = abs(drift) > max_drift_ms
    return TimeStatus.judged(
        TimeMode.NTP,
        reason="clock_drift" if blocked else None,
        source=measurement.server,
        checked_at=measurement.measured_at,
        drift_ms=drift,
        retry_after_seconds=retry_after_seconds,
        message=(
            f"local clock is {drift:+.1f} ms off {measurement.server} "
            f"({'over' if blocked else 'within'} the {max_drift_ms:g} ms allowed)"
        ),
    )


def system_status(now: datetime) -> TimeStatus:
    """The status in mode ``system``: the local clock, recorded as untrusted, never blocked."""
    _require_aware(now)
    return TimeStatus.judged(
        TimeMode.SYSTEM,
        reason=None,
        vouched=False,
        source="system",
        checked_at=now,
        message="local system clock, not checked against any time source",
    )


def budget_crossed(previous: TimeStatus | None, current: TimeStatus) -> bool:
    """True when ``current`` is the first status past the anchor budget after ``previous``.

    Emit ``airgap.staleness.threshold`` then. Past the budget means blocked as
    ``stale_time_anchor`` with a staleness, so a missing anchor never counts; ``previous``
    None (nothing known yet) counts as not past it.
    """
    return past_budget(current) and not past_budget(previous)


def past_budget(status: TimeStatus | None) -> bool:
    """True when ``status`` blocks because its anchor is older than the budget."""
    return (
        status is not None
        and status.reason == "stale_time_anchor"
        and status.staleness_seconds is not None
    )


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
