"""DSSE v1 envelopes: pre-authentication encoding, the frozen model, parsing and JSON.

The payload is kept as the exact decoded bytes and is never re-serialised: signatures cover
``PAE(payloadType, payload)`` of those bytes (secure-systems-lab/dsse ``protocol.md``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from stella_signals.attest._members import InvalidMember, member
from stella_signals.canonical import canonical_json
from stella_signals.strictjson import loads_strict
from stella_signals.wire import json_type

__all__ = [
    "MAX_SIGNATURES",
    "Envelope",
    "EnvelopeSignature",
    "InvalidEnvelope",
    "pae",
    "parse_envelope",
]

#: Most signatures accepted in one envelope: each one costs a verification per trusted key.
MAX_SIGNATURES = 16

_STD_ALPHABET = re.compile(r"[A-Za-z0-9+/]*")
_URL_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_URL_TO_STD = str.maketrans("-_", "+/")


class InvalidEnvelope(InvalidMember):
    """A DSSE envelope is malformed; ``field`` names the member at fault (``signatures[1].sig``)."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 pre-authentication encoding; lengths are ASCII decimal counts of bytes."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True, slots=True)
class EnvelopeSignature:
    """One signature: ``keyid`` is an unauthenticated hint ("" when absent), ``sig`` raw bytes."""

    keyid: str
    sig: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.keyid, str) or not isinstance(self.sig, bytes):
            raise TypeError("EnvelopeSignature needs keyid: str and sig: bytes")
        _require_utf8(self.keyid, "keyid")


@dataclass(frozen=True, slots=True)
class Envelope:
    """A DSSE envelope holding the exact payload bytes and at least one signature."""

    payload: bytes
    payload_type: str
    signatures: tuple[EnvelopeSignature, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.payload, bytes) or not isinstance(self.payload_type, str):
            raise TypeError("Envelope needs payload: bytes and payload_type: str")
        if not isinstance(self.signatures, tuple) or not all(
            isinstance(s, EnvelopeSignature) for s in self.signatures
        ):
            raise TypeError("Envelope.signatures must be a tuple of EnvelopeSignature")
        _require_utf8(self.payload_type, "payloadType")
        if not self.signatures:
            raise InvalidEnvelope(
                "signatures: at least one signature is required", field="signatures"
            )

    def pae(self) -> bytes:
        """The bytes every signature of this envelope must cover."""
        return pae(self.payload_type, self.payload)

    def to_json(self) -> bytes:
        """Canonical JSON (RFC 8785: sorted keys, no spaces) with standard, padded base64."""
        return canonical_json(
            {
                "payload": _b64encode(self.payload),
                "payloadType": self.payload_type,
                "signatures": [
                    {"keyid": s.keyid, "sig": _b64encode(s.sig)} for s in self.signatures
                ],
            }
        )


def parse_envelope(data: bytes, *, max_signatures: int = MAX_SIGNATURES) -> Envelope:
    """Parse an untrusted envelope; raise `InvalidEnvelope` naming the field at fault.

    JSON is strict (no duplicate keys); ``payload`` and ``sig`` may use the standard or the
    URL-safe base64 alphabet, padded or not, but must be canonical. Unknown members are
    ignored, as the DSSE envelope spec requires; a missing ``keyid`` reads as ``""``.
    """
    try:
        document = loads_strict(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEnvelope(f"envelope is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidEnvelope(f"envelope must be a JSON object, got {json_type(document)}")
    payload = _b64decode(member(document, "payload", "", InvalidEnvelope), "payload")
    payload_type = _text(member(document, "payloadType", "", InvalidEnvelope), "payloadType")
    raw_signatures = member(document, "signatures", "", InvalidEnvelope)
    if not isinstance(raw_signatures, list):
        raise InvalidEnvelope(
            f"signatures: must be an array, got {json_type(raw_signatures)}", field="signatures"
        )
    if not raw_signatures:
        raise InvalidEnvelope("signatures: at least one signature is required", field="signatures")
    if len(raw_signatures) > max_signatures:
        raise InvalidEnvelope(
            f"signatures: {len(raw_signatures)} signatures, at most {max_signatures} accepted",
            field="signatures",
        )
    signatures = tuple(
        _parse_signature(item, f"signatures[{i}]") for i, item in enumerate(raw_signatures)
    )
    return Envelope(payload=payload, payload_type=payload_type, signatures=signatures)


def _parse_signature(item: object, where: str) -> EnvelopeSignature:
    if not isinstance(item, dict):
        raise InvalidEnvelope(f"{where}: must be an object, got {json_type(item)}", field=where)
    sig = _b64decode(member(item, "sig", where, InvalidEnvelope), f"{where}.sig")
    keyid = _text(item.get("keyid", ""), f"{where}.keyid")
    return EnvelopeSignature(keyid=keyid, sig=sig)


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidEnvelope(f"{field}: must be a string, got {json_type(value)}", field=field)
    _require_utf8(value, field)
    return value


def _require_utf8(value: str, field: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEnvelope(f"{field}: holds a lone surrogate", field=field) from None


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(value: object, field: str) -> bytes:
    """Decode canonical base64 in either alphabet, padding optional (DSSE lets signers choose)."""
    if not isinstance(value, str):
        raise InvalidEnvelope(
            f"{field}: must be a base64 string, got {json_type(value)}", field=field
        )
    body = value.rstrip("=")
    padding = len(value) - len(body)
    if (padding and (padding > 2 or len(value) % 4)) or len(body) % 4 == 1:
        raise InvalidEnvelope(f"{field}: base64 has a wrong length or padding", field=field)
    if _URL_ALPHABET.fullmatch(body) and not _STD_ALPHABET.fullmatch(body):
        body = body.translate(_URL_TO_STD)
    elif not _STD_ALPHABET.fullmatch(body):
        raise InvalidEnvelope(
            f"{field}: not base64 (standard or URL-safe alphabet, not mixed)", field=field
        )
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error:  # pragma: no cover - the checks above leave nothing for this
        raise InvalidEnvelope(f"{field}: not base64", field=field) from None
    if base64.b64encode(raw).decode("ascii").rstrip("=") != body:
        raise InvalidEnvelope(f"{field}: non-canonical base64 (stray trailing bits)", field=field)
    return raw
