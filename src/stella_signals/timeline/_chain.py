"""Per-tenant hash-chain verification, two faces: `check_chain` reports, `verify_chain` raises.

Both stream: they hold only the previous event, so an export of any length checks in constant
memory, and a long chain can be checked page by page by passing each report's ``head`` as the
next call's ``start_after``. A hash chain proves order and integrity up to its last event; it
cannot tell that events were cut off the end unless the caller knows the expected head.

Events imported from an offline site (sync) carry ``attributes.origin``: the report lists
each with the site key that vouched for it when it was imported (``origin.keyid``, part of
the hashed event, so nobody can change it afterwards without breaking the chain).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from stella_signals.errors import VerificationFailed
from stella_signals.tenancy import parse_tenant
from stella_signals.timeline._event import TimelineEvent

__all__ = [
    "BreakReason",
    "ChainBreak",
    "ChainReport",
    "ImportedOrigin",
    "check_chain",
    "verify_chain",
]


class BreakReason(StrEnum):
    """Why a chain is broken at an event."""

    #: The stored ``hash`` is not the hash of the event's content.
    HASH_MISMATCH = "hash_mismatch"
    #: ``prev_hash`` is not the previous event's ``hash`` (or null after seq 1).
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    #: ``seq`` skips ahead: events are missing (also a chain not starting at seq 1).
    SEQ_GAP = "seq_gap"
    #: ``seq`` repeats or goes back: a duplicate or reordered event.
    SEQ_NOT_INCREASING = "seq_not_increasing"
    #: The event belongs to another tenant than the chain.
    TENANT_MISMATCH = "tenant_mismatch"
    #: The event with seq 1 has a non-null ``prev_hash``.
    FIRST_PREV_NOT_NULL = "first_prev_not_null"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first event at which the chain does not hold."""

    seq: int
    event_id: str
    reason: BreakReason
    message: str
    #: 1-based position of the event in the checked sequence.
    position: int


@dataclass(frozen=True, slots=True)
class ImportedOrigin:
    """An event imported from an offline site: where it came from and who vouched for it."""

    seq: int
    event_id: str
    origin_event_id: str | None
    origin_seq: int | None
    #: The site key that signed the batch it came in; None for an import made before
    #: imports had to be signed.
    keyid: str | None

    @classmethod
    def of(cls, event: TimelineEvent) -> ImportedOrigin | None:
        origin = event.attributes.get("origin")
        if not isinstance(origin, Mapping):
            return None
        origin_id, origin_seq, keyid = (origin.get(k) for k in ("event_id", "seq", "keyid"))
        return cls(
            seq=event.seq,
            event_id=event.event_id,
            origin_event_id=origin_id if isinstance(origin_id, str) else None,
            origin_seq=origin_seq if isinstance(origin_seq, int) else None,
            keyid=keyid if isinstance(keyid, str) else None,
        )

    @property
    def message(self) -> str:
        vouched = (
            f"vouched for by site key {self.keyid}"
            if self.keyid is not None
            else "vouched for by no site key (imported unsigned)"
        )
        return (
            f"seq {self.seq} (event {self.event_id}) imported from site event "
            f"{self.origin_event_id} (seq {self.origin_seq}), {vouched}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "origin_event_id": self.origin_event_id,
            "origin_seq": self.origin_seq,
            "keyid": self.keyid,
        }


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Outcome of `check_chain`; checking stops at the first break."""

    #: Events examined, the broken one included.
    events_checked: int
    first_break: ChainBreak | None
    #: The last event found sound (``start_after`` if none was): resume from here.
    head: TimelineEvent | None
    #: The events found sound that were imported from an offline site, in chain order.
    imported: tuple[ImportedOrigin, ...] = ()

    @property
    def ok(self) -> bool:
        return self.first_break is None

    @property
    def message(self) -> str:
        if self.first_break is not None:
            brk = self.first_break
            return (
                f"timeline broken at seq {brk.seq} (event {brk.event_id}, position "
                f"{brk.position}): {brk.reason.value}: {brk.message}"
            )
        if self.head is None:
            return "timeline intact: no events"
        return (
            f"timeline intact: {self.events_checked} event(s) checked, head seq "
            f"{self.head.seq} {self.head.hash}"
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON object for reports and logs."""
        brk = self.first_break
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "first_break": None
            if brk is None
            else {
                "seq": brk.seq,
                "event_id": brk.event_id,
                "reason": brk.reason.value,
                "message": brk.message,
                "position": brk.position,
            },
            "head_seq": None if self.head is None else self.head.seq,
            "head_hash": None if self.head is None else self.head.hash,
            "message": self.message,
            "imported": [origin.to_dict() for origin in self.imported],
        }


def _problem(
    event: TimelineEvent, previous: TimelineEvent | None, tenant: str | None
) -> tuple[BreakReason, str] | None:
    if tenant is not None and event.tenant != tenant:
        return BreakReason.TENANT_MISMATCH, f"tenant is {event.tenant!r}, chain is {tenant!r}"
    expected_seq = 1 if previous is None else previous.seq + 1
    if event.seq < expected_seq:
        return BreakReason.SEQ_NOT_INCREASING, f"seq {event.seq} after seq {expected_seq - 1}"
    if event.seq > expected_seq:
        return BreakReason.SEQ_GAP, f"expected seq {expected_seq}, found seq {event.seq}"
    if previous is None and event.prev_hash is not None:
        return BreakReason.FIRST_PREV_NOT_NULL, f"seq 1 has prev_hash {event.prev_hash}"
    if previous is not None and event.prev_hash != previous.hash:
        return (
            BreakReason.PREV_HASH_MISMATCH,
            f"prev_hash is {event.prev_hash}, previous event's hash is {previous.hash}",
        )
    computed = event.computed_hash()
    if event.hash != computed:
        return BreakReason.HASH_MISMATCH, f"stored hash {event.hash}, content hashes to {computed}"
    return None


def check_chain(
    events: Iterable[TimelineEvent],
    *,
    tenant: str | None = None,
    start_after: TimelineEvent | None = None,
) -> ChainReport:
    """Check that ``events`` form one tenant's chain, in order; never raises for a break.

    Without ``start_after`` the chain must start at seq 1; with it (an event the caller
    already trusts, not re-checked) the first event must follow it. The tenant is
    ``tenant``, else ``start_after``'s, else the first event's. Errors raised while iterating
    ``events`` (e.g. `InvalidEvent` from `read_events_ndjson`) propagate.
    """
    expected_tenant = None if tenant is None else parse_tenant(tenant)
    if start_after is not None:
        if expected_tenant is not None and start_after.tenant != expected_tenant:
            raise ValueError(
                f"start_after belongs to tenant {start_after.tenant!r}, not {expected_tenant!r}"
            )
        expected_tenant = start_after.tenant
    previous = start_after
    checked = 0
    imported: list[ImportedOrigin] = []
    for event in events:
        checked += 1
        if expected_tenant is None:
            expected_tenant = event.tenant
        problem = _problem(event, previous, expected_tenant)
        if problem is not None:
            reason, message = problem
            brk = ChainBreak(event.seq, event.event_id, reason, message, checked)
            return ChainReport(checked, brk, previous, tuple(imported))
        origin = ImportedOrigin.of(event)
        if origin is not None:
            imported.append(origin)
        previous = event
    return ChainReport(checked, None, previous, tuple(imported))


def verify_chain(
    events: Iterable[TimelineEvent],
    *,
    tenant: str | None = None,
    start_after: TimelineEvent | None = None,
) -> ChainReport:
    """`check_chain`, raising `VerificationFailed` (reason ``timeline_broken``) on a break."""
    report = check_chain(events, tenant=tenant, start_after=start_after)
    if not report.ok:
        raise VerificationFailed(report.message, reason="timeline_broken")
    return report
