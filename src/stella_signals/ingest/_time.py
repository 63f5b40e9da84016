"""Which time an ingest may trust (SPEC §11): the local clock (``system``, recorded as
untrusted), NTP drift measured in the background (``ntp``), or the tenant's newest signed
time anchor (``anchor``). A blocked status refuses the ingest (503 / exit 5)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from stella_signals.attest import load_public_key
from stella_signals.clock import Clock, format_utc
from stella_signals.ids import new_ulid
from stella_signals.ports import EventDraft, KeyPurpose, Repository, TrustStore
from stella_signals.tenancy import TenantId
from stella_signals.timeanchor import (
    DEFAULT_BUDGET_SECONDS,
    DEFAULT_MAX_DRIFT_MS,
    DriftMonitor,
    TimeMode,
    TimeStatus,
    VerifiedAnchor,
    anchor_status,
    check_anchor,
    check_anchor_time,
    ntp_status,
    past_budget,
    system_status,
    verify_anchor,
)
from stella_signals.timeline import EventType

__all__ = ["TimeKeeper", "TimeSettings", "import_anchor"]


@dataclass(frozen=True, kw_only=True)
class TimeSettings:
    mode: TimeMode = TimeMode.SYSTEM
    ntp_servers: tuple[str, ...] = ()
    max_drift_ms: float = DEFAULT_MAX_DRIFT_MS
    anchor_budget_seconds: int = DEFAULT_BUDGET_SECONDS


@dataclass
class TimeKeeper:
    settings: TimeSettings
    repo: Repository
    clock: Clock
    monitor: DriftMonitor | None = None
    #: (tenant, anchor_time) whose crossing is known to be on the timeline.
    _crossed: set[tuple[str, str]] = field(default_factory=set)
    _latest: TimeStatus | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, tenant: TenantId, *, record: bool = True) -> TimeStatus:
        """The tenant's time status now.

        With ``record`` (the checks of ingests and orphan retries), the first check past the
        anchor budget appends ``airgap.staleness.threshold``: once per anchor, whichever
        process or restart sees it first. Read-only callers (status pages, `time-anchor
        status`) pass ``record=False`` and write nothing.
        """
        now = self.clock.now()
        mode = self.settings.mode
        if mode is TimeMode.NTP:
            current = self.monitor.current() if self.monitor is not None else None
            status = ntp_status(current, max_drift_ms=self.settings.max_drift_ms)
        elif mode is TimeMode.ANCHOR:
            status = anchor_status(
                self._anchor(tenant), now=now, budget_seconds=self.settings.anchor_budget_seconds
            )
        else:
            status = system_status(now)
        with self._lock:
            self._latest = status
        if record and past_budget(status) and status.anchor_time is not None:
            self._record_crossing(tenant, status, now, format_utc(status.anchor_time))
        return status

    def _record_crossing(
        self, tenant: TenantId, status: TimeStatus, now: datetime, anchor_time: str
    ) -> None:
        """``airgap.staleness.threshold`` for this anchor, unless some process wrote it."""
        with self._lock:
            if (tenant, anchor_time) in self._crossed:
                return
        self.repo.append_event_once(
            tenant,
            EventDraft(
                event_id=new_ulid(self.clock),
                event_type=EventType.AIRGAP_STALENESS_THRESHOLD.value,
                occurred_at=now,
                source="signals",
                correlation_id=None,
                attributes={
                    "staleness_seconds": status.staleness_seconds,
                    "budget_seconds": self.settings.anchor_budget_seconds,
                    "anchor_time": anchor_time,
                },
            ),
            same={"anchor_time": anchor_time},
        )
        with self._lock:
            self._crossed.add((tenant, anchor_time))

    def latest(self) -> TimeStatus | None:
        """The most recent status computed for any tenant (for metrics)."""
        with self._lock:
            return self._latest

    def _anchor(self, tenant: TenantId) -> VerifiedAnchor | None:
        stored = self.repo.latest_time_anchor(tenant)
        if stored is None:
            return None
        counter, envelope = stored
        trusted = [
            load_public_key(key.public_pem)
            for key in self.repo.list_trusted_keys(tenant, KeyPurpose.TIME)
        ]
        try:  # re-verified every time: revoking a time key takes effect at once
            return verify_anchor(envelope, trusted=trusted, last_counter=counter - 1)
        except Exception:
            return None


def import_anchor(repo: TrustStore, clock: Clock, tenant: TenantId, data: bytes) -> VerifiedAnchor:
    """Verify an anchor with the tenant's time keys and keep it. Refused: a replay (counter
    not above the last), an untrusted signature, and a time that cannot be right (dated
    ahead of the clock, or older than the current anchor: `AnchorTimeRefused`)."""
    stored = repo.latest_time_anchor(tenant)
    trusted = [
        load_public_key(key.public_pem) for key in repo.list_trusted_keys(tenant, KeyPurpose.TIME)
    ]
    anchor = verify_anchor(data, trusted=trusted, last_counter=stored[0] if stored else None)
    # The current anchor was verified when it was kept; only its claimed time matters here.
    current = check_anchor(stored[1], trusted=[], last_counter=None).claims if stored else None
    check_anchor_time(
        anchor, now=clock.now(), current_time=current.anchor_time if current else None
    )
    repo.add_time_anchor(
        tenant,
        counter=anchor.counter,
        anchor_time=anchor.anchor_time,
        envelope=anchor.envelope,
        at=clock.now(),
    )
    return anchor
