"""The timeline event (SPEC §7): model, hash, parsing at the edge and NDJSON export lines.

An event is hashed as the RFC 8785 bytes of its JSON object without the ``hash`` key; the
JSON object (`TimelineEvent.to_dict`) is exactly what is hashed, stored and served. Events
are valid by construction (well-formed fields); whether the hashes and the chain hold is a
separate question for `check_chain`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from stella_signals.canonical import canonical_json
from stella_signals.clock import format_utc
from stella_signals.errors import InvalidInput, InvalidTenant
from stella_signals.ids import parse_ulid
from stella_signals.strictjson import DuplicateKeyError, loads_strict
from stella_signals.tenancy import TenantId, parse_tenant
from stella_signals.wire import (
    MAX_SAFE_INTEGER,
    JsonValueFault,
    NotJsonValue,
    Rfc3339,
    freeze_checked,
    json_pointer,
    parse_rfc3339,
    thaw,
)

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_SAFE_INTEGER",
    "EventType",
    "FailureReason",
    "InvalidEvent",
    "TimelineEvent",
    "events_to_ndjson",
    "next_event",
    "parse_event",
    "read_events_ndjson",
]

#: Largest event, as its canonical JSON line without the newline: `next_event` refuses to
#: make a bigger one and `read_events_ndjson` refuses longer lines, so exports re-import.
MAX_EVENT_BYTES = 64 * 1024

_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_FIELDS = (
    "event_id",
    "seq",
    "event_type",
    "tenant",
    "occurred_at",
    "source",
    "correlation_id",
    "attributes",
    "prev_hash",
    "hash",
)


class EventType(StrEnum):
    """Timeline event types (SPEC §7)."""

    RUNTIME_INGESTED = "reach.runtime.ingested"
    RUNTIME_INGEST_FAILED = "runtime.ingest.failed"
    RUNTIME_ORPHANED = "reach.runtime.orphaned"
    RUNTIME_DSSE_ATTACHED = "reach.runtime.dsse.attached"
    GRAPH_INGESTED = "reach.graph.ingested"
    SYMBOLS_MANIFEST_INGESTED = "symbols.manifest.ingested"
    AIRGAP_STALENESS_THRESHOLD = "airgap.staleness.threshold"
    #: A verdict's state changed between two evaluations (SPEC §15).
    VERDICT_CHANGED = "reach.verdict.changed"


class FailureReason(StrEnum):
    """The ``reason`` attribute of ``runtime.ingest.failed`` events (SPEC §7)."""

    SCHEMA_INVALID = "schema_invalid"
    HASH_MISMATCH = "hash_mismatch"
    DSSE_INVALID = "dsse_invalid"
    DSSE_REQUIRED = "dsse_required"
    STALE_TIME_ANCHOR = "stale_time_anchor"
    CLOCK_DRIFT = "clock_drift"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    DECOMPRESSION_FAILED = "decompression_failed"
    ORPHAN_EXPIRED = "orphan_expired"
    #: A request field given twice (header, query parameter, multipart part): never guessed.
    AMBIGUOUS_INPUT = "ambiguous_input"
    #: The client went away before the body ended: nothing was kept.
    CLIENT_DISCONNECTED = "client_disconnected"


class InvalidEvent(InvalidInput):
    """A timeline event is malformed.

    ``field`` is an RFC 6901 JSON pointer into the event without its leading ``/``
    (``seq``, ``attributes/records``), or None for the event as a whole; ``line`` is the
    1-based NDJSON line, when there is one; ``reason`` is a stable code (``wrong_type``,
    ``missing_field``, ``invalid_id``...).
    """

    default_reason = "invalid_event"

    def __init__(
        self, detail: str, *, field: str | None, reason: str, line: int | None = None
    ) -> None:
        where = "".join(
            [f"line {line}: " if line is not None else "", f"{field}: " if field else ""]
        )
        super().__init__(f"timeline event: {where}{detail}", reason=reason)
        self.detail = detail
        self.field = field
        self.line = line


def _freeze(value: Any, path: str) -> Any:
    """A deeply immutable copy of a JSON value (objects → read-only mappings, arrays →
    tuples, integral floats → ints), or `InvalidEvent` if RFC 8785 cannot encode it
    exactly."""
    try:
        return freeze_checked(value, exact=True)
    except NotJsonValue as exc:
        kind = type(exc.value).__name__
        message, reason = {
            JsonValueFault.NOT_FINITE: ("numbers must be finite", "out_of_range"),
            JsonValueFault.BEYOND_SAFE_INTEGER: (
                f"{exc.value!r} is beyond ±(2^53-1)",
                "out_of_range",
            ),
            JsonValueFault.KEY_NOT_TEXT: (f"object keys must be strings, got {kind}", "wrong_type"),
            JsonValueFault.LONE_SURROGATE: ("text holds a lone surrogate", "invalid_string"),
            JsonValueFault.NOT_JSON: (f"{kind} is not a JSON value", "wrong_type"),
        }[exc.fault]
        raise InvalidEvent(message, field=path + json_pointer(*exc.path), reason=reason) from None


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(
            "text holds a lone surrogate", field=path, reason="invalid_string"
        ) from None


def _text(value: object, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        kind = "a string or null" if optional else "a string"
        raise InvalidEvent(f"must be {kind}", field=name, reason="wrong_type")
    if not value:
        raise InvalidEvent("must not be empty", field=name, reason="empty")
    _check_text(value, name)


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One timeline event, well-formed by construction; its hashes are checked elsewhere.

    Build new events with `next_event` and untrusted ones with `parse_event`.
    ``attributes`` is a deeply read-only copy of what was given.
    """

    event_id: str
    seq: int
    event_type: EventType
    tenant: TenantId
    occurred_at: datetime
    source: str
    correlation_id: str | None
    attributes: Mapping[str, Any] = field(repr=False)
    prev_hash: str | None
    hash: str

    def __post_init__(self) -> None:
        try:
            parse_ulid(self.event_id)
        except InvalidInput as exc:
            raise InvalidEvent(exc.message, field="event_id", reason="invalid_id") from None
        if not isinstance(self.seq, int) or isinstance(self.seq, bool):
            raise InvalidEvent("must be an integer", field="seq", reason="wrong_type")
        if not 1 <= self.seq <= MAX_SAFE_INTEGER:
            raise InvalidEvent(
                f"{self.seq} is not between 1 and 2^53-1", field="seq", reason="out_of_range"
            )
        try:
            object.__setattr__(self, "event_type", EventType(self.event_type))
        except ValueError:
            raise InvalidEvent(
                f"unknown event type {self.event_type!r}",
                field="event_type",
                reason="unknown_event_type",
            ) from None
        try:
            object.__setattr__(self, "tenant", parse_tenant(self.tenant))
        except InvalidTenant as exc:
            raise InvalidEvent(exc.message, field="tenant", reason=exc.reason) from None
        object.__setattr__(self, "occurred_at", _utc(self.occurred_at))
        _text(self.source, "source")
        _text(self.correlation_id, "correlation_id", optional=True)
        if not isinstance(self.attributes, Mapping):
            raise InvalidEvent("must be an object", field="attributes", reason="wrong_type")
        object.__setattr__(self, "attributes", _freeze(self.attributes, "attributes"))
        for name, value, optional in (
            ("prev_hash", self.prev_hash, True),
            ("hash", self.hash, False),
        ):
            if value is None and optional:
                continue
            if not isinstance(value, str) or not _HASH.fullmatch(value):
                raise InvalidEvent(
                    f"{value!r} is not sha256:<64 lower-case hex>",
                    field=name,
                    reason="invalid_hash",
                )

    def __hash__(self) -> int:
        return hash((self.tenant, self.seq, self.hash))

    def to_dict(self, *, with_hash: bool = True) -> dict[str, Any]:
        """The event as a JSON object, every field, exactly as hashed and served."""
        result: dict[str, Any] = {
            "event_id": self.event_id,
            "seq": self.seq,
            "event_type": self.event_type.value,
            "tenant": str(self.tenant),
            "occurred_at": format_utc(self.occurred_at),
            "source": self.source,
            "correlation_id": self.correlation_id,
            "attributes": thaw(self.attributes),
            "prev_hash": self.prev_hash,
        }
        if with_hash:
            result["hash"] = self.hash
        return result

    def canonical_bytes(self) -> bytes:
        """RFC 8785 bytes of the whole event, ``hash`` included: one export line."""
        return canonical_json(self.to_dict())

    def computed_hash(self) -> str:
        """``sha256:`` + hex SHA-256 of the RFC 8785 bytes of the event without ``hash``."""
        return _hash_of(canonical_json(self.to_dict(with_hash=False)))


def _hash_of(canonical: bytes) -> str:
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _utc(moment: object) -> datetime:
    if not isinstance(moment, datetime):
        raise InvalidEvent("must be a datetime", field="occurred_at", reason="wrong_type")
    if moment.tzinfo is None:
        raise InvalidEvent("must be timezone-aware", field="occurred_at", reason="invalid_time")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not 1970 <= moment.year <= 9999:
        raise InvalidEvent(
            "must lie in the years 1970-9999", field="occurred_at", reason="out_of_range"
        )
    return moment


def next_event(
    *,
    previous: TimelineEvent | None,
    tenant: str,
    event_type: EventType,
    occurred_at: datetime,
    source: str,
    correlation_id: str | None,
    attributes: Mapping[str, Any],
    event_id: str,
) -> TimelineEvent:
    """The event after ``previous`` (None: the tenant's first event) with seq, prev_hash and
    hash computed. Raises `InvalidEvent` for a malformed field, ``ValueError`` when
    ``previous`` belongs to another tenant or the event would pass `MAX_EVENT_BYTES`."""
    if previous is not None and previous.tenant != tenant:
        raise ValueError(f"previous event belongs to tenant {previous.tenant!r}, not {tenant!r}")
    unhashed = TimelineEvent(
        event_id=event_id,
        seq=1 if previous is None else previous.seq + 1,
        event_type=event_type,
        tenant=TenantId(tenant),
        occurred_at=occurred_at,
        source=source,
        correlation_id=correlation_id,
        attributes=attributes,
        prev_hash=None if previous is None else previous.hash,
        hash=_hash_of(b""),  # placeholder, replaced below
    )
    canonical = canonical_json(unhashed.to_dict(with_hash=False))
    # The export line adds ',"hash":"sha256:<64 hex>"' (80 bytes) to these bytes.
    if len(canonical) + 80 > MAX_EVENT_BYTES:
        raise ValueError(f"event of {len(canonical) + 80} bytes exceeds {MAX_EVENT_BYTES}")
    return replace(unhashed, hash=_hash_of(canonical))


def parse_event(data: bytes | str | Mapping[str, Any]) -> TimelineEvent:
    """An untrusted event (JSON bytes or text, or an already decoded object) →
    `TimelineEvent`, or `InvalidEvent` naming the field and reason. The ``hash`` is kept as
    given: `check_chain` verifies it."""
    return _parse(data, line=None)


def _parse(data: bytes | str | Mapping[str, Any], *, line: int | None) -> TimelineEvent:
    try:
        return _from_object(_decode(data) if isinstance(data, bytes | str) else data)
    except InvalidEvent as exc:
        if line is None:
            raise
        raise InvalidEvent(exc.detail, field=exc.field, reason=exc.reason, line=line) from None


def _decode(data: bytes | str) -> Any:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            f"invalid UTF-8 at byte {exc.start + 1}", field=None, reason="invalid_utf8"
        ) from None
    try:
        return loads_strict(text)
    except DuplicateKeyError as exc:
        raise InvalidEvent(
            f"key {exc.key!r} appears twice", field=None, reason="duplicate_key"
        ) from None
    except ValueError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}", field=None, reason="invalid_json") from None


def _from_object(obj: object) -> TimelineEvent:
    if not isinstance(obj, Mapping):
        raise InvalidEvent(
            f"expected a JSON object, got {type(obj).__name__}", field=None, reason="wrong_type"
        )
    unknown = sorted(str(key) for key in obj if key not in _FIELDS)
    if unknown:
        raise InvalidEvent("unknown field", field=unknown[0], reason="unknown_field")
    for name in _FIELDS:
        if name not in obj:
            raise InvalidEvent("required field is absent", field=name, reason="missing_field")
    for name in ("event_id", "event_type", "tenant", "occurred_at"):
        if not isinstance(obj[name], str):
            raise InvalidEvent("must be a string", field=name, reason="wrong_type")
    return TimelineEvent(
        event_id=obj["event_id"],
        seq=obj["seq"],
        event_type=obj["event_type"],
        tenant=obj["tenant"],
        occurred_at=_parse_time(obj["occurred_at"]),
        source=obj["source"],
        correlation_id=obj["correlation_id"],
        attributes=obj["attributes"],
        prev_hash=obj["prev_hash"],
        hash=obj["hash"],
    )


def _parse_time(text: str) -> datetime:
    """Only the form `format_utc` writes is accepted: any other spelling of the same instant
    would change the hashed bytes."""
    moment = parse_rfc3339(text, Rfc3339.CANONICAL)
    if moment is None:
        raise InvalidEvent(
            f"{text[:40]!r} is not RFC 3339 UTC as written by the service "
            "(YYYY-MM-DDTHH:MM:SS[.ffffff]Z, fraction only when non-zero)",
            field="occurred_at",
            reason="invalid_time",
        )
    return moment


def read_events_ndjson(
    lines: Iterable[bytes], *, max_line_bytes: int = MAX_EVENT_BYTES
) -> Iterator[TimelineEvent]:
    """Events of a ``/timeline/export`` file, lazily, one per non-blank line; `InvalidEvent`
    (with the 1-based ``line``) at the first malformed or over-long line."""
    for number, raw in enumerate(lines, start=1):
        line = raw[:-1] if raw.endswith(b"\n") else raw
        line = line[:-1] if line.endswith(b"\r") else line
        if len(line) > max_line_bytes:
            raise InvalidEvent(
                f"line of {len(line)} bytes exceeds {max_line_bytes}",
                field=None,
                reason="line_too_long",
                line=number,
            )
        if not line.strip(b" \t\r\n"):
            continue
        yield _parse(line, line=number)


def events_to_ndjson(events: Iterable[TimelineEvent]) -> Iterator[bytes]:
    """One RFC 8785 JSON object per event, each ending in ``\\n``: the export format."""
    for event in events:
        yield event.canonical_bytes() + b"\n"
