"""The per-tenant, hash-chained, append-only timeline (SPEC §7): events and their checks."""

from stella_signals.timeline._chain import (
    BreakReason,
    ChainBreak,
    ChainReport,
    ImportedOrigin,
    check_chain,
    verify_chain,
)
from stella_signals.timeline._event import (
    MAX_EVENT_BYTES,
    MAX_SAFE_INTEGER,
    EventType,
    FailureReason,
    InvalidEvent,
    TimelineEvent,
    events_to_ndjson,
    next_event,
    parse_event,
    read_events_ndjson,
)

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_SAFE_INTEGER",
    "BreakReason",
    "ChainBreak",
    "ChainReport",
    "EventType",
    "FailureReason",
    "ImportedOrigin",
    "InvalidEvent",
    "TimelineEvent",
    "check_chain",
    "events_to_ndjson",
    "next_event",
    "parse_event",
    "read_events_ndjson",
    "verify_chain",
]
