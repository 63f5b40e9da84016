"""Signed time anchors (SPEC §11 mode ``anchor``): mint, check (report), verify (raise).

An anchor is a DSSE envelope, payload type `ANCHOR_PAYLOAD_TYPE`, whose payload is the
RFC 8785 JSON of exactly ``{anchor_time, source, format, token_digest, counter,
valid_for_seconds}``. One trusted time key must sign it (the envelope's keyid is only a hint)
and its counter must be greater than the last one accepted, so an old anchor cannot be
replayed to rewind time. The envelope bytes are kept and hashed as received; the payload is
never re-serialised, only compared with its canonical form.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import InitVar, dataclass, field
from datetime import datetime
from typing import Any, Literal

from stella_signals.attest import (
    EnvelopeReport,
    InvalidEnvelope,
    PublicKey,
    Signer,
    check_envelope,
    parse_envelope,
    sign_envelope,
)
from stella_signals.canonical import canonical_json
from stella_signals.clock import format_utc
from stella_signals.errors import CheckFailed
from stella_signals.limits import require_count
from stella_signals.strictjson import loads_strict
from stella_signals.wire import MAX_SAFE_INTEGER, Rfc3339, parse_rfc3339

#: DSSE payload type of a time anchor.
ANCHOR_PAYLOAD_TYPE = "application/vnd.stella.time-anchor+json"
#: ``format`` of an anchor whose time the authority asserts itself.
ANCHOR_FORMAT = "stella-time-anchor/v1"
#: ``format`` of an anchor re-stating an RFC 3161 timestamp token (``token_digest`` required).
RFC3161_FORMAT = "rfc3161"
#: Largest anchor envelope accepted; a real one is well under 2 KiB.
MAX_ANCHOR_BYTES = 64 * 1024

AnchorReason = Literal["anchor_invalid", "replayed_anchor"]

_FIELDS = frozenset(
    {"anchor_time", "source", "format", "token_digest", "counter", "valid_for_seconds"}
)
_MAX_SOURCE = 256
_FORMAT = re.compile(r"[a-z0-9][a-z0-9./+-]{0,63}")
_TOKEN_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class AnchorInvalid(CheckFailed["AnchorReport"], reason="anchor_invalid"):
    """A time anchor was refused; ``report`` says why."""


class ReplayedAnchor(AnchorInvalid):
    """A validly signed anchor whose counter is not above the last accepted one."""

    default_reason = "replayed_anchor"


class AnchorTimeRefused(AnchorInvalid):
    """A validly signed, newer anchor whose time cannot be right: dated ahead of the local
    clock (``anchor_in_future``), or older than the anchor it would replace
    (``anchor_time_regressed``). Refused at import, like a stale anchor (exit 5)."""

    default_reason = "anchor_time_invalid"


class _PayloadError(Exception):
    """The payload breaks the anchor schema (internal; becomes a report or ValueError)."""


@dataclass(frozen=True, slots=True)
class AnchorClaims:
    """What an anchor payload states; trustworthy only once verified."""

    anchor_time: datetime
    source: str
    format: str
    token_digest: str | None
    counter: int
    valid_for_seconds: int

    def to_dict(self) -> dict[str, Any]:
        """The payload members, as JSON data."""
        return {
            "anchor_time": format_utc(self.anchor_time),
            "source": self.source,
            "format": self.format,
            "token_digest": self.token_digest,
            "counter": self.counter,
            "valid_for_seconds": self.valid_for_seconds,
        }


@dataclass(frozen=True, slots=True)
class AnchorReport:
    """What `check_anchor` found; ``ok`` only when every check passed.

    ``claims`` is the payload as parsed even when the signature failed, so an operator can see
    what it claims; it is trustworthy only when ``claims_verified``.
    """

    ok: bool
    reason: AnchorReason | None
    message: str
    #: ``sha256:<hex>`` of the exact bytes given to `check_anchor`.
    anchor_sha256: str
    #: None when the bytes are not a DSSE envelope (see ``envelope_error``).
    envelope: EnvelopeReport | None
    envelope_error: str | None
    claims: AnchorClaims | None
    payload_error: str | None
    last_counter: int | None

    @property
    def claims_verified(self) -> bool:
        """The claims come from a payload a trusted time key signed."""
        return self.envelope is not None and self.envelope.ok and self.claims is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, for the timeline and for operators."""
        return {
            "ok": self.ok,
            "reason": self.reason,
            "message": self.message,
            "anchor_sha256": self.anchor_sha256,
            "envelope": None if self.envelope is None else self.envelope.to_dict(),
            "envelope_error": self.envelope_error,
            "claims_verified": self.claims_verified,
            "claims": None if self.claims is None else self.claims.to_dict(),
            "payload_error": self.payload_error,
            "last_counter": self.last_counter,
        }


_TOKEN = object()


@dataclass(frozen=True, slots=True)
class VerifiedAnchor:
    """An anchor a trusted time key signed, newer than the last one accepted.

    Only `verify_anchor` makes these. ``envelope`` holds the exact bytes received: store
    those, never a re-serialisation.
    """

    claims: AnchorClaims
    envelope: bytes = field(repr=False)
    anchor_sha256: str
    keyids: tuple[str, ...]
    report: AnchorReport = field(repr=False)
    _token: InitVar[object]

    def __post_init__(self, _token: object) -> None:
        if _token is not _TOKEN:
            raise TypeError("VerifiedAnchor is made only by verify_anchor()")

    @property
    def anchor_time(self) -> datetime:
        return self.claims.anchor_time

    @property
    def counter(self) -> int:
        return self.claims.counter

    @property
    def source(self) -> str:
        return self.claims.source

    @property
    def valid_for_seconds(self) -> int:
        return self.claims.valid_for_seconds


def mint_anchor(
    *,
    anchor_time: datetime,
    source: str,
    counter: int,
    valid_for_seconds: int,
    signer: Signer,
    format: str = ANCHOR_FORMAT,
    token_digest: str | None = None,
) -> bytes:
    """A signed anchor envelope as JSON bytes; `ValueError` for claims `check_anchor` refuses.

    ``anchor_time`` must be timezone-aware; it is written in UTC.
    """
    if anchor_time.tzinfo is None:
        raise ValueError("anchor_time must be timezone-aware")
    document = {
        "anchor_time": format_utc(anchor_time),
        "source": source,
        "format": format,
        "token_digest": token_digest,
        "counter": counter,
        "valid_for_seconds": valid_for_seconds,
    }
    try:
        payload = canonical_json(document)
        _parse_payload(payload)
    except _PayloadError as exc:
        raise ValueError(f"refusing to mint an invalid anchor: {exc}") from None
    return sign_envelope(payload, ANCHOR_PAYLOAD_TYPE, [signer]).to_json()


def check_anchor(
    data: bytes, *, trusted: Sequence[PublicKey], last_counter: int | None
) -> AnchorReport:
    """Check anchor envelope bytes against the trusted time keys; never raises for a bad one.

    ``last_counter`` is the counter of the last anchor accepted (None: none yet); this
    anchor's counter must be greater, else the reason is ``replayed_anchor``. Every other
    failure (size, envelope, signature, payload type, payload schema) is ``anchor_invalid``.
    """
    if last_counter is not None:
        require_count(last_counter, "last_counter", allow_zero=True)
    anchor_sha256 = "sha256:" + hashlib.sha256(data).hexdigest()
    if len(data) > MAX_ANCHOR_BYTES:
        text = f"anchor is {len(data)} bytes, at most {MAX_ANCHOR_BYTES} accepted"
        return _unreadable(text, text, anchor_sha256, last_counter)
    try:
        envelope = parse_envelope(data)
    except InvalidEnvelope as exc:
        return _unreadable(f"not a DSSE envelope: {exc}", str(exc), anchor_sha256, last_counter)
    envelope_report = check_envelope(envelope, trusted=trusted, payload_type=ANCHOR_PAYLOAD_TYPE)
    claims: AnchorClaims | None = None
    payload_error: str | None = None
    try:
        claims = _parse_payload(envelope.payload)
    except _PayloadError as exc:
        payload_error = str(exc)

    reason: AnchorReason | None = "anchor_invalid"
    if not envelope_report.ok:
        message = f"time anchor signature rejected: {envelope_report.message}"
    elif claims is None:
        message = f"time anchor payload is invalid: {payload_error}"
    elif last_counter is not None and claims.counter <= last_counter:
        reason = "replayed_anchor"
        message = (
            f"time anchor counter {claims.counter} is not above the last accepted "
            f"counter {last_counter}"
        )
    else:
        reason = None
        message = (
            f"time anchor {format_utc(claims.anchor_time)} (counter {claims.counter}) "
            f"signed by {', '.join(envelope_report.keyids)}"
        )
    return AnchorReport(
        ok=reason is None,
        reason=reason,
        message=message,
        anchor_sha256=anchor_sha256,
        envelope=envelope_report,
        envelope_error=None,
        claims=claims,
        payload_error=payload_error,
        last_counter=last_counter,
    )


def verify_anchor(
    data: bytes, *, trusted: Sequence[PublicKey], last_counter: int | None
) -> VerifiedAnchor:
    """`check_anchor`, then the verified anchor, or `ReplayedAnchor` / `AnchorInvalid`
    carrying the report."""
    report = check_anchor(data, trusted=trusted, last_counter=last_counter)
    if report.reason == "replayed_anchor":
        raise ReplayedAnchor(f"time anchor replayed: {report.message}", report=report)
    if not report.ok or report.claims is None or report.envelope is None:
        raise AnchorInvalid(f"time anchor rejected: {report.message}", report=report)
    return VerifiedAnchor(
        report.claims, data, report.anchor_sha256, report.envelope.keyids, report, _TOKEN
    )


def _unreadable(
    message: str, envelope_error: str, anchor_sha256: str, last_counter: int | None
) -> AnchorReport:
    return AnchorReport(
        ok=False,
        reason="anchor_invalid",
        message=message,
        anchor_sha256=anchor_sha256,
        envelope=None,
        envelope_error=envelope_error,
        claims=None,
        payload_error=None,
        last_counter=last_counter,
    )


def _parse_payload(payload: bytes) -> AnchorClaims:
    """Parse the payload: strict JSON (no duplicate members) of exactly the six members, in
    any order and spacing (we mint canonical RFC 8785 bytes; an authority need not)."""
    try:
        document = loads_strict(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _PayloadError(f"not UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _PayloadError("must be a JSON object")
    missing = sorted(_FIELDS - document.keys())
    if missing:
        raise _PayloadError(f"missing member(s): {', '.join(missing)}")
    extra = sorted(document.keys() - _FIELDS)
    if extra:
        raise _PayloadError(f"unknown member(s): {', '.join(extra)}")

    anchor_time = _anchor_time(document["anchor_time"])
    source = document["source"]
    if not isinstance(source, str) or not 0 < len(source) <= _MAX_SOURCE:
        raise _PayloadError(f"source: must be a string of 1 to {_MAX_SOURCE} characters")
    if not source.isprintable():
        raise _PayloadError("source: must not hold control characters")
    anchor_format = document["format"]
    if not isinstance(anchor_format, str) or not _FORMAT.fullmatch(anchor_format):
        raise _PayloadError(f"format: must match {_FORMAT.pattern}, got {anchor_format!r}")
    token_digest = document["token_digest"]
    if token_digest is not None and (
        not isinstance(token_digest, str) or not _TOKEN_DIGEST.fullmatch(token_digest)
    ):
        raise _PayloadError(f"token_digest: must be null or sha256:<64 hex>, got {token_digest!r}")
    if anchor_format == RFC3161_FORMAT and token_digest is None:
        raise _PayloadError("token_digest: required when format is rfc3161")
    counter = _integer(document["counter"], "counter", minimum=1)
    valid_for = _integer(document["valid_for_seconds"], "valid_for_seconds", minimum=1)
    return AnchorClaims(anchor_time, source, anchor_format, token_digest, counter, valid_for)


def _anchor_time(value: object) -> datetime:
    moment = parse_rfc3339(value, Rfc3339.UPPER_MICROS) if isinstance(value, str) else None
    if moment is None:
        raise _PayloadError(
            "anchor_time: must be RFC 3339 with Z or an offset "
            f"(YYYY-MM-DDTHH:MM:SS[.ffffff]Z), got {value!r}"
        )
    return moment


def _integer(value: object, name: str, *, minimum: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not minimum <= value <= MAX_SAFE_INTEGER
    ):
        raise _PayloadError(
            f"{name}: must be an integer from {minimum} to {MAX_SAFE_INTEGER}, got {value!r}"
        )
    return value
